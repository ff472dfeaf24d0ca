// Package zone reads RFC 1035 master files into an immutable zone: an index of nodes keyed by the
// owner name in lower-case wire form, each with its RRsets, its parent and the delegation it sits
// under. A change (Apply) makes a new version that shares the nodes and the parts of the index the
// change leaves alone.
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
	Name string // presentation form, lower-case
	Key  string // wire form, lower-case; the key of Zone.Node
	// Parent is the node of the parent name, nil at the apex. A node is shared by the versions
	// of its zone that leave it alone, and its parent may have been replaced in a later one: read
	// the parent's name from it, and look the parent up in the zone for its records.
	Parent *Node
	Sets   []RRset
	// Cut is the delegation point at or above this node (a non-apex node with NS records), nil when
	// the node is authoritative data of its zone. A version that changes a cut replaces the nodes
	// below it too, so Cut is always the cut of every version the node is in.
	Cut *Node
	// Wildcard is the child "*" of this node (RFC 4592), nil when there is none; kept true in every
	// version as Cut is.
	Wildcard *Node
	// children counts the nodes whose parent this is: a node without records stays in the zone
	// (as an empty non-terminal) only while it has some.
	children int32
	// Hashed marks an NSEC3 owner of a signed zone: it belongs to the NSEC3 chain, not to the
	// name tree, and lookups treat it as a name that does not exist (see dnssec.go).
	Hashed bool
	// (*sigs)[i] holds the RRSIGs covering Sets[i]; nil in unsigned zones. A pointer, so that the
	// nodes of an unsigned zone carry 8 bytes for it rather than a slice header's 24.
	sigs *[][]dns.RR

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
	names  index
	// Records counts the records loaded (after removing duplicates).
	Records int
	// gen tells this version from the others that share its nodes: the answers kept on a node
	// are stamped with the gen of the version they were built for (see Memo).
	gen uint64
	// dnames counts the DNAME records: a zone without them skips looking for data below one.
	dnames int
	// dnssec indexes the DNSSEC records of a signed zone; nil when the zone is not signed.
	dnssec *dnssecIndex
	// order holds the nodes in the order they were made, which is the order they lie in memory
	// (they come from blocks): walking the whole zone through it reads memory front to back,
	// where walking the map jumps at random, a cache miss a node (half the time of an AXFR).
	order []*Node
}

// lastGen hands out Zone.gen: a newer version always has a greater one.
var lastGen atomic.Uint64

// Node returns the node of the lower-case wire name key, or nil.
func (z *Zone) Node(key string) *Node { return z.names.get(key) }

// NodeOf is Node for a name in a buffer; it does not allocate.
func (z *Zone) NodeOf(key []byte) *Node { return z.names.getBytes(key) }

// NodeCount is the number of names in the zone, empty non-terminals included.
func (z *Zone) NodeCount() int { return z.names.count }

// Nodes yields every node of the zone in the order they lie in memory (see Zone.order).
func (z *Zone) Nodes() iter.Seq[*Node] {
	return func(yield func(*Node) bool) {
		for _, n := range z.order {
			if !yield(n) {
				return
			}
		}
	}
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
	gen uint64 // the Zone.gen of the version it was built for
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

// Memo returns the answer for version z stored under key and with (nil for most answers), or nil.
// An answer depends on more than its node (the SOA of a negative answer, glue, a CNAME's target,
// the chain of a denial), so one built for another version of the zone is not used.
func (n *Node) Memo(z *Zone, key uint32, with *Node) *wire.Template {
	if e := n.first.Load(); e != nil && e.gen == z.gen && e.key == key && e.with == with {
		return &e.tmpl
	}
	m := n.memo.Load()
	if m == nil {
		return nil
	}
	for _, e := range m.entries {
		if e.gen == z.gen && e.key == key && e.with == with {
			return &e.tmpl
		}
	}
	return nil
}

// SetMemo stores a copy of t, the answer for version z, under key and with, unless the node
// already holds MaxMemo answers for z, and returns the stored template (t itself when it was not
// stored). Answers of older versions make room for it; a version older than one already stored
// keeps its answers unstored (readers still on it are few and leaving soon).
func (n *Node) SetMemo(z *Zone, key uint32, with *Node, t *wire.Template) *wire.Template {
	e := &memoEntry{gen: z.gen, key: key, with: with, tmpl: *t}
	for range 8 { // a lost race retries; past that the answer simply is not kept
		first := n.first.Load()
		if first != nil && first.gen >= z.gen {
			break
		}
		if n.first.CompareAndSwap(first, e) {
			return &e.tmpl
		}
	}
	for range 8 {
		old := n.memo.Load()
		next := &memo{}
		if old != nil {
			next.entries = make([]*memoEntry, 0, len(old.entries)+1)
			for _, o := range old.entries {
				switch {
				case o.gen > z.gen:
					return t
				case o.gen < z.gen:
					continue // built for a version no longer served
				case o.key == key && o.with == with:
					return &o.tmpl
				}
				next.entries = append(next.entries, o)
			}
			if len(next.entries) >= MaxMemo-1 {
				return t
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
