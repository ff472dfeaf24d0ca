package validator

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"codeberg.org/miekg/dns"
)

// Reply is what a Fetcher returns for one question: the sections of the final reply, with their
// RRSIG, NSEC and NSEC3 records.
type Reply struct {
	Rcode  uint16
	Answer []dns.RR
	Ns     []dns.RR
}

// Fetcher resolves a question with DNSSEC records (DO=1, CD=1) for the chain walk; the resolver
// and the forwarder each provide one.
type Fetcher interface {
	Fetch(ctx context.Context, name string, qtype uint16) (Reply, error)
}

// Chain walks chains of trust from its anchors down to zones and remembers what it learned about
// each name: a secure zone cut with its keys, a name that is no cut, an insecure delegation, or a
// bogus link (briefly). It is safe for concurrent use.
type Chain struct {
	opts Options
	// anchors can be replaced while queries run (RFC 5011 updates): SetAnchors.
	anchors atomic.Pointer[Anchors]
	fetch   Fetcher
	// BogusTTL is how long a bogus link is remembered before it is fetched again, Unbound's
	// val-bogus-ttl (60 s).
	bogusTTL time.Duration

	mu    sync.Mutex
	links map[string]link
	memo  *sigMemo
	nsecs *nsecStore
}

// maxLinks bounds the names remembered; past it the table starts afresh, as names under an
// attacker's control would otherwise grow it without end.
const maxLinks = 20000

// DefaultBogusTTL is Unbound's val-bogus-ttl.
const DefaultBogusTTL = 60 * time.Second

// minLinkTTL keeps a link whose records came with a TTL of 0 for a moment, so that one answer
// does not fetch the same keys for every RRset in it.
const minLinkTTL = 5 * time.Second

type linkKind uint8

const (
	linkCut      linkKind = iota // a secure zone cut: keys hold its DNSKEYs
	linkNotCut                   // the name is inside its parent's zone
	linkInsecure                 // the chain ends here: the zone below is unsigned or unverifiable
	linkBogus
)

type link struct {
	kind    linkKind
	keys    []*dns.DNSKEY
	result  Result
	expires time.Time
}

// NewChain returns a Chain over anchors that fetches what it lacks through fetch.
func NewChain(opts Options, anchors *Anchors, fetch Fetcher) *Chain {
	c := &Chain{opts: opts, fetch: fetch, bogusTTL: DefaultBogusTTL, links: map[string]link{}, memo: newSigMemo(), nsecs: newNSECStore()}
	c.anchors.Store(anchors)
	return c
}

// SetAnchors puts other trust anchors in force; what was learned from the old ones is
// forgotten, as it may rest on a key no longer trusted.
func (c *Chain) SetAnchors(a *Anchors) {
	c.mu.Lock()
	c.anchors.Store(a)
	clear(c.links)
	c.mu.Unlock()
}

// Anchors returns the trust anchors in force.
func (c *Chain) Anchors() *Anchors { return c.anchors.Load() }

// Options returns the options the chain validates with.
func (c *Chain) Options() Options { return c.opts }

// Keys walks from the closest trust anchor above name down to name, one label at a time, and
// returns the deepest secure zone at or above name with its trusted keys. The result is Insecure
// when an insecure delegation ends the chain on the way, Bogus when a link fails, Indeterminate
// when no anchor covers name.
func (c *Chain) Keys(ctx context.Context, name string) (Result, string, []*dns.DNSKEY) {
	return c.walk(ctx, name, true)
}

// cachedKeys is Keys without fetching: a link not yet learned, or expired, ends the walk as
// Indeterminate. Hold-On asks it while a UDP exchange waits, where a fetch has no place.
func (c *Chain) cachedKeys(name string) (Result, string, []*dns.DNSKEY) {
	return c.walk(context.Background(), name, false)
}

// walk is Keys; fetch says whether a link not known may be fetched.
func (c *Chain) walk(ctx context.Context, name string, fetch bool) (Result, string, []*dns.DNSKEY) {
	name = strings.ToLower(name)
	if nta, ok := c.opts.Negative.Covers(name, c.opts.now()); ok {
		return insecure(0, "negative trust anchor %s until %s", nta.Domain, nta.Expiry.UTC().Format(time.RFC3339)), nta.Domain, nil
	}
	a := c.anchors.Load().Closest(name)
	if a == nil {
		return Result{State: Indeterminate}, "", nil
	}
	top, ok := c.linkFor(ctx, a.Zone, fetch, func() link { return c.anchorLink(ctx, a) })
	if !ok {
		return notLearned(a.Zone), a.Zone, nil
	}
	switch top.kind {
	case linkInsecure:
		return top.result, a.Zone, nil
	case linkBogus:
		return top.result, a.Zone, nil
	}
	zone, keys := a.Zone, top.keys
	for _, n := range ancestorsBelow(a.Zone, name) {
		parentZone, parentKeys := zone, keys
		l, ok := c.linkFor(ctx, n, fetch, func() link { return c.childLink(ctx, parentZone, parentKeys, n) })
		if !ok {
			return notLearned(n), n, nil
		}
		switch l.kind {
		case linkCut:
			zone, keys = n, l.keys
		case linkNotCut:
		default:
			return l.result, n, nil
		}
	}
	return secure, zone, keys
}

