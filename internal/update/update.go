// Package update gives dynamic update (RFC 2136) its meaning: Apply takes a zone and a parsed
// UPDATE message and returns the response code and the change to make, as a zone.Diff, without
// touching the zone or doing any I/O. The server checks TSIG and the update ACL first, and
// afterwards journals the diff, swaps in the new zone and tells secondaries; none of that is here,
// so every rule of the RFC can be tested as a plain function of its inputs.
package update

import (
	"fmt"
	"strings"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"

	"warden/internal/wire"
	"warden/internal/zone"
)

// Result is the outcome of one UPDATE message.
type Result struct {
	// Rcode is the response code: NOERROR, or FORMERR, NOTAUTH, NOTZONE, NXDOMAIN, YXDOMAIN,
	// NXRRSET, YXRRSET or REFUSED when the update failed.
	Rcode uint16
	// Diff is the change to make to the zone; nil when the update failed or changed nothing.
	Diff *zone.Diff
	// Reason says why a failure failed, naming the section, the record's position and the record;
	// empty on success.
	Reason string
}

// Apply evaluates the UPDATE message m against z, following RFC 2136 §3 in order: the zone
// section (§3.1), the prerequisites (§3.2), the prescan of the update section (§3.4.1) and the
// updates themselves (§3.4.2), each seeing the effect of those before it. z is not changed. When
// something changed, the new SOA serial is the old one plus one (RFC 1982), unless the update set
// a newer SOA itself.
func Apply(z *zone.Zone, m *dns.Msg) Result {
	if r, ok := checkZoneSection(z, m); !ok {
		return r
	}
	prereqs, updates := sections(m)
	o := newOverlay(z)
	if r, ok := checkPrereqs(o, prereqs); !ok {
		return r
	}
	ups, r, ok := prescan(z, updates)
	if !ok {
		return r
	}
	for _, u := range ups {
		o.apply(u)
	}
	return Result{Rcode: dns.RcodeSuccess, Diff: o.diff()}
}

// fail makes a failed result; where names the record ("prerequisite 2: www.example. A").
func fail(rcode uint16, where, format string, args ...any) (Result, bool) {
	return Result{Rcode: rcode, Reason: where + ": " + fmt.Sprintf(format, args...)}, false
}

// checkZoneSection applies §3.1.1: exactly one zone, of type SOA; a zone other than z (by name or
// class) is one this server is not authoritative for.
func checkZoneSection(z *zone.Zone, m *dns.Msg) (Result, bool) {
	if m.Opcode != dns.OpcodeUpdate {
		return fail(dns.RcodeFormatError, "header", "opcode %s is not UPDATE", dnsutil.OpcodeToString(m.Opcode))
	}
	if len(m.Question) != 1 {
		return fail(dns.RcodeFormatError, "zone section", "%d records, want exactly 1", len(m.Question))
	}
	q := m.Question[0]
	name := q.Header().Name
	if t := rrType(q); t != dns.TypeSOA {
		return fail(dns.RcodeFormatError, "zone section", "%s type %s, want SOA", name, typeString(t))
	}
	if c := q.Header().Class; c != dns.ClassINET {
		return fail(dns.RcodeNotAuth, "zone section", "%s class %s: not a zone served here", name, dnsutil.ClassToString(c))
	}
	if !strings.EqualFold(name, z.Origin) {
		return fail(dns.RcodeNotAuth, "zone section", "%s is not zone %s", name, z.Origin)
	}
	return Result{}, true
}

// ownerKey returns the lower-case owner of rr and its wire key, and says whether the owner lies in
// z. A name that needs escapes in presentation form cannot be in a zone (the zone checks refuse
// such names), so it counts as outside for lookups; prescan refuses it for additions.
func ownerKey(z *zone.Zone, rr dns.RR) (name, key string, inZone, plain bool) {
	name = strings.ToLower(rr.Header().Name)
	if !isBelow(z.Origin, name) {
		return name, "", false, false
	}
	if strings.Contains(name, `\`) {
		return name, "", true, false
	}
	k, err := wire.AppendName(nil, name)
	if err != nil {
		return name, "", true, false
	}
	return name, string(k), true, true
}

// isBelow says whether child (lower-case, fully qualified) is parent or below it.
func isBelow(parent, child string) bool {
	return parent == "." || child == parent || strings.HasSuffix(child, "."+parent)
}

// describe names a record for a Reason: owner, class when not IN, type.
func describe(r record) string {
	h := r.rr.Header()
	t := typeString(r.typ)
	if h.Class == dns.ClassINET {
		return h.Name + " " + t
	}
	return h.Name + " " + dnsutil.ClassToString(h.Class) + " " + t
}

func typeString(t uint16) string { return dnsutil.TypeToString(t) }

// isMeta says whether t is a meta or query type, which can never be zone data: the types RFC 2136
// §3.4.1.3 names (ANY, AXFR, MAILA, MAILB), the rest of the meta range (RFC 6895 §3.1) and OPT,
// and SIG, which in an update is a SIG(0) transaction signature (RFC 2931), as Knot treats it.
func isMeta(t uint16) bool {
	return t == dns.TypeOPT || t == dns.TypeSIG || (t >= 128 && t <= 255)
}

// rrType returns the type of rr. dns.RRToType answers 0 for a record of a type miekg/dns does not
// know (held as RFC 3597 unknown data), which would lump every such type together.
func rrType(rr dns.RR) uint16 {
	if u, ok := rr.(*dns.RFC3597); ok {
		return u.RRType
	}
	return dns.RRToType(rr)
}
