package authority

import (
	"slices"
	"strings"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
	"warden/internal/zone"
)

// maxCNAMEs bounds the CNAME records (synthesised ones included) in one answer, as Knot does: a
// resolver follows longer chains itself, and loops end here at the latest.
const maxCNAMEs = 5

const rcodeNXDomain = 3

// rrsetOut is one RRset placed in a section; owner, when set, replaces the records' owner name
// (wildcard synthesis writes the question name there). sigs are its RRSIGs, written after every
// RRset of the section, as Knot orders them (which decides what a truncated answer keeps).
type rrsetOut struct {
	rrs   []dns.RR
	sigs  []dns.RR
	owner []byte
}

// result is an answer before it is packed.
type result struct {
	rcode   uint8
	aa      bool
	answer  []rrsetOut
	auth    []rrsetOut
	extra   []rrsetOut
	visited []*zone.Node // nodes whose CNAME was followed, to stop loops
	cnames  int          // CNAME records in the answer
	glueTC  bool         // the additional section is referral glue
	z       *zone.Zone   // the version of the zone the answer comes from
	open    string       // the CNAME target the answer stops at, outside these zones or delegated
	// dnssec: the answer carries signatures and denial proofs (a DO=1 query to a signed zone).
	dnssec bool
}

// set returns the RRset of type t at n for a section, with its signatures when the answer
// carries them.
func (r *result) set(n *zone.Node, rrs []dns.RR, t uint16, owner []byte) rrsetOut {
	out := rrsetOut{rrs: rrs, owner: owner}
	if r.dnssec {
		out.sigs = n.Sigs(t)
	}
	return out
}

func (r *result) template(qname []byte, shared int) *wire.Template {
	b := wire.NewBuilder(qname, shared)
	b.SetRcode(r.rcode, r.aa)
	b.SetKeepFit()
	if r.glueTC {
		b.SetGlueTC()
	}
	for _, sec := range []struct {
		s    wire.Section
		sets []rrsetOut
	}{{wire.Answer, r.answer}, {wire.Authority, r.auth}, {wire.Additional, r.extra}} {
		for _, set := range sec.sets {
			// Zone data was checked when loaded; an RRset that still cannot be packed is left
			// out rather than failing the whole answer.
			_ = b.Add(sec.s, set.rrs, set.owner)
		}
		if sec.s == wire.Additional && hasSigs(sec.sets) {
			b.StartAdditionalSigs()
		}
		for _, set := range sec.sets {
			if len(set.sigs) > 0 {
				_ = b.Add(sec.s, set.sigs, set.owner)
			}
		}
	}
	t := b.Template()
	t.Open = r.open
	return t
}

// atNode answers qtype at node n, which exists (or is the wildcard standing in for the question
// name, then owner is that name).
func (s *Set) atNode(r *result, n *zone.Node, qname []byte, qtype uint16, owner []byte) {
	if n.Cut != nil && !(n.IsDelegation() && qtype == dns.TypeDS) {
		if len(r.answer) == 0 {
			s.referral(r, n.Cut)
		}
		return
	}
	r.aa = true
	if qtype == dns.TypeANY {
		s.anyAnswer(r, n, qname, owner)
		return
	}
	if qtype == dns.TypeRRSIG && r.z.Signed() {
		// Knot answers with the signatures of one RRset, that of the lowest type.
		if sigs := n.LowestSigs(); sigs != nil {
			r.answer = append(r.answer, rrsetOut{rrs: sigs, owner: owner})
			s.proveWildcardAnswer(r, n, qname, owner)
			return
		}
		s.nodata(r, n, qname, owner)
		return
	}
	if rrs := n.RRset(qtype); rrs != nil {
		r.answer = append(r.answer, r.set(n, rrs, qtype, owner))
		s.additional(r, r.z, qtype, rrs)
		s.proveWildcardAnswer(r, n, qname, owner)
		return
	}
	// NSEC and RRSIG records stand beside a CNAME (RFC 4035 §2.5): asked for, they are not
	// aliased, as Knot has it.
	if cname := n.RRset(dns.TypeCNAME); cname != nil && qtype != dns.TypeNSEC && qtype != dns.TypeRRSIG {
		if slices.Contains(r.visited, n) || r.cnames >= maxCNAMEs {
			return // a loop, or a chain the client's resolver must follow itself
		}
		r.visited = append(r.visited, n)
		r.cnames++
		r.answer = append(r.answer, r.set(n, cname, dns.TypeCNAME, owner))
		s.proveWildcardAnswer(r, n, qname, owner)
		s.followCNAME(r, n, cname[0].(*dns.CNAME).Target, qtype)
		return
	}
	s.nodata(r, n, qname, owner)
}

