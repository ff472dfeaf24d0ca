package update

import (
	"slices"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

// apply carries out one checked update record on the overlay (§3.4.2). Records the RFC says to
// ignore are ignored silently: the update as a whole still succeeds.
func (o *overlay) apply(c change) {
	if c.key == "" {
		return // a deletion at a name no zone can hold: nothing to delete
	}
	apex := c.key == o.z.Key
	switch c.kind {
	case addRR:
		o.add(c, apex)
	case deleteName:
		for _, t := range o.types(c.key) {
			if apex && (t == dns.TypeSOA || t == dns.TypeNS) {
				continue // §3.4.2.3: the apex keeps its SOA and NS
			}
			o.set(c.key, c.name, t, nil)
		}
	case deleteRRset:
		if c.typ == dns.TypeSOA || (apex && c.typ == dns.TypeNS) {
			return // §3.4.2.3
		}
		if len(o.rrset(c.key, c.typ)) > 0 {
			o.set(c.key, c.name, c.typ, nil)
		}
	case deleteRR:
		cur := o.rrset(c.key, c.typ)
		if c.typ == dns.TypeSOA || (apex && c.typ == dns.TypeNS && len(cur) == 1) {
			return // §3.4.2.4: never the SOA, never the last NS of the apex
		}
		if i := indexRdata(cur, c.rr); i >= 0 {
			o.set(c.key, c.name, c.typ, slices.Delete(slices.Clone(cur), i, i+1))
		}
	}
}

// add applies §3.4.2.2 to one class IN record.
func (o *overlay) add(c change, apex bool) {
	switch c.typ {
	case dns.TypeSOA:
		// An SOA elsewhere than the apex is ignored, as is one whose serial is not newer.
		soa := c.rr.(*dns.SOA)
		if apex && serialNewer(soa.Serial, o.soa.Serial) {
			o.soa = soa
		}
		return
	case dns.TypeCNAME, dns.TypeDNAME:
		// Both are singletons (RFC 1034 §3.6.2, RFC 6672 §2.4): a new one replaces the old.
		if cur := o.rrset(c.key, c.typ); len(cur) > 0 {
			if len(cur) != 1 || !sameRdata(cur[0], c.rr) || cur[0].Header().TTL != c.rr.Header().TTL {
				o.set(c.key, c.name, c.typ, []dns.RR{c.rr})
			}
			return
		}
		if c.typ == dns.TypeCNAME && len(o.types(c.key)) > 0 {
			return // a CNAME beside other data is ignored (§3.4.2.2)
		}
		if c.typ == dns.TypeDNAME && (len(o.rrset(c.key, dns.TypeCNAME)) > 0 || o.dataBelow(c.key)) {
			return // RFC 6672 §5.2: no DNAME beside a CNAME or above data, as Knot does
		}
		if o.dnameAbove(c.key) {
			return
		}
		o.set(c.key, c.name, c.typ, []dns.RR{c.rr})
		return
	}
	if len(o.rrset(c.key, dns.TypeCNAME)) > 0 || o.dnameAbove(c.key) {
		return // other data beside a CNAME (§3.4.2.2) or below a DNAME is ignored
	}
	cur := o.rrset(c.key, c.typ)
	ttl := c.rr.Header().TTL
	i := indexRdata(cur, c.rr)
	if i >= 0 && cur[0].Header().TTL == ttl {
		return // a duplicate (§3.4.2.2)
	}
	next := make([]dns.RR, 0, len(cur)+1)
	for _, rr := range cur {
		if rr.Header().TTL != ttl {
			// One TTL for the whole RRset (RFC 2181 §5.2): the added record's, as BIND does.
			rr = rr.Clone()
			rr.Header().TTL = ttl
		}
		next = append(next, rr)
	}
	if i < 0 {
		next = append(next, c.rr)
	}
	o.set(c.key, c.name, c.typ, next)
}

// serialNewer says whether serial a is greater than b in RFC 1982 arithmetic; at a distance of
// exactly 2^31 the order is undefined, and such a serial is not taken as newer.
func serialNewer(a, b uint32) bool {
	d := a - b
	return d != 0 && d < 1<<31
}

// diff compares every changed RRset with the zone's and returns the change, or nil when the
// update, all told, changed nothing.
func (o *overlay) diff() *zone.Diff {
	d := &zone.Diff{From: o.z.SOA}
	for _, key := range o.order {
		e := o.edits[key]
		orig := o.z.Node(key)
		for _, t := range e.types {
			var before []dns.RR
			if orig != nil {
				before = orig.RRset(t)
			}
			after := e.sets[t]
			for _, rr := range before {
				if !containsExact(after, rr) {
					d.Removed = append(d.Removed, rr)
				}
			}
			for _, rr := range after {
				if !containsExact(before, rr) {
					d.Added = append(d.Added, rr)
				}
			}
		}
	}
	if len(d.Removed) == 0 && len(d.Added) == 0 && o.soa == o.z.SOA {
		return nil
	}
	if o.soa == o.z.SOA {
		next := o.z.SOA.Clone().(*dns.SOA)
		next.Serial++ // RFC 1982 §3.1: addition wraps modulo 2^32
		d.To = next
	} else {
		d.To = o.soa
	}
	return d
}

// containsExact says whether set holds rr with the same RDATA and TTL.
func containsExact(set []dns.RR, rr dns.RR) bool {
	i := indexRdata(set, rr)
	return i >= 0 && set[i].Header().TTL == rr.Header().TTL
}
