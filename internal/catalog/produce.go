package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/rdata"

	"warden/internal/wire"
)

// Produce builds the records of catalog zone origin listing members, ready for zone.Build: the SOA
// (soa's data with origin as owner), NS invalid. (RFC 9432 §4.1: a catalog is not for resolvers),
// version TXT "2", one PTR per member and its group TXT and coo PTR where set. A member without an
// ID gets MemberID of its name, so adding a zone never renumbers the others and a consumer never
// resets a zone it already serves. Catalog records other than the SOA have TTL 0 (§4.2: the TTL
// has no meaning there). Members are written in Zone order, so the same list gives the same records.
//
// A member list that would make a broken catalog (a zone listed twice, two members sharing an ID,
// a name or group that cannot be written) is an error naming the member, and no records.
func Produce(origin string, soa *dns.SOA, members []Member) ([]dns.RR, error) {
	origin = strings.ToLower(origin)
	if _, err := wire.AppendName(nil, origin); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", origin, err)
	}
	if strings.Contains(origin, `\`) {
		return nil, fmt.Errorf("catalog %s: escapes in names are not supported", origin)
	}
	if soa == nil {
		return nil, fmt.Errorf("catalog %s: no SOA record", origin)
	}
	list, err := normalize(origin, members)
	if err != nil {
		return nil, err
	}

	zones := zonesLabel + "." + origin
	version := versionLabel + "." + origin
	if origin == "." {
		zones, version = zonesLabel+".", versionLabel+"."
	}
	head := func(owner string) dns.Header { return dns.Header{Name: owner, Class: dns.ClassINET} }
	apex := soa.Clone().(*dns.SOA)
	apex.Hdr.Name, apex.Hdr.Class = origin, dns.ClassINET

	rrs := make([]dns.RR, 0, 3+len(list)*2)
	rrs = append(rrs,
		apex,
		&dns.NS{Hdr: head(origin), NS: rdata.NS{Ns: "invalid."}},
		&dns.TXT{Hdr: head(version), TXT: rdata.TXT{Txt: []string{Version}}},
	)
	for _, m := range list {
		node := m.ID + "." + zones
		rrs = append(rrs, &dns.PTR{Hdr: head(node), PTR: rdata.PTR{Ptr: m.Zone}})
		if m.Group != "" {
			rrs = append(rrs, &dns.TXT{Hdr: head(groupProp + "." + node), TXT: rdata.TXT{Txt: []string{m.Group}}})
		}
		if m.COO != "" {
			rrs = append(rrs, &dns.PTR{Hdr: head(cooProp + "." + node), PTR: rdata.PTR{Ptr: m.COO}})
		}
	}
	return rrs, nil
}

// MemberID is the member node label Produce gives zone when its Member has no ID: the first 64 bits
// of the SHA-256 of the lower-case wire-form name, in hex. It depends on the name alone, as Knot's
// IDs do, so a producer that restarts or rebuilds its list keeps every ID.
func MemberID(zone string) string {
	key, err := wire.AppendName(nil, strings.ToLower(zone))
	if err != nil {
		key = []byte(strings.ToLower(zone)) // Produce rejects such names before using the ID
	}
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// normalize checks members and returns a copy with lower-case names and IDs filled in, sorted by
// Zone.
func normalize(origin string, members []Member) ([]Member, error) {
	list := make([]Member, 0, len(members))
	for _, m := range members {
		z, err := name(m.Zone)
		if err != nil {
			return nil, fmt.Errorf("catalog %s: member %w", origin, err)
		}
		m.Zone = z
		if m.ID == "" {
			m.ID = MemberID(z)
		}
		if err := checkID(m.ID); err != nil {
			return nil, fmt.Errorf("catalog %s: member %s: %w", origin, z, err)
		}
		if m.COO != "" {
			if m.COO, err = name(m.COO); err != nil {
				return nil, fmt.Errorf("catalog %s: member %s: coo %w", origin, z, err)
			}
		}
		if err := checkGroup(m.Group); err != nil {
			return nil, fmt.Errorf("catalog %s: member %s: %w", origin, z, err)
		}
		list = append(list, m)
	}
	slices.SortFunc(list, func(a, b Member) int { return strings.Compare(a.Zone, b.Zone) })
	ids := make(map[string]string, len(list))
	for i, m := range list {
		if i > 0 && list[i-1].Zone == m.Zone {
			return nil, fmt.Errorf("catalog %s: member %s is listed twice (RFC 9432 §4.2)", origin, m.Zone)
		}
		if other, ok := ids[m.ID]; ok {
			return nil, fmt.Errorf("catalog %s: members %s and %s share the ID %q (RFC 9432 §4.2)", origin, other, m.Zone, m.ID)
		}
		ids[m.ID] = m.Zone
	}
	return list, nil
}

// checkID accepts an ID that is one label of a name the zone parser and Build take as written:
// lower-case, no dots, no escapes.
func checkID(id string) error {
	switch {
	case len(id) > 63:
		return fmt.Errorf("ID %q is longer than a label (63 bytes)", id)
	case strings.ContainsAny(id, `.\ "();`) || id != strings.ToLower(id):
		return fmt.Errorf("ID %q is not a lower-case label without dots, spaces or escapes", id)
	}
	return nil
}

// checkGroup accepts a group that reads back as exactly itself from a zone file's TXT string: one
// character-string of at most 255 bytes, with `"` and `\` escaped.
func checkGroup(g string) error {
	if g == "" {
		return nil
	}
	rr, err := dns.New(`group. 0 IN TXT "` + g + `"`)
	if err != nil {
		return fmt.Errorf("group %q: %w", g, err)
	}
	if txt := rr.(*dns.TXT).Txt; len(txt) != 1 || txt[0] != g {
		return fmt.Errorf("group %q is not one TXT character-string of at most 255 bytes", g)
	}
	return nil
}