// anyAnswer gives the minimal answer of RFC 8482 §4.1: one RRset of the node rather than all. Like
// Knot, it is the RRset of the lowest type, with its additional records.
func (s *Set) anyAnswer(r *result, n *zone.Node, qname, owner []byte) {
	if n.Empty() {
		s.nodata(r, n, qname, owner)
		return
	}
	set := n.Sets[0]
	for _, cand := range n.Sets {
		if cand.Type < set.Type {
			set = cand
		}
	}
	r.answer = append(r.answer, r.set(n, set.RRs, set.Type, owner))
	s.additional(r, r.z, set.Type, set.RRs)
	s.proveWildcardAnswer(r, n, qname, owner)
}

// followCNAME continues the answer at the CNAME's target when the same zone holds it.
func (s *Set) followCNAME(r *result, from *zone.Node, target string, qtype uint16) {
	var buf [256]byte
	key, err := wire.AppendName(buf[:0], strings.ToLower(target))
	if err != nil {
		return
	}
	z := r.z
	if !wire.Within(key, z.Key) {
		r.open = wire.NameString(key) // the client's resolver follows names outside this zone itself
		return
	}
	if n := z.NodeOf(key); n != nil && !n.Hashed {
		if n.Cut == nil {
			s.atNode(r, n, key, qtype, nil)
		} else if len(r.auth) == 0 {
			r.open = wire.NameString(key)
			s.referralAfterCNAME(r, n.Cut)
		}
		return
	}
	ce := closestEncloser(z, key)
	switch {
	case ce.Cut != nil:
		r.open = wire.NameString(key)
		s.referralAfterCNAME(r, ce.Cut)
	case ce.Has(dns.TypeDNAME):
		s.dname(r, ce, key, qtype)
	default:
		if w := ce.Wildcard; w != nil {
			owner := append([]byte(nil), key...)
			s.atNode(r, w, key, qtype, owner)
			return
		}
		r.rcode = rcodeNXDomain // RFC 6604 §2.1: the rcode speaks of the last name in the chain
		s.soaAuthority(r, z)
		s.proveNXDomain(r, ce, key)
	}
}

// referralAfterCNAME adds the delegation a CNAME chain ran into, keeping the AA bit of the
// authoritative part of the answer.
func (s *Set) referralAfterCNAME(r *result, cut *zone.Node) {
	r.glueTC = true
	r.auth = append(r.auth, rrsetOut{rrs: cut.RRset(dns.TypeNS)})
	s.proveDelegation(r, cut)
	s.glue(r, cut)
}

// dname synthesises the CNAME for qname below the DNAME at node d (RFC 6672 §3.2) and follows it,
// unless the question is for the CNAME itself: then the synthesised record is the answer, as it
// would be at a node that owns a CNAME, and its target is not looked up (Knot does the same).
func (s *Set) dname(r *result, d *zone.Node, qname []byte, qtype uint16) {
	r.aa = true
	if r.cnames >= maxCNAMEs {
		return
	}
	set := d.RRset(dns.TypeDNAME)
	rr := set[0].(*dns.DNAME)
	if !hasSet(r.answer, set) {
		r.answer = append(r.answer, r.set(d, set, dns.TypeDNAME, nil))
	}
	prefix := wire.NameString(qname[:len(qname)-len(d.Key)])
	target := rr.Target
	if prefix != "." {
		if target == "." {
			target = prefix
		} else {
			target = prefix + target
		}
	}
	if len(target) > 254 {
		r.rcode = 6 // YXDOMAIN: the substituted name is too long (RFC 6672 §2.2)
		s.soaAuthority(r, r.z)
		return
	}
	r.cnames++
	cname := &dns.CNAME{Hdr: dns.Header{Name: wire.NameString(qname), Class: dns.ClassINET, TTL: rr.Hdr.TTL}}
	cname.Target = target
	r.answer = append(r.answer, rrsetOut{rrs: []dns.RR{cname}, owner: append([]byte(nil), qname...)})
	if qtype == dns.TypeCNAME {
		return
	}
	s.followCNAME(r, d, target, qtype)
}

