package update

import (
	"fmt"

	"codeberg.org/miekg/dns"
)

// rrsetPrereq collects the class IN prerequisites of one name and type (§2.4.2): the zone's RRset
// must hold exactly these records.
type rrsetPrereq struct {
	first int // 1-based position of the first record, for the Reason
	rr    dns.RR
	name  string
	key   string
	rrs   []dns.RR // normalised (class IN, lower-case owner), without duplicates
}

// checkPrereqs applies §3.2 to the zone before any update. empty says which records came with
// RDLENGTH zero.
func checkPrereqs(o *overlay, prereqs []dns.RR, empty []bool) (Result, bool) {
	var sets []*rrsetPrereq
	for i, rr := range prereqs {
		where := fmt.Sprintf("prerequisite %d: %s", i+1, describe(rr))
		h := rr.Header()
		if h.TTL != 0 {
			return fail(dns.RcodeFormatError, where, "TTL %d, want 0 (RFC 2136 §3.2.1)", h.TTL)
		}
		name, key, inZone, plain := ownerKey(o.z, rr)
		if !inZone {
			return fail(dns.RcodeNotZone, where, "name is outside zone %s", o.z.Origin)
		}
		t := dns.RRToType(rr)
		switch h.Class {
		case dns.ClassANY:
			if !empty[i] {
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
			if !empty[i] {
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
			sets = addRRsetPrereq(sets, i+1, rr, name, key, t)
		default:
			return fail(dns.RcodeFormatError, where, "class %d is not IN, ANY or NONE", h.Class)
		}
	}
	// RRsets are compared only once every prerequisite record has been read (§3.2.5).
	for _, p := range sets {
		if !sameRdataSet(p.rrs, o.rrset(p.key, dns.RRToType(p.rr))) {
			where := fmt.Sprintf("prerequisite %d: %s", p.first, describe(p.rr))
			if len(o.rrset(p.key, dns.RRToType(p.rr))) == 0 {
				return fail(dns.RcodeNXRrset, where, "RRset does not exist")
			}
			return fail(dns.RcodeNXRrset, where, "RRset differs from the zone's")
		}
	}
	return Result{}, true
}

func addRRsetPrereq(sets []*rrsetPrereq, pos int, rr dns.RR, name, key string, t uint16) []*rrsetPrereq {
	n := normalise(rr, name)
	for _, p := range sets {
		if p.name == name && dns.RRToType(p.rr) == t {
			if indexRdata(p.rrs, n) < 0 {
				p.rrs = append(p.rrs, n)
			}
			return sets
		}
	}
	return append(sets, &rrsetPrereq{first: pos, rr: rr, name: name, key: key, rrs: []dns.RR{n}})
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

// normalise returns a copy of rr as zone data: owner lower-case, class IN.
func normalise(rr dns.RR, name string) dns.RR {
	c := rr.Clone()
	h := c.Header()
	h.Name = name
	h.Class = dns.ClassINET
	return c
}
