// Package zone reads RFC 1035 master files into an immutable zone: a map of nodes keyed by the owner
// name in lower-case wire form, each with its RRsets, its parent and the delegation it sits under.
// Zones are checked when loaded (missing or duplicate SOA, CNAME beside other data, out-of-zone data,
// data below a DNAME, missing glue) so that the authority stage can trust what it reads.
package zone

import (
	"iter"
	"sync/atomic"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
)

// RRset is the records of one owner and type, in the order the zone file gave them.
type RRset struct {
	Type uint16
	RRs  []dns.RR
}

// Node is one owner name of a zone, or an empty non-terminal (a name with no records but with
// descendants, which exists for lookup purposes: RFC 4592 §2.2.2).
type Node struct {
	Name   string // presentation form, lower-case
	Key    string // wire form, lower-case; the key in Zone.Nodes
	Zone   *Zone
	Parent *Node // nil at the apex
	Sets   []RRset
	// Cut is the delegation point at or above this node (a non-apex node with NS records), nil when
	// the node is authoritative data of its zone.
	Cut *Node
	// Wildcard is the child "*" of this node (RFC 4592), nil when there is none.
	Wildcard *Node
	// Hashed marks an NSEC3 owner of a signed zone: it belongs to the NSEC3 chain, not to the
	// name tree, and lookups treat it as a name that does not exist (see dnssec.go).
	Hashed bool
	// sigs[i] holds the RRSIGs covering Sets[i]; nil in unsigned zones.
	sigs [][]dns.RR

	// first and memo hold the answers built from this node (see Memo).
	first atomic.Pointer[memoEntry]
	memo  atomic.Pointer[memo]
}

// Zone is one loaded zone. It never changes after Load returns.
type Zone struct {
	Origin string // presentation form, lower-case, fully qualified
	Key    string // wire form of Origin
	File   string // where it came from, for messages
	Apex   *Node
	SOA    *dns.SOA
	Nodes  map[string]*Node
	// Records counts the records loaded (after removing duplicates).
	Records int
	// dnssec indexes the DNSSEC records of a signed zone; nil when the zone is not signed.
	dnssec *dnssecIndex
	// order holds the nodes in the order they were made, which is the order they lie in memory
	// (they come from blocks): walking the whole zone through it reads memory front to back,
	// where walking the map jumps at random, a cache miss a node (half the time of an AXFR).
	order []*Node
}

// Serial is the SOA serial of the zone.
func (z *Zone) Serial() uint32 { return z.SOA.Serial }

// NegativeTTL is the TTL of the SOA record in negative answers: min(SOA TTL, MINIMUM) (RFC 2308 §5).
func (z *Zone) NegativeTTL() uint32 { return min(z.SOA.Hdr.TTL, z.SOA.Minttl) }

// RRset returns the records of type t at the node, or nil.
func (n *Node) RRset(t uint16) []dns.RR {
	for i := range n.Sets {
		if n.Sets[i].Type == t {
			return n.Sets[i].RRs
		}
	}
	return nil
}

// Has says whether the node has records of type t.
func (n *Node) Has(t uint16) bool { return n.RRset(t) != nil }

// IsApex says whether the node is its zone's apex.
func (n *Node) IsApex() bool { return n.Parent == nil }

// Empty says whether the node is an empty non-terminal.
func (n *Node) Empty() bool { return len(n.Sets) == 0 }

// IsDelegation says whether the node is a zone cut (NS records below the apex).
func (n *Node) IsDelegation() bool { return n.Cut == n }

// memoEntry is one answer kept on a node, the template held by value so that a hit reads the node,
// the entry and the template's bytes and nothing else.
type memoEntry struct {
	key uint32
	// with is the other node the answer depends on, for answers that carry a denial of
	// existence: the same covering NSEC serves names under several closest enclosers.
	with *Node
	tmpl wire.Template
}

// memo holds the answers of a node beyond the first. It is replaced, never changed, so readers need
// no lock.
type memo struct {
	entries []*memoEntry
}

// MaxMemo bounds the answers kept per node, so queries for many types cannot grow memory without
// limit; answers past it are built for each query.
const MaxMemo = 12

// Memo returns the answer stored under key and with (nil for most answers), or nil.
func (n *Node) Memo(key uint32, with *Node) *wire.Template {
	if e := n.first.Load(); e != nil && e.key == key && e.with == with {
		return &e.tmpl
	}
	m := n.memo.Load()
	if m == nil {
		return nil
	}
	for _, e := range m.entries {
		if e.key == key && e.with == with {
			return &e.tmpl
		}
	}
	return nil
}

// SetMemo stores a copy of t under key and with, unless the node already holds MaxMemo answers,
// and returns the stored template (t itself when it was not stored).
func (n *Node) SetMemo(key uint32, with *Node, t *wire.Template) *wire.Template {
	e := &memoEntry{key: key, with: with, tmpl: *t}
	if n.first.CompareAndSwap(nil, e) {
		return &e.tmpl
	}
	for range 8 { // a lost race retries; past that the answer simply is not kept
		old := n.memo.Load()
		next := &memo{}
		if old != nil {
			if len(old.entries) >= MaxMemo-1 {
				return t
			}
			next.entries = append(make([]*memoEntry, 0, len(old.entries)+1), old.entries...)
		}
		for _, o := range next.entries {
			if o.key == key && o.with == with {
				return &o.tmpl
			}
		}
		next.entries = append(next.entries, e)
		if n.memo.CompareAndSwap(old, next) {
			return &e.tmpl
		}
	}
	return t
}

// All yields every record of the zone, the SOA first, then the rest node by node in no particular
// order. The records are the zone's own: callers must not change them.
func (z *Zone) All() iter.Seq[dns.RR] { return z.all }

func (z *Zone) all(yield func(dns.RR) bool) {
	if !yield(z.SOA) {
		return
	}
	for _, n := range z.order {
		for _, set := range n.Sets {
			for _, rr := range set.RRs {
				if rr == dns.RR(z.SOA) {
					continue
				}
				if !yield(rr) {
					return
				}
			}
		}
	}
}

// Diff is the change from one version of a zone to the next, as IXFR (RFC 1995) and the journal
// carry it: the SOA of the version it applies to, the records it removes, the SOA of the version
// it makes, the records it adds. Removed and Added hold no SOA record.
type Diff struct {
	From    *dns.SOA
	Removed []dns.RR
	To      *dns.SOA
	Added   []dns.RR
}
