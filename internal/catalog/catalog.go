// Package catalog reads and writes catalog zones (RFC 9432, schema version 2): ordinary zones whose
// records list the member zones a primary serves, so that secondaries learn which zones to serve by
// transferring one zone. It does no I/O: the zone manager transfers the catalog, hands the built zone
// to Parse, and applies what Compare says changed; a primary publishes the records of Produce.
package catalog

import (
	"fmt"
	"slices"
	"strings"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
	"warden/internal/zone"
)

// Member is one member zone of a catalog.
type Member struct {
	Zone string // member zone, lower-case FQDN
	ID   string // the unique label under zones.<catalog> (RFC 9432 §4.2)
	// Group is the "group" property (§4.4.2), "" when none. It is the TXT character-string as the
	// zone file writes it between quotes (`"` and `\` escaped); a TXT of several strings gives them
	// joined by one space.
	Group string
	COO   string // change-of-ownership target catalog (§4.4.1), lower-case FQDN, "" when none
}

// Version is the catalog schema version this package reads and writes (RFC 9432 §4.3.1).
const Version = "2"

// Labels and property names of the catalog schema.
const (
	zonesLabel   = "zones"
	versionLabel = "version"
	groupProp    = "group"
	cooProp      = "coo"
)

// Parse reads the members of catalog zone z. A broken catalog (RFC 9432 §5.1) is an error naming
// the record that breaks it, and no members: the consumer must then keep what it serves, never
// apply part of a catalog. The broken cases are a missing version.<catalog> TXT, one holding more
// than one record or any value but "2", a member node or coo property with more than one PTR, and
// two member nodes naming the same zone. Records the schema does not know (other types, unknown
// and custom properties) are ignored, as §4.3 and §4.5 ask. The result is sorted by Zone.
func Parse(z *zone.Zone) ([]Member, error) {
	if z == nil || z.SOA == nil {
		return nil, fmt.Errorf("catalog: no zone")
	}
	if err := checkVersion(z); err != nil {
		return nil, err
	}
	zones := zonesLabel + "." + z.Origin
	if z.Origin == "." {
		zones = zonesLabel + "."
	}
	// Nodes are visited in name order so that a catalog broken in several places always reports
	// the same record first.
	var nodes []*zone.Node
	for n := range z.Nodes() {
		if strings.HasSuffix(n.Name, "."+zones) {
			nodes = append(nodes, n)
		}
	}
	slices.SortFunc(nodes, func(a, b *zone.Node) int { return strings.Compare(a.Name, b.Name) })

	var found []*Member                    // in node order, so errors below are deterministic too
	props := make(map[string][]*zone.Node) // member ID → its property nodes
	for _, n := range nodes {
		labels := strings.Split(strings.TrimSuffix(n.Name, "."+zones), ".")
		switch len(labels) {
		case 1:
			m, err := member(z, n, labels[0])
			if err != nil {
				return nil, err
			}
			if m != nil {
				found = append(found, m)
			}
		case 2:
			props[labels[1]] = append(props[labels[1]], n)
		}
		// Deeper names are custom properties (ext.<id>) or unknown ones: ignored.
	}

	members := make([]Member, 0, len(found))
	for _, m := range found {
		for _, n := range props[m.ID] {
			if err := property(z, n, m); err != nil {
				return nil, err
			}
		}
		members = append(members, *m)
	}
	slices.SortFunc(members, func(a, b Member) int {
		if c := strings.Compare(a.Zone, b.Zone); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for i := 1; i < len(members); i++ {
		if a, b := members[i-1], members[i]; a.Zone == b.Zone {
			return nil, fmt.Errorf("catalog %s: %s is listed twice, by %s.%s and %s.%s (RFC 9432 §4.2)",
				z.Origin, a.Zone, a.ID, zones, b.ID, zones)
		}
	}
	return members, nil
}

// checkVersion demands exactly one version.<catalog> TXT record holding "2" (RFC 9432 §4.3.1).
func checkVersion(z *zone.Zone) error {
	owner := versionLabel + "." + z.Origin
	if z.Origin == "." {
		owner = versionLabel + "."
	}
	n := lookup(z, owner)
	var txt []dns.RR
	if n != nil {
		txt = n.RRset(dns.TypeTXT)
	}
	switch {
	case len(txt) == 0:
		return fmt.Errorf("catalog %s: no %s TXT record: not a version %s catalog (RFC 9432 §4.3.1)", z.Origin, owner, Version)
	case len(txt) > 1:
		return fmt.Errorf("catalog %s: %s TXT: %d records, want exactly one (RFC 9432 §4.3.1)", z.Origin, owner, len(txt))
	}
	if v := txt[0].(*dns.TXT).Txt; len(v) != 1 || v[0] != Version {
		return fmt.Errorf("catalog %s: %s TXT %s: unsupported catalog version, want %q (RFC 9432 §4.3.1)",
			z.Origin, owner, txt[0].(*dns.TXT).TXT.String(), Version)
	}
	return nil
}

// member reads the member node n with label id: its one PTR names the member zone. A node without
// PTR records is no member (it may hold only properties of a member that is gone, or nothing the
// schema knows), so it yields nil.
func member(z *zone.Zone, n *zone.Node, id string) (*Member, error) {
	ptr := n.RRset(dns.TypePTR)
	switch {
	case len(ptr) == 0:
		return nil, nil
	case len(ptr) > 1:
		return nil, fmt.Errorf("catalog %s: %s PTR: %d records, a member node holds exactly one (RFC 9432 §4.2)", z.Origin, n.Name, len(ptr))
	}
	target, err := name(ptr[0].(*dns.PTR).Ptr)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %s PTR: member zone %w", z.Origin, n.Name, err)
	}
	return &Member{Zone: target, ID: id}, nil
}

// property applies the property node n (<prop>.<id>.zones.<catalog>) to m.
func property(z *zone.Zone, n *zone.Node, m *Member) error {
	prop, _, _ := strings.Cut(n.Name, ".")
	switch prop {
	case groupProp:
		// A member may carry several groups (§4.4.2) and the consumer chooses which to use; the
		// least in sort order is taken, so the choice does not depend on record order.
		for _, rr := range n.RRset(dns.TypeTXT) {
			g := strings.Join(rr.(*dns.TXT).Txt, " ")
			if m.Group == "" || g < m.Group {
				m.Group = g
			}
		}
	case cooProp:
		ptr := n.RRset(dns.TypePTR)
		switch {
		case len(ptr) == 0:
			return nil
		case len(ptr) > 1:
			return fmt.Errorf("catalog %s: %s PTR: %d records, the coo property holds exactly one (RFC 9432 §4.4.1)", z.Origin, n.Name, len(ptr))
		}
		target, err := name(ptr[0].(*dns.PTR).Ptr)
		if err != nil {
			return fmt.Errorf("catalog %s: %s PTR: coo target %w", z.Origin, n.Name, err)
		}
		m.COO = target
	}
	return nil
}

// name returns a PTR target as a lower-case FQDN, refusing escapes as zone loading does: a member
// zone whose name needs them could not be loaded.
func name(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("name is empty")
	}
	if strings.Contains(s, `\`) {
		return "", fmt.Errorf("%s: escapes in names are not supported", s)
	}
	s = strings.ToLower(s)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	if _, err := wire.AppendName(nil, s); err != nil {
		return "", err
	}
	return s, nil
}

// lookup returns the node of z with the lower-case presentation name, or nil.
func lookup(z *zone.Zone, name string) *zone.Node {
	key, err := wire.AppendName(nil, name)
	if err != nil {
		return nil
	}
	return z.NodeOf(key)
}
