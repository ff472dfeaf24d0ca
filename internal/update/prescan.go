package update

import (
	"fmt"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

// kind is what one update record asks for (§2.5).
type kind uint8

const (
	addRR       kind = iota // class IN: add to an RRset (§2.5.1)
	deleteRRset             // class ANY, a type: delete an RRset (§2.5.2)
	deleteName              // class ANY, type ANY: delete all RRsets of a name (§2.5.3)
	deleteRR                // class NONE: delete one RR (§2.5.4)
)

// change is one update record, checked and normalised.
type change struct {
	kind kind
	name string // owner, presentation form, lower-case
	// key is the owner's wire key, "" when the owner cannot be a zone name (it needs escapes);
	// deletions there delete nothing.
	key string
	typ uint16
	rr  dns.RR // the record as zone data (class IN, lower-case owner), for addRR and deleteRR
}

// prescan applies §3.4.1.3 to every update record before any is applied, so that a bad record
// late in the message leaves the zone as it was.
func prescan(z *zone.Zone, updates []record) ([]change, Result, bool) {
	out := make([]change, 0, len(updates))
	for i, r := range updates {
		where := fmt.Sprintf("update %d: %s", i+1, describe(r))
		h := r.rr.Header()
		name, key, inZone, plain := ownerKey(z, r.rr)
		if !inZone {
			r, _ := fail(dns.RcodeNotZone, where, "name is outside zone %s", z.Origin)
			return nil, r, false
		}
		t := r.typ
		c := change{name: name, key: key, typ: t}
		var bad string
		switch h.Class {
		case dns.ClassINET:
			c.kind, c.rr = addRR, normalise(r, name)
			switch {
			case isMeta(t):
				bad = "type " + typeString(t) + " cannot be added"
			case r.empty:
				bad = "RDATA is empty"
			}
		case dns.ClassANY:
			c.kind = deleteRRset
			if t == dns.TypeANY {
				c.kind = deleteName
			}
			switch {
			case h.TTL != 0:
				bad = fmt.Sprintf("TTL %d, want 0", h.TTL)
			case !r.empty:
				bad = "RDATA must be empty"
			case isMeta(t) && t != dns.TypeANY:
				bad = "type " + typeString(t) + " cannot be deleted"
			}
		case dns.ClassNONE:
			c.kind, c.rr = deleteRR, normalise(r, name)
			switch {
			case h.TTL != 0:
				bad = fmt.Sprintf("TTL %d, want 0", h.TTL)
			case isMeta(t):
				bad = "type " + typeString(t) + " cannot be deleted"
			}
		default:
			bad = fmt.Sprintf("class %d is not IN, ANY or NONE", h.Class)
		}
		if bad != "" {
			r, _ := fail(dns.RcodeFormatError, where, "%s (RFC 2136 §3.4.1.3)", bad)
			return nil, r, false
		}
		if c.kind == addRR && !plain {
			// The zone checks, the master-file parser and the answer code all refuse names that
			// need escapes; taking one in would make a zone Warden cannot load again.
			r, _ := fail(dns.RcodeRefused, where, "names that need escapes are not supported")
			return nil, r, false
		}
		out = append(out, c)
	}
	return out, Result{}, true
}
