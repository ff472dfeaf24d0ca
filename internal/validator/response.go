package validator

import (
	"context"
	"strings"

	"codeberg.org/miekg/dns"
)

// Response validates a resolved answer to (qname, qtype): every RRset of the answer section
// with the keys of the zone that signed it (or, unsigned, the zone that holds its owner), the
// proof that a wildcard expansion was needed, and for a negative answer (NXDOMAIN, or no RRset
// of qtype at the end of the CNAME chain) the SOA and the NSEC or NSEC3 proof in ns. The
// result is the weakest of its parts. The TTLs of the RRsets found secure are lowered in place
// to what their signatures allow.
func (c *Chain) Response(ctx context.Context, qname string, qtype uint16, rcode uint16, answer, ns []dns.RR) Result {
	return c.response(func(name string) (Result, string, []*dns.DNSKEY) { return c.Keys(ctx, name) }, qname, qtype, rcode, answer, ns)
}

// keyFinder returns the trusted keys of the deepest secure zone at or above a name, as
// Chain.Keys does; Hold-On's check uses one that never fetches.
type keyFinder func(name string) (Result, string, []*dns.DNSKEY)

// response is Response with the keys found by keys.
func (c *Chain) response(keys keyFinder, qname string, qtype uint16, rcode uint16, answer, ns []dns.RR) Result {
	result := secure
	anyAnchor := false
	note := func(r Result) {
		if r.State != Indeterminate {
			anyAnchor = true
		}
		result = worse(result, r)
	}
	sets := rrsets(answer)
	for _, s := range sets {
		if len(s.rrs) == 0 {
			continue // RRSIGs alone prove nothing and are not data
		}
		if s.typ == dns.TypeCNAME && synthesised(s.owner, sets) {
			continue // made from a DNAME that is checked itself (RFC 6672 §5.3.1)
		}
		note(c.rrset(keys, s, ns))
		if result.State == Bogus {
			return result
		}
	}
	final := chainEnd(strings.ToLower(qname), qtype, answer)
	negative := rcode == dns.RcodeNameError || (rcode == dns.RcodeSuccess && !hasRRset(answer, final, qtype))
	if negative {
		note(c.negative(keys, final, qtype, rcode, ns))
	}
	if !anyAnchor {
		return Result{State: Indeterminate}
	}
	return result
}

// rrset checks one RRset of the answer.
func (c *Chain) rrset(keysOf keyFinder, s rrset, ns []dns.RR) Result {
	zoneName := s.owner
	if len(s.sigs) > 0 {
		zoneName = strings.ToLower(s.sigs[0].SignerName)
		if !isBelow(zoneName, s.owner) {
			return bogus(EDEBogus, "%s is signed by %s, which does not hold it", s.owner, zoneName)
		}
	}
	r, zone, keys := keysOf(zoneName)
	if r.State != Secure {
		return r
	}
	if len(s.sigs) > 0 && zone != zoneName {
		return bogus(EDEDNSKEYMissing, "%s is signed by %s, which is no signed zone", s.owner, zoneName)
	}
	v := c.verify(s.rrs, s.sigs, keys)
	v.capTTLs(s.rrs, s.sigs, c.opts.now())
	if v.State != Secure || v.Wildcard == "" {
		return v.Result
	}
	d, res := c.verifiedDenial(zone, keys, ns)
	if res.State != Secure {
		res.Why = "wildcard answer " + s.owner + ": " + res.Why
		return res
	}
	return c.opts.WildcardAnswer(d, s.owner, v.Wildcard)
}

// negative checks the SOA and the denial of a negative answer about name.
func (c *Chain) negative(keysOf keyFinder, name string, qtype, rcode uint16, ns []dns.RR) Result {
	zoneName := name
	var soa *rrset
	sets := rrsets(ns)
	for i := range sets {
		if sets[i].typ == dns.TypeSOA && len(sets[i].rrs) > 0 {
			soa = &sets[i]
			zoneName = soa.owner
			break
		}
	}
	for _, s := range sets {
		if soa == nil && (s.typ == dns.TypeNSEC || s.typ == dns.TypeNSEC3) && len(s.sigs) > 0 {
			zoneName = strings.ToLower(s.sigs[0].SignerName)
		}
	}
	if !isBelow(zoneName, name) {
		return bogus(EDEBogus, "the negative answer about %s comes from %s, which does not hold it", name, zoneName)
	}
	r, zone, keys := keysOf(zoneName)
	if r.State != Secure {
		return r
	}
	if soa == nil {
		return bogus(EDENSECMissing, "negative answer about %s without SOA", name)
	}
	v := c.verify(soa.rrs, soa.sigs, keys)
	if v.State != Secure {
		return v.Result
	}
	v.capTTLs(soa.rrs, soa.sigs, c.opts.now())
	d, res := c.verifiedDenial(zone, keys, ns)
	if res.State != Secure {
		return res
	}
	var proof Result
	if rcode == dns.RcodeNameError {
		proof = c.opts.NXDomain(d, name)
	} else {
		proof = c.opts.NoData(d, name, qtype)
	}
	if proof.State == Secure {
		c.rememberDenial(zone, d, ns)
	}
	return proof
}

// synthesised reports whether a CNAME at owner stands below a DNAME of the same answer.
func synthesised(owner string, sets []rrset) bool {
	for _, s := range sets {
		if s.typ == dns.TypeDNAME && owner != s.owner && isBelow(s.owner, owner) {
			return true
		}
	}
	return false
}

// chainEnd follows the CNAME records of answer from qname to the name the answer is about.
func chainEnd(qname string, qtype uint16, answer []dns.RR) string {
	if qtype == dns.TypeCNAME {
		return qname
	}
	name := qname
	for range 16 {
		next := ""
		for _, rr := range answer {
			if c, ok := rr.(*dns.CNAME); ok && sameName(c.Hdr.Name, name) {
				next = strings.ToLower(c.Target)
			}
		}
		if next == "" {
			break
		}
		name = next
	}
	return name
}

func hasRRset(answer []dns.RR, name string, qtype uint16) bool {
	for _, rr := range answer {
		if sameName(rr.Header().Name, name) && (qtype == dns.TypeANY || dns.RRToType(rr) == qtype) {
			return true
		}
	}
	return false
}
