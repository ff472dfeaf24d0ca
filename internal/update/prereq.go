package update

import (
	"fmt"

	"codeberg.org/miekg/dns"
)

// rrsetPrereq collects the class IN prerequisites of one name and type (§2.4.2): the zone's RRset
// must hold exactly these records.
type rrsetPrereq struct {
	first int // 1-based position of the first record, for the Reason
	rec   record
	name  string
	key   string
	rrs   []dns.RR // normalised (class IN, lower-case owner), without duplicates
}

// checkPrereqs applies §3.2 to the zone before any update.
func checkPrereqs(o *overlay, prereqs []record) (Result, bool) {
	var sets []*rrsetPrereq
	for i, r := range prereqs {
		where := fmt.Sprintf("prerequisite %d: %s", i+1, describe(r))
		h := r.rr.Header()
		if h.TTL != 0 {
			return fail(dns.RcodeFormatError, where, "TTL %d, want 0 (RFC 2136 §3.2.1)", h.TTL)
		}
		name, key, inZone, plain := ownerKey(o.z, r.rr)
		if !inZone {
			return fail(dns.RcodeNotZone, where, "name is outside zone %s", o.z.Origin)
		}
		t := r.typ
		switch h.Class {
		case dns.ClassANY:
			if !r.empty {
				return fail(dns.RcodeFormatError, where, "RDATA must be empty (RFC 2136 §2.4.1)")
			}
			if t == dns.TypeANY {
				if !plain || !o.inUse(key) {
					return fail(dns.RcodeNameError, where, "name is not in use")
				}
			} else if !plain || len(o.rrset(key, t)) == 0 {
				return fail(dns.RcodeNXRrset, where, "RRset does not exist")
			}
		case dns.ClassNONE:
			if !r.empty {
				return fail(dns.RcodeFormatError, where, "RDATA must be empty (RFC 2136 §2.4.3)")
			}
			if t == dns.TypeANY {
				if plain && o.inUse(key) {
					return fail(dns.RcodeYXDomain, where, "name is in use")
				}
			} else if plain && len(o.rrset(key, t)) > 0 {
				return fail(dns.RcodeYXRrset, where, "RRset exists")
			}
		case dns.ClassINET:
			sets = addRRsetPrereq(sets, i+1, r, name, key)
		default:
			return fail(dns.RcodeFormatError, where, "class %d is not IN, ANY or NONE", h.Class)
		}
	}
	// RRsets are compared only once every prerequisite record has been read (§3.2.5).
	for _, p := range sets {
		zoneSet := o.rrset(p.key, p.rec.typ)
		if !sameRdataSet(p.rrs, zoneSet) {
			where := fmt.Sprintf("prerequisite %d: %s", p.first, describe(p.rec))
			if len(zoneSet) == 0 {
				return fail(dns.RcodeNXRrset, where, "RRset does not exist")
			}
			return fail(dns.RcodeNXRrset, where, "RRset differs from the zone's")
		}
	}
	return Result{}, true
}

func addRRsetPrereq(sets []*rrsetPrereq, pos int, r record, name, key string) []*rrsetPrereq {
	n := normalise(r, name)
	for _, p := range sets {
		if p.name == name && p.rec.typ == r.typ {
			if indexRdata(p.rrs, n) < 0 {
				p.rrs = append(p.rrs, n)
			}
			return sets
		}
	}
	return append(sets, &rrsetPrereq{first: pos, rec: r, name: name, key: key, rrs: []dns.RR{n}})
}

// sameRdataSet says whether a and b, each without duplicates, hold the same RDATA; TTLs are
// ignored (§2.4.2).
func sameRdataSet(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for _, rr := range a {
		if indexRdata(b, rr) < 0 {
			return false
		}
	}
	return true
}

// indexRdata returns the position in set of the record with rr's RDATA, or -1. Both must be
// normalised (same owner and class).
func indexRdata(set []dns.RR, rr dns.RR) int {
	for i, s := range set {
		if sameRdata(s, rr) {
			return i
		}
	}
	return -1
}
