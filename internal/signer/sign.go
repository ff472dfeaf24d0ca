package signer

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/rdata"

	"warden/internal/zone"
)

// Signed is one signed version of a zone, with what signing the next version needs.
type Signed struct {
	Zone     *zone.Zone // the signed zone: what is served and transferred
	Unsigned *zone.Zone // the version it was signed from
	Keys     *KeySet
	Policy   Policy
	// Expires is when the first of its signatures expires.
	Expires time.Time
	// RefreshAt is when signatures must be replaced: the refresh window before Expires.
	RefreshAt time.Time
	chain     chain
}

// job is one signing run: the keys and times every signature of it shares.
type job struct {
	origin   string
	policy   Policy
	keys     *KeySet
	now      time.Time
	incept   uint32
	expire   uint32
	zsks     []*Key // sign the zone's RRsets
	ksks     []*Key // sign the apex key sets
	nsecTTL  uint32
	dnskeyTL uint32
}

// minTime refuses to sign with a clock before this: a clock that far off (an unset real-time
// clock reads 1970) would make signatures that no validator accepts.
var minTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func newJob(u *zone.Zone, keys *KeySet, p Policy, now time.Time) (*job, error) {
	if now.Before(minTime) {
		return nil, fmt.Errorf("zone %s: the clock reads %s, before %s: not signing with a clock that far off", u.Origin, now.UTC().Format(time.RFC3339), minTime.Format("2006"))
	}
	for _, k := range keys.Keys {
		if k.Timing.Created.Sub(now) > 24*time.Hour {
			return nil, fmt.Errorf("zone %s: key %d was created %s, more than a day after the clock's %s: not signing with a clock that far off", u.Origin, k.Tag(), k.Timing.Created.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	j := &job{origin: u.Origin, policy: p, keys: keys, now: now,
		incept: uint32(now.Add(-InceptionOffset).Unix()), expire: uint32(now.Add(p.RRSIGLifetime).Unix()),
		zsks: keys.signers(now, false), ksks: keys.signers(now, true),
		nsecTTL: u.NegativeTTL(), dnskeyTL: p.DNSKEYTTL}
	if j.dnskeyTL == 0 {
		j.dnskeyTL = u.SOA.Hdr.TTL
	}
	if len(j.zsks) == 0 || len(j.ksks) == 0 {
		return nil, fmt.Errorf("zone %s: no active key to sign with (keys: %s)", u.Origin, keyList(keys))
	}
	return j, nil
}

func keyList(s *KeySet) string {
	var b strings.Builder
	for i, k := range s.Keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", k.Tag(), k.Role)
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// task is one RRset to sign; keySets says it is an apex key set (signed by the KSKs).
type task struct {
	rrs     []dns.RR
	keySets bool
}

func taskFor(rrs []dns.RR) task {
	switch dns.RRToType(rrs[0]) {
	case dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY:
		return task{rrs: rrs, keySets: true}
	}
	return task{rrs: rrs}
}

// run signs every task, on as many cores as there are, and returns the signatures.
func (j *job) run(tasks []task) ([]dns.RR, error) {
	workers := min(runtime.GOMAXPROCS(0), max(1, len(tasks)/64))
	results := make([][]dns.RR, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(tasks); i += workers {
				sigs, err := j.sign(tasks[i])
				if err != nil {
					errs[w] = err
					return
				}
				results[w] = append(results[w], sigs...)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []dns.RR
	for _, r := range results {
		out = append(out, r...)
	}
	return out, nil
}

// sign makes the signatures of one RRset, one per signing key. The records are copied first:
// signing puts them in canonical form and order in place, and they are a served zone's own.
func (j *job) sign(t task) ([]dns.RR, error) {
	keys := j.zsks
	if t.keySets {
		keys = j.ksks
	}
	rrs := make([]dns.RR, len(t.rrs))
	for i, rr := range t.rrs {
		rrs[i] = rr.Clone()
	}
	out := make([]dns.RR, 0, len(keys))
	for _, k := range keys {
		sig := &dns.RRSIG{Hdr: dns.Header{Class: dns.ClassINET}}
		sig.Algorithm, sig.KeyTag, sig.SignerName = k.DNSKEY.Algorithm, k.Tag(), j.origin
		sig.Inception, sig.Expiration = j.incept, j.expire
		if err := sig.Sign(k.Signer, rrs, &dns.SignOption{}); err != nil {
			h := t.rrs[0].Header()
			return nil, fmt.Errorf("zone %s: sign %s %s with key %d: %w", j.origin, h.Name, dns.TypeToString[dns.RRToType(t.rrs[0])], k.Tag(), err)
		}
		sig.Hdr.Name = t.rrs[0].Header().Name
		out = append(out, sig)
	}
	return out, nil
}

// apexKeySets are the DNSKEY, CDS and CDNSKEY RRsets the keys make.
func (j *job) apexKeySets() [][]dns.RR {
	var dnskeys, cds, cdnskeys []dns.RR
	for _, k := range j.keys.Published(j.now) {
		key := k.DNSKEY.Clone().(*dns.DNSKEY)
		key.Hdr = dns.Header{Name: j.origin, Class: dns.ClassINET, TTL: j.dnskeyTL}
		dnskeys = append(dnskeys, key)
		if key.Flags&dns.FlagSEP == 0 {
			continue
		}
		ds := key.ToDS(dns.SHA256).ToCDS()
		ds.Hdr = key.Hdr
		cdnskey := key.ToCDNSKEY()
		cds, cdnskeys = append(cds, ds), append(cdnskeys, cdnskey)
	}
	out := [][]dns.RR{dnskeys}
	if len(cds) > 0 {
		out = append(out, cds, cdnskeys)
	}
	return out
}

func (j *job) nsec3param() *dns.NSEC3PARAM {
	p := &dns.NSEC3PARAM{Hdr: dns.Header{Name: j.origin, Class: dns.ClassINET, TTL: 0}}
	p.Hash = dns.SHA1
	return p
}

// bitmap is the type bitmap of n's NSEC or NSEC3 record (RFC 4034 §4.1.2, RFC 5155 §3.2.1).
func (j *job) bitmap(n *zone.Node) []uint16 {
	if n.Empty() {
		return nil
	}
	var types []uint16
	signed := false
	for _, s := range n.Sets {
		if stripped(s.Type, n.IsApex()) {
			continue
		}
		types = append(types, s.Type)
		signed = signed || signable(n, s.Type)
	}
	if n.IsApex() {
		types = append(types, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY)
		if j.policy.Denial == NSEC3 {
			types = append(types, dns.TypeNSEC3PARAM)
		}
	}
	if j.policy.Denial == NSEC {
		types = append(types, dns.TypeNSEC)
		signed = true // the NSEC record itself
	}
	if signed {
		types = append(types, dns.TypeRRSIG)
	}
	slices.Sort(types)
	return types
}

// denial makes the denial record of link i of c, for node n.
func (j *job) denial(c chain, i int, n *zone.Node) dns.RR {
	next := c.next(i)
	if j.policy.Denial == NSEC3 {
		r := &dns.NSEC3{Hdr: dns.Header{Name: hashOwner(c[i].key, j.origin), Class: dns.ClassINET, TTL: j.nsecTTL}}
		r.NSEC3 = rdata.NSEC3{Hash: dns.SHA1, HashLength: 20, NextDomain: b32.EncodeToString([]byte(next.key)), TypeBitMap: j.bitmap(n)}
		return r
	}
	r := &dns.NSEC{Hdr: dns.Header{Name: n.Name, Class: dns.ClassINET, TTL: j.nsecTTL}}
	r.NSEC = rdata.NSEC{NextDomain: next.name, TypeBitMap: j.bitmap(n)}
	return r
}

// Sign signs u whole with keys, as policy p says, at now; the signed SOA has serial.
func Sign(u *zone.Zone, keys *KeySet, p Policy, now time.Time, serial uint32) (*Signed, error) {
	j, err := newJob(u, keys, p, now)
	if err != nil {
		return nil, err
	}
	records := make([]dns.RR, 0, u.Records*2+len(u.Nodes))
	tasks := make([]task, 0, u.Records)
	var c chain
	for _, n := range u.Nodes {
		for _, set := range n.Sets {
			if stripped(set.Type, n.IsApex()) {
				continue
			}
			rrs := set.RRs
			if set.Type == dns.TypeSOA {
				rrs = []dns.RR{soaWithSerial(u.SOA, serial)}
			}
			records = append(records, rrs...)
			if signable(n, set.Type) {
				tasks = append(tasks, taskFor(rrs))
			}
		}
		if member(n, p.Denial) {
			c = append(c, link{key: chainKey(n, p.Denial), name: n.Name})
		}
	}
	for _, set := range j.apexKeySets() {
		records = append(records, set...)
		tasks = append(tasks, taskFor(set))
	}
	if p.Denial == NSEC3 {
		param := j.nsec3param()
		records = append(records, param)
		tasks = append(tasks, taskFor([]dns.RR{param}))
	}
	slices.SortFunc(c, func(a, b link) int { return strings.Compare(a.key, b.key) })
	for i := range c {
		d := j.denial(c, i, u.Nodes[nodeKey(u, c[i].name)])
		records = append(records, d)
		tasks = append(tasks, taskFor([]dns.RR{d}))
	}
	sigs, err := j.run(tasks)
	if err != nil {
		return nil, err
	}
	records = append(records, sigs...)
	z, _, err := zone.Build(u.Origin, u.File, records)
	if err != nil {
		return nil, fmt.Errorf("zone %s: the signed zone does not build: %w", u.Origin, err)
	}
	return finish(z, u, keys, p, c), nil
}

func finish(z, u *zone.Zone, keys *KeySet, p Policy, c chain) *Signed {
	s := &Signed{Zone: z, Unsigned: u, Keys: keys, Policy: p, chain: c}
	var earliest uint32
	found := false
	maxTTL := uint32(0)
	for _, n := range z.Nodes {
		for _, set := range n.Sets {
			maxTTL = max(maxTTL, set.RRs[0].Header().TTL)
			if set.Type != dns.TypeRRSIG {
				continue
			}
			for _, rr := range set.RRs {
				e := rr.(*dns.RRSIG).Expiration
				if !found || dns.CompareSerial(e, earliest) < 0 {
					earliest, found = e, true
				}
			}
		}
	}
	s.Expires = time.Unix(int64(earliest), 0).UTC()
	s.RefreshAt = s.Expires.Add(-p.refresh(maxTTL))
	return s
}

// nodeKey is the index key of the node called name in z.
func nodeKey(z *zone.Zone, name string) string {
	var b []byte
	for label := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		if label == "" {
			continue
		}
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	return string(append(b, 0))
}

func soaWithSerial(soa *dns.SOA, serial uint32) *dns.SOA {
	s := soa.Clone().(*dns.SOA)
	s.Serial = serial
	return s
}
