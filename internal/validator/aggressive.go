package validator

import (
	"strings"
	"sync"
	"time"

	"codeberg.org/miekg/dns"
)

// nsecStore keeps the NSEC records of secure zones that proved a negative answer, so that later
// questions they also answer are answered from them without asking (RFC 8198 §5.1: aggressive
// use of DNSSEC-validated cache). Only NSEC, as Unbound's aggressive-nsec: an NSEC3 span says
// nothing readable about other names without hashing them, and opt-out spans prove nothing.
type nsecStore struct {
	mu    sync.Mutex
	zones map[string]*zoneDenials
}

// zoneDenials is what is kept of one zone: its SOA RRset with signatures (for the authority
// section of a synthesised answer) and its validated NSEC RRsets by owner.
type zoneDenials struct {
	soa  []dns.RR
	nsec map[string]storedNSEC
}

type storedNSEC struct {
	nsec    *dns.NSEC
	rrs     []dns.RR // the NSEC and its RRSIGs, as received
	expires time.Time
}

// Bounds of the store: enough for the zones a resolver is asked about most, no more.
const (
	maxNSECZones   = 1000
	maxNSECPerZone = 256
)

func newNSECStore() *nsecStore { return &nsecStore{zones: map[string]*zoneDenials{}} }

// remember keeps the NSEC RRsets of ns, already verified with the keys of zone, and its SOA
// RRset; each lives for the lesser of its TTL and the SOA's negative TTL (RFC 8198 §5.4).
func (s *nsecStore) remember(zone string, ns []dns.RR, now time.Time) {
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
		z = &zoneDenials{nsec: map[string]storedNSEC{}}
		s.zones[zone] = z
	}
	z.soa = soa
	for _, set := range sets {
		if set.typ != dns.TypeNSEC || len(set.rrs) != 1 || !isBelow(zone, set.owner) {
			continue
		}
		if len(z.nsec) >= maxNSECPerZone {
			clear(z.nsec)
		}
		n := set.rrs[0].(*dns.NSEC)
		ttl := min(n.Hdr.TTL, negTTL)
		z.nsec[set.owner] = storedNSEC{nsec: n, rrs: append([]dns.RR{n}, sigsAsRRs(set.sigs)...),
			expires: now.Add(time.Duration(ttl) * time.Second)}
	}
}

func sigsAsRRs(sigs []*dns.RRSIG) []dns.RR {
	out := make([]dns.RR, len(sigs))
	for i, s := range sigs {
		out[i] = s
	}
	return out
}

// Synthesised is a negative answer made from remembered NSEC records.
type Synthesised struct {
	Rcode uint16
	// Ns is the SOA and the NSEC records with their RRSIGs, TTLs counted down.
	Ns []dns.RR
}

// Synthesise answers (qname, qtype) from the NSEC records remembered for the closest zone that
// has some, when they prove NXDOMAIN or NODATA by themselves; ok is false when they do not, and
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
	d := Denial{Zone: zone}
	var used []storedNSEC
	for owner, n := range z.nsec {
		if !now.Before(n.expires) {
			delete(z.nsec, owner)
			continue
		}
		d.NSEC = append(d.NSEC, n.nsec)
	}
	pick := func(n *dns.NSEC) {
		if n != nil {
			used = append(used, z.nsec[strings.ToLower(n.Hdr.Name)])
		}
	}
	var rcode uint16
	if m := matchingNSEC(d, qname); m != nil {
		if qtype == dns.TypeDS || qtype == dns.TypeANY || c.opts.NoData(Denial{Zone: zone, NSEC: []*dns.NSEC{m}}, qname, qtype).State != Secure {
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
	return Synthesised{Rcode: rcode, Ns: ns}, true
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
