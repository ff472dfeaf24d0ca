package validator

import (
	"strings"
	"sync"
	"time"

	"codeberg.org/miekg/dns"
)

// nsecStore keeps the NSEC records of secure zones that proved a negative answer, so that later
// questions they also answer are answered from them without asking (RFC 8198 §5.1: aggressive
// use of DNSSEC-validated cache). NSEC3 records are kept too, with the zone's hash parameters:
// a question is hashed as a validator would, and opt-out spans deny nothing (§5.2).
type nsecStore struct {
	mu    sync.Mutex
	zones map[string]*zoneDenials
}

// zoneDenials is what is kept of one zone: its SOA RRset with signatures (for the authority
// section of a synthesised answer) and its validated NSEC or NSEC3 RRsets by owner.
type zoneDenials struct {
	soa  []dns.RR
	nsec map[string]storedNSEC
	// nsec3 holds records made with params only: a zone hashed afresh starts the map again.
	nsec3  map[string]storedNSEC3
	params nsec3Params
}

// heldRRset is one denial RRset as received, with the time it stops being usable.
type heldRRset struct {
	rrs     []dns.RR // the record and its RRSIGs
	expires time.Time
}

type storedNSEC struct {
	nsec *dns.NSEC
	heldRRset
}

type storedNSEC3 struct {
	nsec3 *dns.NSEC3
	heldRRset
}

// Bounds of the store: enough for the zones a resolver is asked about most, no more.
const (
	maxNSECZones   = 1000
	maxNSECPerZone = 256
)

func newNSECStore() *nsecStore { return &nsecStore{zones: map[string]*zoneDenials{}} }

// remember keeps the NSEC or NSEC3 RRsets of ns, already verified with the keys of zone, and
// its SOA RRset; each lives for the lesser of its TTL and the SOA's negative TTL (RFC 8198
// §5.4), and no longer than its signatures. NSEC3 records are kept only with the parameters p
// (those of the proof, within the iteration limit); p is nil for an NSEC proof.
func (s *nsecStore) remember(zone string, ns []dns.RR, p *nsec3Params, now time.Time) {
	sets := rrsets(ns)
	var soa []dns.RR
	negTTL := uint32(0)
	for _, set := range sets {
		if set.typ == dns.TypeSOA && sameName(set.owner, zone) && len(set.rrs) == 1 {
			soa = append(append(soa, set.rrs...), sigsAsRRs(set.sigs)...)
			x := set.rrs[0].(*dns.SOA)
			negTTL = min(x.Hdr.TTL, x.Minttl)
		}
	}
	if soa == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zones[zone]
	if z == nil {
		if len(s.zones) >= maxNSECZones {
			clear(s.zones)
		}
		z = &zoneDenials{nsec: map[string]storedNSEC{}, nsec3: map[string]storedNSEC3{}}
		s.zones[zone] = z
	}
	z.soa = soa
	if p != nil && *p != z.params {
		clear(z.nsec3)
		z.params = *p
	}
	for _, set := range sets {
		if len(set.rrs) != 1 || !isBelow(zone, set.owner) {
			continue
		}
		switch n := set.rrs[0].(type) {
		case *dns.NSEC:
			if p != nil {
				continue
			}
			if len(z.nsec) >= maxNSECPerZone {
				clear(z.nsec)
			}
			z.nsec[set.owner] = storedNSEC{nsec: n, heldRRset: held(set, negTTL, now)}
		case *dns.NSEC3:
			if p == nil || !p.usable(Denial{Zone: zone}, n) {
				continue
			}
			if len(z.nsec3) >= maxNSECPerZone {
				clear(z.nsec3)
			}
			z.nsec3[set.owner] = storedNSEC3{nsec3: n, heldRRset: held(set, negTTL, now)}
		}
	}
}

// held is set as kept: until its TTL (at most negTTL) runs out, or its first signature expires.
func held(set rrset, negTTL uint32, now time.Time) heldRRset {
	ttl := min(set.rrs[0].Header().TTL, negTTL)
	expires := now.Add(time.Duration(ttl) * time.Second)
	for _, sig := range set.sigs {
		_, end := window(sig, now)
		expires = minTime(expires, end)
	}
	return heldRRset{rrs: append([]dns.RR{set.rrs[0]}, sigsAsRRs(set.sigs)...), expires: expires}
}