// notLearned is the result of a walk without fetching that met a name it knows nothing of yet.
func notLearned(name string) Result {
	return Result{State: Indeterminate, Why: "nothing learned yet of " + name}
}

// linkFor returns the link of name, learned before or made now; without fetch, a link not
// known (or expired) is not made, and ok is false.
func (c *Chain) linkFor(ctx context.Context, name string, fetch bool, make func() link) (l link, ok bool) {
	now := c.opts.now()
	c.mu.Lock()
	l, ok = c.links[name]
	c.mu.Unlock()
	if ok && now.Before(l.expires) {
		return l, true
	}
	if !fetch {
		return link{}, false
	}
	l = make()
	if ctx.Err() != nil {
		return l, true // a walk cut short by its deadline proves nothing: keep nothing
	}
	c.mu.Lock()
	if len(c.links) >= maxLinks {
		clear(c.links)
	}
	c.links[name] = l
	c.mu.Unlock()
	return l, true
}

// anchorLink fetches the anchor zone's DNSKEY RRset and checks it against the anchor.
func (c *Chain) anchorLink(ctx context.Context, a *Anchor) link {
	r, err := c.fetch.Fetch(ctx, a.Zone, dns.TypeDNSKEY)
	if err != nil {
		return c.bogusLink(bogus(EDEDNSKEYMissing, "fetch the DNSKEY RRset of %s: %v", a.Zone, err))
	}
	keys, sigs := dnskeysOf(r.Answer, a.Zone)
	res, trusted := c.opts.TrustKeys(a.Zone, keys, sigs, a.DS, a.Keys)
	return c.keysLink(res, trusted, r.Answer)
}

// childLink finds out what name is below the secure zone parent: it asks for the DS RRset of
// name and reads the answer, or the proof that there is none, with the parent's keys.
func (c *Chain) childLink(ctx context.Context, parent string, parentKeys []*dns.DNSKEY, name string) link {
	r, err := c.fetch.Fetch(ctx, name, dns.TypeDS)
	if err != nil {
		return c.bogusLink(bogus(EDEBogus, "fetch the DS RRset of %s: %v", name, err))
	}
	ds, dsRRs, sigs := dsOf(r.Answer, name)
	if len(ds) > 0 {
		v := c.verify(dsRRs, sigs, parentKeys)
		if v.State != Secure {
			v.Why = "DS of " + name + ": " + v.Why
			return c.bogusLink(v.Result)
		}
		kr, err := c.fetch.Fetch(ctx, name, dns.TypeDNSKEY)
		if err != nil {
			return c.bogusLink(bogus(EDEDNSKEYMissing, "fetch the DNSKEY RRset of %s: %v", name, err))
		}
		keys, ksigs := dnskeysOf(kr.Answer, name)
		res, trusted := c.opts.TrustKeys(name, keys, ksigs, ds, nil)
		return c.keysLink(res, trusted, append(kr.Answer, dsRRs...))
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		return c.bogusLink(bogus(EDEBogus, "DS query for %s: rcode %d", name, r.Rcode))
	}
	d, res := c.verifiedDenial(parent, parentKeys, r.Ns)
	if res.State != Secure {
		res.Why = "no DS at " + name + ": " + res.Why
		return c.bogusLink(res)
	}
	kind, res := c.opts.NoDS(d, name)
	ttl := minTTL(r.Ns)
	switch {
	case res.State == Bogus:
		return c.bogusLink(res)
	case kind == Unsigned:
		if res.State == Secure {
			res = insecure(0, "%s is an unsigned delegation", name)
		}
		return link{kind: linkInsecure, result: res, expires: c.expiry(ttl)}
	}
	return link{kind: linkNotCut, result: secure, expires: c.expiry(ttl)}
}

func (c *Chain) keysLink(res Result, trusted []*dns.DNSKEY, rrs []dns.RR) link {
	switch res.State {
	case Secure:
		return link{kind: linkCut, keys: trusted, result: res, expires: c.expiry(minTTL(rrs))}
	case Insecure:
		return link{kind: linkInsecure, result: res, expires: c.expiry(minTTL(rrs))}
	}
	return c.bogusLink(res)
}

func (c *Chain) bogusLink(r Result) link {
	if r.State != Bogus {
		r.State = Bogus
	}
	return link{kind: linkBogus, result: r, expires: c.opts.now().Add(c.bogusTTL)}
}

