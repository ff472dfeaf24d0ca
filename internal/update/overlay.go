package update

import (
	"slices"
	"strings"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

// overlay is the zone as an update sees it part-way through: the zone's own RRsets, shadowed by the
// RRsets the update has changed so far. Only changed RRsets are held, so an update that touches a
// few names of a zone of millions of records costs a few map entries, and the zone is never copied
// or written to.
type overlay struct {
	z   *zone.Zone
	soa *dns.SOA // the SOA the zone will have; z.SOA until an update replaces it
	// edits holds the changed names by lower-case wire key; order lists the keys in the order they
	// were first changed, so the diff comes out the same way every time.
	edits map[string]*nameEdit
	order []string
}

// nameEdit is the changed RRsets of one owner name. A type mapped to an empty slice is an RRset the
// update deleted; a type missing from sets is as the zone has it.
type nameEdit struct {
	name string // presentation form, lower-case
	sets map[uint16][]dns.RR
	// types lists the keys of sets in the order they were first changed.
	types []uint16
}

func newOverlay(z *zone.Zone) *overlay {
	return &overlay{z: z, soa: z.SOA, edits: make(map[string]*nameEdit)}
}

// rrset returns the records of type t at the name with wire key key. The slice is shared: callers
// build a new one rather than change it.
func (o *overlay) rrset(key string, t uint16) []dns.RR {
	if e := o.edits[key]; e != nil {
		if rrs, ok := e.sets[t]; ok {
			return rrs
		}
	}
	if n := o.z.Node(key); n != nil {
		return n.RRset(t)
	}
	return nil
}

// types returns the types that have records at key.
func (o *overlay) types(key string) []uint16 {
	var out []uint16
	e := o.edits[key]
	if n := o.z.Node(key); n != nil {
		for _, s := range n.Sets {
			if e == nil {
				out = append(out, s.Type)
			} else if rrs, ok := e.sets[s.Type]; !ok || len(rrs) > 0 {
				out = append(out, s.Type)
			}
		}
	}
	if e != nil {
		for _, t := range e.types {
			if len(e.sets[t]) > 0 && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// inUse says whether the name has any records. An empty non-terminal has none, so it is not in use
// (RFC 2136 §2.4.4 speaks of RRs, and Knot and BIND agree).
func (o *overlay) inUse(key string) bool {
	if e := o.edits[key]; e != nil {
		for _, t := range e.types {
			if len(e.sets[t]) > 0 {
				return true
			}
		}
	}
	n := o.z.Node(key)
	if n == nil {
		return false
	}
	e := o.edits[key]
	for _, s := range n.Sets {
		if e == nil {
			return true
		}
		if rrs, ok := e.sets[s.Type]; !ok || len(rrs) > 0 {
			return true
		}
	}
	return false
}

// set replaces the RRset of type t at key (name is its presentation form); nil deletes it.
func (o *overlay) set(key, name string, t uint16, rrs []dns.RR) {
	e := o.edits[key]
	if e == nil {
		e = &nameEdit{name: name, sets: make(map[uint16][]dns.RR, 2)}
		o.edits[key] = e
		o.order = append(o.order, key)
	}
	if _, ok := e.sets[t]; !ok {
		e.types = append(e.types, t)
	}
	if rrs == nil {
		rrs = []dns.RR{}
	}
	e.sets[t] = rrs
}

// dnameAbove says whether a DNAME sits at a proper ancestor of key, within the zone; data there
// would be unreachable (RFC 6672 §2.3), and the zone checks refuse it.
func (o *overlay) dnameAbove(key string) bool {
	for k := key; len(k) > len(o.z.Key); {
		k = k[int(k[0])+1:]
		if len(o.rrset(k, dns.TypeDNAME)) > 0 {
			return true
		}
	}
	return false
}

// dataBelow says whether any proper descendant of key has records. A name the zone does not hold
// has no descendants in it (the zone holds every ancestor of its names, as empty non-terminals if
// need be), so only names the update added are looked at; otherwise every name of the zone is,
// which only a DNAME addition at an existing name costs.
func (o *overlay) dataBelow(key string) bool {
	for _, k := range o.order {
		if isProperDescendant(k, key) && o.inUse(k) {
			return true
		}
	}
	if o.z.Node(key) == nil {
		return false
	}
	for n := range o.z.Nodes() {
		if k := n.Key; strings.HasSuffix(k, key) && !n.Empty() && isProperDescendant(k, key) && o.inUse(k) {
			return true
		}
	}
	return false
}

// isProperDescendant says whether the lower-case wire name k lies strictly below anc, comparing
// whole labels.
func isProperDescendant(k, anc string) bool {
	if len(k) <= len(anc) {
		return false
	}
	for len(k) > len(anc) {
		k = k[int(k[0])+1:]
	}
	return k == anc
}