func sigsAsRRs(sigs []*dns.RRSIG) []dns.RR {
	out := make([]dns.RR, len(sigs))
	for i, s := range sigs {
		out[i] = s
	}
	return out
}

// Synthesised is a negative answer made from remembered NSEC or NSEC3 records.
type Synthesised struct {
	Rcode uint16
	// Ns is the SOA and the NSEC or NSEC3 records with their RRSIGs, TTLs counted down.
	Ns []dns.RR
}

// Synthesise answers (qname, qtype) from the NSEC or NSEC3 records remembered for the closest
// zone that has some, when they prove NXDOMAIN or NODATA by themselves; ok is false when they do not, and
// the question must be asked.
func (c *Chain) Synthesise(qname string, qtype uint16) (Synthesised, bool) {
	now := c.opts.now()
	qname = strings.ToLower(qname)
	s := c.nsecs
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.zones) == 0 {
		return Synthesised{}, false
	}
	var zone string
	var z *zoneDenials
	for n := qname; ; n = parentName(n) {
		if z = s.zones[n]; z != nil {
			zone = n
			break
		}
		if n == "." {
			return Synthesised{}, false
		}
	}
	if _, ok := c.opts.Negative.Covers(qname, now); ok {
		return Synthesised{}, false
	}
	if qtype == dns.TypeDS || qtype == dns.TypeANY {
		return Synthesised{}, false // DS is the parent's; ANY wants the records, not a proof
	}
	var used []heldRRset
	var rcode uint16
	if len(z.nsec3) > 0 {
		var ok bool
		if rcode, used, ok = c.synthesiseNSEC3(zone, z, qname, qtype, now); !ok {
			return Synthesised{}, false
		}
		return z.answer(rcode, used, now), true
	}
	d := Denial{Zone: zone}
	for owner, n := range z.nsec {
		if !now.Before(n.expires) {
			delete(z.nsec, owner)
			continue
		}
		d.NSEC = append(d.NSEC, n.nsec)
	}
	pick := func(n *dns.NSEC) {
		if n != nil {
			used = append(used, z.nsec[strings.ToLower(n.Hdr.Name)].heldRRset)
		}
	}
	if m := matchingNSEC(d, qname); m != nil {
		if c.opts.NoData(Denial{Zone: zone, NSEC: []*dns.NSEC{m}}, qname, qtype).State != Secure {
			return Synthesised{}, false
		}
		pick(m)
		rcode = dns.RcodeSuccess
	} else {
		cov := coveringNSEC(d, qname)
		if cov == nil || (isBelow(qname, cov.NextDomain) && !sameName(qname, cov.NextDomain)) {
			return Synthesised{}, false // unknown, or an empty non-terminal: ask
		}
		ce := closestEncloserNSEC(cov, qname)
		wild := wildcardAt(ce)
		if matchingNSEC(d, wild) != nil {
			return Synthesised{}, false // a wildcard may answer: ask (RFC 8198 §5.3 allows more)
		}
		wcov := coveringNSEC(d, wild)
		if wcov == nil {
			return Synthesised{}, false
		}
		pick(cov)
		if wcov != cov {
			pick(wcov)
		}
		rcode = dns.RcodeNameError
	}
	return z.answer(rcode, used, now), true
}

// answer puts the SOA and the records used in the authority section, all with the TTL the
// first of them to expire has left.
func (z *zoneDenials) answer(rcode uint16, used []heldRRset, now time.Time) Synthesised {
	earliest := used[0].expires
	for _, u := range used {
		earliest = minTime(earliest, u.expires)
	}
	left := uint32(earliest.Sub(now) / time.Second)
	var ns []dns.RR
	for _, rr := range z.soa {
		ns = append(ns, withTTL(rr, left))
	}
	for _, u := range used {
		for _, rr := range u.rrs {
			ns = append(ns, withTTL(rr, left))
		}
	}
	return Synthesised{Rcode: rcode, Ns: ns}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func withTTL(rr dns.RR, ttl uint32) dns.RR {
	c := rr.Clone()
	c.Header().TTL = min(c.Header().TTL, ttl)
	return c
}
