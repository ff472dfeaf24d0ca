// Package authority answers queries from the served zones (stage 4 of the query path). It finds the
// closest enclosing zone, applies RFC 1034 §4.3.2 with the refinements of RFC 2308 (negative
// answers), RFC 4592 (wildcards), RFC 6672 (DNAME) and RFC 8482 (ANY), and returns the answer as a
// precomputed wire template. Templates are built on first use and kept on the zone node they came
// from, stamped with the zone's version (nodes are shared between versions, see zone.Apply), so a
// repeated question costs two map lookups and a copy.
package authority

import (
	"fmt"
	"net/netip"
	"strings"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
	"warden/internal/wire"
	"warden/internal/zone"
)

// Set is the zones served, indexed for lookup. A Set never changes; a reload builds a new one.
type Set struct {
	zones map[string]*zone.Zone // by origin, wire form
	// only is the zone when there is one: a name's zone is then found without walking its labels.
	// With several, a name is answered from its closest enclosing zone, so that a parent's glue
	// below a served child never answers in the child's place.
	only *zone.Zone
	// names indexes, with several zones, the names of the smaller ones by the zone closest to
	// them, so that a hit there costs one look-up as with one zone. An index of every zone's names
	// would copy them all whenever one zone changes (a Set is made for every change), so the
	// names of zones past mergeLimit in all are found by walking the labels to their zone.
	names map[string]served
	// unavailable holds the origins (wire form) of zones served here that have no data to answer
	// from: a secondary not yet transferred, or expired. Names under them get SERVFAIL rather than
	// an answer from a parent zone or from recursion.
	unavailable map[string]bool
}

// New indexes zones. Origins must be distinct.
func New(zones []*zone.Zone) (*Set, error) {
	return NewWithUnavailable(zones, nil)
}

// NewWithUnavailable indexes zones, and marks the origins in unavailable (presentation form) as
// served but without data.
func NewWithUnavailable(zones []*zone.Zone, unavailable []string) (*Set, error) {
	s := &Set{zones: make(map[string]*zone.Zone, len(zones))}
	for _, origin := range unavailable {
		key, err := wire.AppendName(nil, origin)
		if err != nil {
			return nil, fmt.Errorf("zone %s: %w", origin, err)
		}
		if s.unavailable == nil {
			s.unavailable = make(map[string]bool, len(unavailable))
		}
		s.unavailable[string(key)] = true
	}
	for _, z := range zones {
		if _, dup := s.zones[z.Key]; dup {
			return nil, fmt.Errorf("zone %s is configured twice", z.Origin)
		}
		s.zones[z.Key] = z
	}
	if len(zones) == 1 {
		s.only = zones[0]
		return s, nil
	}
	total := 0
	for _, z := range zones {
		if n := z.NodeCount(); total+n <= mergeLimit {
			total += n
		}
	}
	s.names = make(map[string]served, total)
	left := mergeLimit
	for _, z := range zones {
		if z.NodeCount() > left {
			continue
		}
		left -= z.NodeCount()
		for n := range z.Nodes() {
			if s.closestZone([]byte(n.Key)) == z {
				s.names[n.Key] = served{n, z}
			}
		}
	}
	return s, nil
}

// served is a node and the zone it is answered from.
type served struct {
	node *zone.Node
	zone *zone.Zone
}

// mergeLimit bounds the names Set.names copies for each new Set.
const mergeLimit = 1 << 16

// Unavailable says whether the closest zone served for the lower-case wire name has no data (not
// yet transferred, or expired): its names are answered SERVFAIL (RFC 1035 §4.3.5: an expired zone
// is no longer authoritative, and its server has nothing better to say).
func (s *Set) Unavailable(name []byte) bool {
	// Small enough to inline: the usual set has no unavailable zone, and the hot path pays a
	// length check.
	return len(s.unavailable) > 0 && s.under(name)
}

// under says whether an unavailable origin is the closest served zone of name.
func (s *Set) under(name []byte) bool {
	for off := range wire.Suffixes(name) {
		if s.unavailable[string(name[off:])] {
			return true
		}
		if s.zones[string(name[off:])] != nil {
			return false
		}
	}
	return false
}

// closestZone returns the deepest served zone at or above the wire name.
func (s *Set) closestZone(name []byte) *zone.Zone {
	for off := range wire.Suffixes(name) {
		if z := s.zones[string(name[off:])]; z != nil {
			return z
		}
	}
	return nil
}