func (c *Chain) expiry(ttl uint32) time.Time {
	return c.opts.now().Add(max(time.Duration(ttl)*time.Second, minLinkTTL))
}

// verifiedDenial checks the signatures of the NSEC and NSEC3 RRsets in ns with the keys of zone
// and returns them; any one that fails makes the whole proof fail.
func (c *Chain) verifiedDenial(zone string, keys []*dns.DNSKEY, ns []dns.RR) (Denial, Result) {
	d := Denial{Zone: zone}
	sets := rrsets(ns)
	if n := countDenialSets(sets, zone); n > maxDenialSets {
		// Each costs a signature check: a reply stuffed with them is not worth the CPU.
		return d, bogus(EDEBogus, "%d NSEC and NSEC3 RRsets from %s, more than %d", n, zone, maxDenialSets)
	}
	for _, s := range sets {
		switch s.typ {
		case dns.TypeNSEC, dns.TypeNSEC3:
		default:
			continue
		}
		if !isBelow(zone, s.owner) || len(s.rrs) == 0 {
			continue
		}
		v := c.verify(s.rrs, s.sigs, keys)
		if v.State != Secure {
			return d, v.Result
		}
		for _, rr := range s.rrs {
			switch x := rr.(type) {
			case *dns.NSEC:
				d.NSEC = append(d.NSEC, x)
			case *dns.NSEC3:
				d.NSEC3 = append(d.NSEC3, x)
			}
		}
	}
	if len(d.NSEC) == 0 && len(d.NSEC3) == 0 {
		return d, bogus(EDENSECMissing, "no signed NSEC or NSEC3 records from %s", zone)
	}
	return d, secure
}

// maxDenialSets bounds the NSEC and NSEC3 RRsets checked for one proof; a proof needs at most
// three (RFC 5155 §7.2.2), a wildcard NODATA with NSEC3 four.
const maxDenialSets = 8

func countDenialSets(sets []rrset, zone string) int {
	n := 0
	for _, s := range sets {
		if (s.typ == dns.TypeNSEC || s.typ == dns.TypeNSEC3) && isBelow(zone, s.owner) {
			n++
		}
	}
	return n
}

func dnskeysOf(rrs []dns.RR, zone string) ([]*dns.DNSKEY, []*dns.RRSIG) {
	var keys []*dns.DNSKEY
	var sigs []*dns.RRSIG
	for _, rr := range rrs {
		if !sameName(rr.Header().Name, zone) {
			continue
		}
		switch x := rr.(type) {
		case *dns.DNSKEY:
			keys = append(keys, x)
		case *dns.RRSIG:
			if x.TypeCovered == dns.TypeDNSKEY {
				sigs = append(sigs, x)
			}
		}
	}
	return keys, sigs
}

func dsOf(rrs []dns.RR, name string) ([]*dns.DS, []dns.RR, []*dns.RRSIG) {
	var ds []*dns.DS
	var set []dns.RR
	var sigs []*dns.RRSIG
	for _, rr := range rrs {
		if !sameName(rr.Header().Name, name) {
			continue
		}
		switch x := rr.(type) {
		case *dns.DS:
			ds, set = append(ds, x), append(set, x)
		case *dns.RRSIG:
			if x.TypeCovered == dns.TypeDS {
				sigs = append(sigs, x)
			}
		}
	}
	return ds, set, sigs
}

func minTTL(rrs []dns.RR) uint32 {
	var ttl uint32
	for i, rr := range rrs {
		if i == 0 || rr.Header().TTL < ttl {
			ttl = rr.Header().TTL
		}
	}
	return ttl
}

// rrset is one RRset of a section with the signatures that cover it.
type rrset struct {
	owner string
	typ   uint16
	rrs   []dns.RR
	sigs  []*dns.RRSIG
}

// rrsets groups a section's records by owner and type, in the order they first appear, with
// their RRSIGs.
func rrsets(section []dns.RR) []rrset {
	var out []rrset
	find := func(owner string, typ uint16) int {
		for i := range out {
			if out[i].typ == typ && sameName(out[i].owner, owner) {
				return i
			}
		}
		out = append(out, rrset{owner: strings.ToLower(owner), typ: typ})
		return len(out) - 1
	}
	for _, rr := range section {
		if sig, ok := rr.(*dns.RRSIG); ok {
			i := find(sig.Hdr.Name, sig.TypeCovered)
			out[i].sigs = append(out[i].sigs, sig)
			continue
		}
		i := find(rr.Header().Name, dns.RRToType(rr))
		out[i].rrs = append(out[i].rrs, rr)
	}
	return out
}

// DNSKEYs returns the DNSKEY records of zone in rrs and the RRSIGs that cover them.
func DNSKEYs(rrs []dns.RR, zone string) ([]*dns.DNSKEY, []*dns.RRSIG) { return dnskeysOf(rrs, zone) }