// referral answers with the delegation at cut: not authoritative, NS in authority, glue in
// additional (RFC 1034 §4.3.2 step 3b).
func (s *Set) referral(r *result, cut *zone.Node) {
	r.aa = false
	r.glueTC = true
	r.auth = append(r.auth, rrsetOut{rrs: cut.RRset(dns.TypeNS)})
	s.proveDelegation(r, cut)
	s.glue(r, cut)
}

// glue adds the addresses of the cut's name servers that the parent zone holds: below the cut
// (glue proper) or elsewhere in the zone.
func (s *Set) glue(r *result, cut *zone.Node) {
	s.addresses(r, r.z, cut.RRset(dns.TypeNS))
}

// additional adds the A and AAAA records of the names NS, MX and SRV records point to, where this
// zone holds them (RFC 1034 §3.6, RFC 2782).
func (s *Set) additional(r *result, z *zone.Zone, qtype uint16, rrs []dns.RR) {
	switch qtype {
	case dns.TypeNS, dns.TypeMX, dns.TypeSRV:
		s.addresses(r, z, rrs)
	}
}

func (s *Set) addresses(r *result, z *zone.Zone, rrs []dns.RR) {
	var buf [256]byte
	for _, rr := range rrs {
		var name string
		switch x := rr.(type) {
		case *dns.NS:
			name = x.Ns
		case *dns.MX:
			name = x.Mx
		case *dns.SRV:
			name = x.Target
		default:
			continue
		}
		key, err := wire.AppendName(buf[:0], strings.ToLower(name))
		if err != nil || !wire.Within(key, z.Key) {
			continue
		}
		n := z.NodeOf(key)
		if n == nil {
			continue
		}
		for _, t := range [...]uint16{dns.TypeA, dns.TypeAAAA} {
			if set := n.RRset(t); set != nil && !hasSet(r.extra, set) {
				r.extra = append(r.extra, r.set(n, set, t, nil))
			}
		}
	}
}

func hasSigs(sets []rrsetOut) bool {
	for _, s := range sets {
		if len(s.sigs) > 0 {
			return true
		}
	}
	return false
}

func hasSet(sets []rrsetOut, rrs []dns.RR) bool {
	for _, s := range sets {
		if len(s.rrs) > 0 && &s.rrs[0] == &rrs[0] {
			return true
		}
	}
	return false
}

// nodata: the name exists but has no records of the type (RFC 2308 §2.2). n is the node, or the
// wildcard standing in for qname (then owner is set).
func (s *Set) nodata(r *result, n *zone.Node, qname, owner []byte) {
	r.aa = true
	s.soaAuthority(r, r.z)
	if owner != nil {
		s.proveWildcardNoData(r, n, qname)
		return
	}
	s.proveNoData(r, n, qname)
}

// nxdomain: the name does not exist (RFC 2308 §2.1); ce is its closest encloser.
func (s *Set) nxdomain(r *result, ce *zone.Node, qname []byte) {
	r.aa = true
	r.rcode = rcodeNXDomain
	s.soaAuthority(r, r.z)
	s.proveNXDomain(r, ce, qname)
}

// soaAuthority adds the zone's SOA with the negative-caching TTL (RFC 2308 §3), and its
// signatures with the same TTL, as Knot sends them.
func (s *Set) soaAuthority(r *result, z *zone.Zone) {
	soa := *z.SOA
	soa.Hdr.TTL = z.NegativeTTL()
	out := rrsetOut{rrs: []dns.RR{&soa}}
	if r.dnssec {
		for _, rr := range z.Apex.Sigs(dns.TypeSOA) {
			sig := *rr.(*dns.RRSIG)
			sig.Hdr.TTL = min(sig.Hdr.TTL, soa.Hdr.TTL)
			out.sigs = append(out.sigs, &sig)
		}
	}
	r.auth = append(r.auth, out)
}

// closestEncloser returns the deepest existing node of z at or above key; key is inside z.
func closestEncloser(z *zone.Zone, key []byte) *zone.Node {
	for off := range wire.Suffixes(key) {
		if n := z.NodeOf(key[off:]); n != nil && !n.Hashed {
			return n
		}
	}
	return z.Apex
}
