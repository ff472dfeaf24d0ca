package authority

import (
	"codeberg.org/miekg/dns"

	"warden/internal/wire"
	"warden/internal/zone"
)

// The proofs of RFC 4035 §3.1.3 (NSEC) and RFC 5155 §7.2 (NSEC3) that answers from a signed zone
// carry in their authority section when the query has DO=1. Each adds records of the zone's own
// chain, with their signatures, and never the same record twice. They do nothing for an answer
// without DNSSEC records (r.dnssec unset).

// proveNXDomain proves that qname, whose closest encloser is ce, does not exist: nothing at qname
// and no wildcard at ce.
func (s *Set) proveNXDomain(r *result, ce *zone.Node, qname []byte) {
	if !r.dnssec {
		return
	}
	z := r.z
	var buf [256]byte
	star := wildcardOf(buf[:0], ce.Key)
	if z.UsesNSEC3() {
		r.closestEncloserProof(z, []byte(ce.Key), qname)
		r.denial(z.CoverNSEC3(star), dns.TypeNSEC3)
		return
	}
	r.denial(z.CoverNSEC(qname), dns.TypeNSEC)
	r.denial(z.CoverNSEC(star), dns.TypeNSEC)
}

// proveNoData proves that the existing name qname (node n) has no records of the type asked.
func (s *Set) proveNoData(r *result, n *zone.Node, qname []byte) {
	if !r.dnssec {
		return
	}
	z := r.z
	if z.UsesNSEC3() {
		if m := z.MatchNSEC3([]byte(n.Key)); m != nil {
			r.denial(m, dns.TypeNSEC3)
			return
		}
		// No NSEC3 of its own: a delegation left out of an opt-out chain (RFC 5155 §7.2.4).
		r.closestProvableProof(z, []byte(n.Key))
		return
	}
	if n.Has(dns.TypeNSEC) {
		r.denial(n, dns.TypeNSEC)
		return
	}
	// An empty non-terminal has no NSEC: the one that covers the name shows it holds nothing.
	r.denial(z.CoverNSEC(qname), dns.TypeNSEC)
}

// proveWildcardAnswer proves, for an answer synthesised from the wildcard w for qname (owner set),
// that qname itself does not exist (RFC 4035 §3.1.3.3, RFC 5155 §7.2.6).
func (s *Set) proveWildcardAnswer(r *result, w *zone.Node, qname, owner []byte) {
	if !r.dnssec || owner == nil {
		return
	}
	z := r.z
	if z.UsesNSEC3() {
		r.denial(z.CoverNSEC3(nextCloser(qname, len(w.Parent.Key))), dns.TypeNSEC3)
		return
	}
	r.denial(z.CoverNSEC(qname), dns.TypeNSEC)
}

// proveWildcardNoData proves that qname does not exist and that its wildcard w has no records of
// the type asked (RFC 4035 §3.1.3.4, RFC 5155 §7.2.5).
func (s *Set) proveWildcardNoData(r *result, w *zone.Node, qname []byte) {
	if !r.dnssec {
		return
	}
	// Knot puts the wildcard's own record first; the order decides what a truncated answer keeps.
	z := r.z
	if z.UsesNSEC3() {
		r.denial(z.MatchNSEC3([]byte(w.Key)), dns.TypeNSEC3)
		r.closestEncloserProof(z, []byte(w.Parent.Key), qname)
		return
	}
	r.denial(w, dns.TypeNSEC)
	r.denial(z.CoverNSEC(qname), dns.TypeNSEC)
}

// proveDelegation adds to a referral the DS RRset of the cut with its signatures, or the proof
// that the cut has none (RFC 4035 §3.1.4, RFC 5155 §7.2.7).
func (s *Set) proveDelegation(r *result, cut *zone.Node) {
	if !r.dnssec {
		return
	}
	if ds := cut.RRset(dns.TypeDS); ds != nil {
		r.auth = append(r.auth, r.set(cut, ds, dns.TypeDS, nil))
		return
	}
	z := r.z
	if z.UsesNSEC3() {
		if m := z.MatchNSEC3([]byte(cut.Key)); m != nil {
			r.denial(m, dns.TypeNSEC3)
			return
		}
		r.closestProvableProof(z, []byte(cut.Key))
		return
	}
	r.denial(cut, dns.TypeNSEC)
}

// closestEncloserProof adds the NSEC3 matching the closest encloser ce and the one covering the
// next closer name of qname (RFC 5155 §7.2.1).
func (r *result) closestEncloserProof(z *zone.Zone, ce, qname []byte) {
	r.denial(z.MatchNSEC3(ce), dns.TypeNSEC3)
	if len(qname) > len(ce) {
		r.denial(z.CoverNSEC3(nextCloser(qname, len(ce))), dns.TypeNSEC3)
	}
}

// closestProvableProof is closestEncloserProof for name, from the nearest ancestor that has an
// NSEC3 of its own (the closest provable encloser).
func (r *result) closestProvableProof(z *zone.Zone, name []byte) {
	for off := range wire.Suffixes(name) {
		if off == 0 {
			continue
		}
		if z.MatchNSEC3(name[off:]) != nil {
			r.closestEncloserProof(z, name[off:], name)
			return
		}
	}
}

// denial adds the records of type t at n (NSEC or NSEC3) with their signatures to the authority
// section, unless the answer holds them already (a wildcard's NSEC asked for, which also covers
// the name) or the authority section does.
func (r *result) denial(n *zone.Node, t uint16) {
	if n == nil {
		return
	}
	rrs := n.RRset(t)
	if rrs == nil || hasSet(r.auth, rrs) || hasSet(r.answer, rrs) {
		return
	}
	r.auth = append(r.auth, rrsetOut{rrs: rrs, sigs: n.Sigs(t)})
}

// nextCloser returns the suffix of qname one label longer than its closest encloser, whose wire
// form is encloserLen bytes long (RFC 5155 §1.3).
func nextCloser(qname []byte, encloserLen int) []byte {
	prev := 0
	for off := range wire.Suffixes(qname) {
		if len(qname)-off <= encloserLen {
			return qname[prev:]
		}
		prev = off
	}
	return qname
}

// wildcardOf appends the wire name "*." + name.
func wildcardOf(dst []byte, name string) []byte {
	dst = append(dst, 1, '*')
	return append(dst, name...)
}

// proofNode returns the node whose chain record a DO=1 answer below ce (a wildcard answer or an
// NXDOMAIN) depends on besides ce itself: the NSEC covering qname, or the NSEC3 covering its next
// closer name. Such answers are kept on that node, for that ce, so that a name that does not
// exist costs a lookup in the chain and no new answer once its neighbours have been asked for.
func proofNode(z *zone.Zone, ce *zone.Node, qname []byte) *zone.Node {
	if z.UsesNSEC3() {
		return z.CoverNSEC3(nextCloser(qname, len(ce.Key)))
	}
	return z.CoverNSEC(qname)
}
