package catalog

import (
	"slices"
	"strings"
	"testing"

	"warden/internal/zone"
)

// head is the part every test catalog shares: apex records as RFC 9432 §4.1 writes them.
const head = `$ORIGIN catalog.test.
@ 0 SOA invalid. invalid. 1 3600 600 86400 0
@ 0 NS invalid.
`

const version = "version 0 TXT \"2\"\n"

func load(t *testing.T, text string) *zone.Zone {
	t.Helper()
	z, _, err := zone.Load("catalog.test.", "catalog.test.zone", []byte(text))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return z
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		zone string
		want []Member
	}{
		{"empty catalog", head + version, []Member{}},
		{"members sorted by zone, names lower-cased", head + version + `
a1.zones 0 PTR Zulu.TEST.
b2.zones 0 PTR alpha.test.
`, []Member{{Zone: "alpha.test.", ID: "b2"}, {Zone: "zulu.test.", ID: "a1"}}},
		{"properties", head + version + `
m1.zones 0 PTR one.test.
group.m1.zones 0 TXT "nodnssec"
coo.m1.zones 0 PTR New.Catalog.
m2.zones 0 PTR two.test.
group.m2.zones 0 TXT "operator-y" "bar"
`, []Member{
			{Zone: "one.test.", ID: "m1", Group: "nodnssec", COO: "new.catalog."},
			{Zone: "two.test.", ID: "m2", Group: "operator-y bar"},
		}},
		{"several groups: the least is taken", head + version + `
m1.zones 0 PTR one.test.
group.m1.zones 0 TXT "zeta"
group.m1.zones 0 TXT "beta"
group.m1.zones 0 TXT "gamma"
`, []Member{{Zone: "one.test.", ID: "m1", Group: "beta"}}},
		{"unknown and custom properties, other types and orphans are ignored", head + version + `
m1.zones 0 PTR one.test.
m1.zones 0 TXT "not a property"
serial.m1.zones 0 TXT "7"
group.m1.zones 0 PTR not.a.group.
coo.m1.zones 0 TXT "not a coo"
flags.knot.ext.m1.zones 0 TXT "x"
group.gone.zones 0 TXT "orphan"
nothing.zones 0 TXT "a node without PTR is no member"
zones 0 PTR apex.of.zones.
setting.ext 0 TXT "global custom property"
other 0 A 192.0.2.1
`, []Member{{Zone: "one.test.", ID: "m1"}}},
		{"the same PTR under one ID collapses to one record", head + version + `
m1.zones 0 PTR one.test.
m1.zones 0 PTR one.test.
`, []Member{{Zone: "one.test.", ID: "m1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(load(t, tt.zone))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseBroken covers the catalogs RFC 9432 calls broken: each must be refused as a whole, with
// an error naming the record that breaks it.
func TestParseBroken(t *testing.T) {
	tests := []struct {
		name string
		zone string
		want string // in the error
	}{
		{"no version", head + "m1.zones 0 PTR one.test.\n",
			"no version.catalog.test. TXT record"},
		{"version 1", head + "version 0 TXT \"1\"\nm1.zones 0 PTR one.test.\n",
			`version.catalog.test. TXT "1": unsupported catalog version`},
		{"version not a number", head + "version 0 TXT \"two\"\n",
			`TXT "two": unsupported`},
		{"version of two strings", head + "version 0 TXT \"2\" \"2\"\n",
			`TXT "2" "2": unsupported`},
		{"two version records", head + version + "version 0 TXT \"1\"\n",
			"version.catalog.test. TXT: 2 records"},
		{"version as another type only", head + "version 0 A 192.0.2.1\n",
			"no version.catalog.test. TXT record"},
		{"member node with two PTRs", head + version + "m1.zones 0 PTR one.test.\nm1.zones 0 PTR two.test.\n",
			"m1.zones.catalog.test. PTR: 2 records"},
		{"zone listed twice", head + version + "m1.zones 0 PTR one.test.\nm2.zones 0 PTR One.Test.\n",
			"one.test. is listed twice, by m1.zones.catalog.test. and m2.zones.catalog.test."},
		{"coo with two PTRs", head + version + "m1.zones 0 PTR one.test.\ncoo.m1.zones 0 PTR a.\ncoo.m1.zones 0 PTR b.\n",
			"coo.m1.zones.catalog.test. PTR: 2 records"},
		{"member name with an escape", head + version + "m1.zones 0 PTR a\\046b.test.\n",
			"m1.zones.catalog.test. PTR: member zone a\\046b.test.: escapes"},
		{"coo name with an escape", head + version + "m1.zones 0 PTR one.test.\ncoo.m1.zones 0 PTR a\\032b.\n",
			"coo.m1.zones.catalog.test. PTR: coo target a\\032b.: escapes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(load(t, tt.zone))
			if err == nil {
				t.Fatalf("accepted, members %+v", got)
			}
			if got != nil {
				t.Errorf("members %+v returned beside the error", got)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "catalog catalog.test.: ") {
				t.Errorf("error %q\nwant it to name the catalog and contain %q", err, tt.want)
			}
		})
	}
	if _, err := Parse(nil); err == nil {
		t.Error("Parse(nil) accepted")
	}
}

func TestCompare(t *testing.T) {
	old := []Member{
		{Zone: "a.test.", ID: "1"},
		{Zone: "b.test.", ID: "2"},
		{Zone: "c.test.", ID: "3", Group: "g"},
		{Zone: "d.test.", ID: "4"},
	}
	next := []Member{
		{Zone: "e.test.", ID: "5"},
		{Zone: "d.test.", ID: "4"},
		{Zone: "c.test.", ID: "3", Group: "h"},
		{Zone: "b.test.", ID: "9"},
	}
	got := Compare(old, next)
	want := Changes{
		Added:   []Member{{Zone: "e.test.", ID: "5"}},
		Removed: []Member{{Zone: "a.test.", ID: "1"}},
		Reset:   []Member{{Zone: "b.test.", ID: "9"}},
		Changed: []Member{{Zone: "c.test.", ID: "3", Group: "h"}},
	}
	for _, l := range []struct {
		name      string
		got, want []Member
	}{
		{"Added", got.Added, want.Added},
		{"Removed", got.Removed, want.Removed},
		{"Reset", got.Reset, want.Reset},
		{"Changed", got.Changed, want.Changed},
	} {
		if !slices.Equal(l.got, l.want) {
			t.Errorf("%s: got %+v, want %+v", l.name, l.got, l.want)
		}
	}
	if got.Empty() {
		t.Error("Empty on a change")
	}
	if c := Compare(next, next); !c.Empty() {
		t.Errorf("a list compared with itself: %+v", c)
	}
	if c := Compare(nil, old); len(c.Added) != len(old) || len(c.Removed)+len(c.Reset)+len(c.Changed) != 0 {
		t.Errorf("from nothing: %+v", c)
	}
	if c := Compare(old, nil); len(c.Removed) != len(old) || len(c.Added) != 0 {
		t.Errorf("to nothing: %+v", c)
	}
}
