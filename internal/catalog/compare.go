package catalog

import (
	"slices"
	"strings"
)

// Changes is what a new version of a catalog asks of a consumer, each list sorted by Zone.
type Changes struct {
	Added   []Member // zones to start serving
	Removed []Member // zones to stop serving (the old member: its ID names the state to drop)
	// Reset holds members listed in both versions under a different ID (the new member). RFC 9432
	// §5.4 makes that a removal and an addition: the zone's state is dropped and it is transferred
	// again from scratch.
	Reset []Member
	// Changed holds members with the same ID whose group or coo property changed (the new member):
	// the zone is kept, but its configuration follows the new group, and a new coo starts a
	// migration (§5.5).
	Changed []Member
}

// Empty says whether the versions list the same members with the same properties.
func (c Changes) Empty() bool {
	return len(c.Added)+len(c.Removed)+len(c.Reset)+len(c.Changed) == 0
}

// Compare says how the member list next differs from old. Members are matched by Zone; both lists
// are as Parse returns them (one entry per zone).
func Compare(old, next []Member) Changes {
	before := make(map[string]Member, len(old))
	for _, m := range old {
		before[m.Zone] = m
	}
	var c Changes
	seen := make(map[string]bool, len(next))
	for _, m := range next {
		seen[m.Zone] = true
		o, ok := before[m.Zone]
		switch {
		case !ok:
			c.Added = append(c.Added, m)
		case o.ID != m.ID:
			c.Reset = append(c.Reset, m)
		case o.Group != m.Group || o.COO != m.COO:
			c.Changed = append(c.Changed, m)
		}
	}
	for _, m := range old {
		if !seen[m.Zone] {
			c.Removed = append(c.Removed, m)
		}
	}
	for _, l := range []*[]Member{&c.Added, &c.Removed, &c.Reset, &c.Changed} {
		slices.SortFunc(*l, func(a, b Member) int { return strings.Compare(a.Zone, b.Zone) })
	}
	return c
}
