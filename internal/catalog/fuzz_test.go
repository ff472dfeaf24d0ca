package catalog

import (
	"slices"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

// FuzzParse: a catalog arrives from another server, so no zone may make Parse panic; what it
// accepts is one entry per zone, sorted, and survives being produced and parsed again.
func FuzzParse(f *testing.F) {
	f.Add([]byte(head + version + "m1.zones 0 PTR one.test.\ngroup.m1.zones 0 TXT \"g\"\ncoo.m1.zones 0 PTR new.\n"))
	f.Add([]byte(head + version + "a.zones 0 PTR x.\nb.zones 0 PTR x.\n"))
	f.Add([]byte(head + "version 0 TXT \"1\"\n"))
	f.Add([]byte(head + version + "m.zones 0 PTR a.\nm.zones 0 PTR b.\ngroup.m.zones 0 TXT \"a\" \"b\"\nx.ext.m.zones 0 TXT \"e\"\n"))
	f.Add([]byte(head + version + "group.m.zones 0 TXT \"\\\"\"\nm.zones 0 PTR Q.\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rrs []dns.RR
		zp := dns.NewZoneParser(strings.NewReader(string(data)), "catalog.test.", "fuzz")
		for rr, ok := zp.Next(); ok && len(rrs) < 1000; rr, ok = zp.Next() {
			rrs = append(rrs, rr)
		}
		z, _, err := zone.Build("catalog.test.", "fuzz", rrs)
		if err != nil {
			return
		}
		members, err := Parse(z)
		if err != nil {
			if members != nil {
				t.Fatalf("members beside the error %v", err)
			}
			return
		}
		for i, m := range members {
			if m.Zone == "" || m.Zone != strings.ToLower(m.Zone) || !strings.HasSuffix(m.Zone, ".") {
				t.Fatalf("member zone %q is not a lower-case FQDN", m.Zone)
			}
			if m.ID == "" || strings.Contains(m.ID, ".") {
				t.Fatalf("member %s: ID %q is not one label", m.Zone, m.ID)
			}
			if i > 0 && members[i-1].Zone >= m.Zone {
				t.Fatalf("members not sorted or not unique: %q then %q", members[i-1].Zone, m.Zone)
			}
		}
		again, err := Produce(z.Origin, z.SOA, members)
		if err != nil {
			return // a group or ID this package would not write itself
		}
		z2, _, err := zone.Build(z.Origin, "produced", again)
		if err != nil {
			t.Fatalf("produced catalog does not build: %v", err)
		}
		back, err := Parse(z2)
		if err != nil {
			t.Fatalf("produced catalog does not parse: %v", err)
		}
		if !slices.Equal(back, members) {
			t.Fatalf("round trip\n got %+v\nwant %+v", back, members)
		}
	})
}