// Memo keys: the kind of answer in the upper half, the query type (where it matters) below.
const (
	kindExact    = 1 << 16
	kindNoData   = 2 << 16
	kindNXDomain = 3 << 16
	kindWildcard = 4 << 16
	kindReferral = 5 << 16
	kindParentDS = 6 << 16
	// kindDO marks the answer to a DO=1 query from a signed zone: the same question with its
	// signatures and proofs, a second template beside the plain one.
	kindDO = 1 << 24
)

// Answer returns the answer to req from the served zones, or nil when no zone encloses the name.
// It is the answer of an authoritative server: referrals at delegations, CNAME chains that stop
// where the zones do.
func (s *Set) Answer(req *query.Request) *wire.Template {
	t, _ := s.Lookup(req)
	return t
}

// Kind says what an answer from the zones leaves for a server that also resolves to do.
type Kind uint8

const (
	// Whole: the answer is complete (positive, NODATA, NXDOMAIN, or a CNAME chain that ends in
	// one of those inside the zones).
	Whole Kind = iota
	// Continues: the answer's CNAME chain (or DNAME) ends at Outcome.Target, a name the zones do
	// not answer for: outside them, or below one of their delegations. A resolving server
	// resolves Target and puts the answer's records in front; the answer stays authoritative.
	Continues
	// Delegated: the question's name is at or below a delegation of a served zone (the answer
	// is a referral). A resolving server resolves the question itself, starting at the servers
	// Outcome.Delegation names.
	Delegated
)

// Outcome is what Lookup found besides the answer.
// It is kept to four words: it comes back with every answer, and a fifth word (the zone, beside
// Target as a string) made BenchmarkPipelineHit a third slower.
type Outcome struct {
	Kind Kind
	open *wire.Template // Continues: the answer, whose Open is the name to go on from
	cut  *zone.Node
	zone *zone.Zone // the version cut is in
}

// Target is, for a Continues outcome, the name to go on from, lower case.
func (o Outcome) Target() string {
	if o.open == nil {
		return ""
	}
	return o.open.Open
}

// NameServer is one server of a delegation, with the addresses the zone holds for it.
type NameServer struct {
	Name  string
	Addrs []netip.Addr
}

// Delegation returns, for a Delegated outcome, the cut's name and its name servers with the
// addresses the delegating zone holds for them (glue, or names elsewhere in the zone).
func (o Outcome) Delegation() (cut string, servers []NameServer) {
	if o.cut == nil {
		return "", nil
	}
	z := o.zone
	var buf [256]byte
	for _, rr := range o.cut.RRset(dns.TypeNS) {
		ns := NameServer{Name: strings.ToLower(rr.(*dns.NS).Ns)}
		if key, err := wire.AppendName(buf[:0], ns.Name); err == nil && wire.Within(key, z.Key) {
			if n := z.NodeOf(key); n != nil {
				for _, a := range n.RRset(dns.TypeA) {
					ns.Addrs = append(ns.Addrs, a.(*dns.A).A.Addr)
				}
				for _, a := range n.RRset(dns.TypeAAAA) {
					ns.Addrs = append(ns.Addrs, a.(*dns.AAAA).AAAA.Addr)
				}
			}
		}
		servers = append(servers, ns)
	}
	return wire.NameString([]byte(o.cut.Key)), servers
}

// Lookup is Answer with the outcome a server that also resolves needs; it costs the same.
func (s *Set) Lookup(req *query.Request) (*wire.Template, Outcome) {
	if len(s.zones) == 0 {
		return nil, Outcome{} // a resolver without zones: nothing to walk
	}
	qname := req.Lower()
	qtype := req.QType
	z := s.only
	var n *zone.Node
	if z != nil {
		n = z.NodeOf(qname)
	} else if e, ok := s.names[string(qname)]; ok {
		n, z = e.node, e.zone
	} else {
		if z = s.closestZone(qname); z == nil {
			return nil, Outcome{}
		}
		n = z.NodeOf(qname)
	}
	if n != nil && !n.Hashed {
		if qtype == dns.TypeDS && n.IsApex() {
			// The DS RRset lives on the parent side of the cut (RFC 4035 §3.1.4.1).
			if pz, p := s.parentSide(n); p != nil {
				do := req.DO && pz.Signed()
				return s.outcome(s.memoized(pz, p, kindParentDS|doKey(do)|uint32(qtype), nil, qname, len(qname), do, func(r *result) {
					s.atNode(r, p, qname, qtype, nil)
				}))
			}
		}
		var o Outcome
		if n.Cut != nil && !(n.IsDelegation() && qtype == dns.TypeDS) {
			o = Outcome{Kind: Delegated, cut: n.Cut, zone: z}
		}
		do := req.DO && z.Signed()
		key := uint32(kindExact) | doKey(do) | uint32(qtype)
		if t := n.Memo(z, key, nil); t != nil {
			return s.outcomeOr(t, o) // the hit: no look at the node's records
		}
		if n.Cut == nil && !n.Has(qtype) && !n.Has(dns.TypeCNAME) && qtype != dns.TypeANY {
			key = kindNoData | doKey(do) // every missing type at a node has the same answer
		}
		return s.outcomeOr(s.memoized(z, n, key, nil, qname, len(qname), do, func(r *result) {
			s.atNode(r, n, qname, qtype, nil)
		}), o)
	}
	for off := range wire.Suffixes(qname) {
		if off == 0 {
			continue // the name itself is not there
		}
		ce := z.NodeOf(qname[off:])
		if ce == nil || ce.Hashed {
			continue
		}
		do := req.DO && z.Signed()
		if ce.Cut != nil {
			return s.belowNode(z, ce, qname, qtype, do), Outcome{Kind: Delegated, cut: ce.Cut, zone: z}
		}
		return s.outcome(s.belowNode(z, ce, qname, qtype, do))
	}
	return nil, Outcome{}
}

// doKey is the memo key bit of an answer with DNSSEC records.
func doKey(do bool) uint32 {
	if do {
		return kindDO
	}
	return 0
}

// outcome reads the outcome of an answer off its template.
func (s *Set) outcome(t *wire.Template) (*wire.Template, Outcome) {
	if t.Open != "" {
		return t, Outcome{Kind: Continues, open: t}
	}
	return t, Outcome{}
}

// outcomeOr is outcome, unless o already says the name is delegated.
func (s *Set) outcomeOr(t *wire.Template, o Outcome) (*wire.Template, Outcome) {
	if o.Kind == Delegated {
		return t, o
	}
	return s.outcome(t)
}

// parentSide returns the parent zone and its node for the apex n of a served child, nil when the
// parent zone is not served.
func (s *Set) parentSide(n *zone.Node) (*zone.Zone, *zone.Node) {
	key := n.Key
	if key == "\x00" {
		return nil, nil
	}
	parent := s.closestZone([]byte(key[int(key[0])+1:]))
	if parent == nil {
		return nil, nil
	}
	return parent, parent.Node(key)
}

// belowNode answers a name that does not exist, whose closest existing ancestor is ce; do says
// whether the answer carries DNSSEC records.
func (s *Set) belowNode(z *zone.Zone, ce *zone.Node, qname []byte, qtype uint16, do bool) *wire.Template {
	if ce.Cut != nil {
		return s.memoized(z, ce.Cut, kindReferral|doKey(do), nil, qname, len(ce.Cut.Key), do, func(r *result) {
			s.referral(r, ce.Cut)
		})
	}
	if ce.Has(dns.TypeDNAME) {
		// The synthesised CNAME depends on the whole query name: built per query, not kept.
		r := &result{z: z, dnssec: do}
		s.dname(r, ce, qname, qtype)
		return r.template(qname, len(qname))
	}
	// With DNSSEC records the answer also depends on the chain record that covers qname: it is
	// kept on that record's node, for this ce (see proofNode).
	at, with := ce, (*zone.Node)(nil)
	if do {
		if p := proofNode(z, ce, qname); p != nil {
			at, with = p, ce
		}
	}
	if w := ce.Wildcard; w != nil {
		key := uint32(kindWildcard) | doKey(do) | uint32(qtype)
		if !w.Has(qtype) && !w.Has(dns.TypeCNAME) && qtype != dns.TypeANY && !(qtype == dns.TypeRRSIG && z.Signed()) {
			key = kindWildcard | kindNoData | doKey(do)
		}
		if at == ce {
			at = w
		}
		return s.memoized(z, at, key, with, qname, len(ce.Key), do, func(r *result) {
			s.atNode(r, w, qname, qtype, qname)
		})
	}
	return s.memoized(z, at, kindNXDomain|doKey(do), with, qname, len(ce.Key), do, func(r *result) {
		s.nxdomain(r, ce, qname)
	})
}

// memoized returns the template for version z stored on n under key and with, building and
// storing it on first use; do says whether the answer carries DNSSEC records.
func (s *Set) memoized(z *zone.Zone, n *zone.Node, key uint32, with *zone.Node, qname []byte, shared int, do bool, build func(*result)) *wire.Template {
	if t := n.Memo(z, key, with); t != nil {
		return t
	}
	r := &result{z: z, dnssec: do}
	build(r)
	return n.SetMemo(z, key, with, r.template(qname, shared))
}
