package catalog

import (
	"slices"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

func testSOA(t testing.TB) *dns.SOA {
	t.Helper()
	rr, err := dns.New("x. 3600 IN SOA invalid. invalid. 7 3600 600 86400 0")
	if err != nil {
		t.Fatal(err)
	}
	return rr.(*dns.SOA)
}

// roundTrip produces a catalog, builds it as a transfer would and parses it back.
func roundTrip(t *testing.T, members []Member) ([]Member, []dns.RR) {
	t.Helper()
	rrs, err := Produce("catalog.test.", testSOA(t), members)
	if err != nil {
		t.Fatal(err)
	}
	z, warns, err := zone.Build("catalog.test.", "produced", rrs)
	if err != nil || len(warns) > 0 {
		t.Fatalf("build: %v %v", err, warns)
	}
	got, err := Parse(z)
	if err != nil {
		t.Fatal(err)
	}
	return got, rrs
}

func TestProduceRoundTrip(t *testing.T) {
	in := []Member{
		{Zone: "Zulu.Test"},
		{Zone: "alpha.test.", Group: "nodnssec"},
		{Zone: "mid.test.", ID: "kept-id", COO: "Other.Catalog."},
		{Zone: "q.test.", Group: `say \"hi\"`},
	}
	got, rrs := roundTrip(t, in)
	want := []Member{
		{Zone: "alpha.test.", ID: MemberID("alpha.test."), Group: "nodnssec"},
		{Zone: "mid.test.", ID: "kept-id", COO: "other.catalog."},
		{Zone: "q.test.", ID: MemberID("q.test."), Group: `say \"hi\"`},
		{Zone: "zulu.test.", ID: MemberID("zulu.test.")},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	var text []string
	for _, rr := range rrs {
		text = append(text, rr.String())
	}
	for _, line := range []string{
		"catalog.test.\t3600\tIN\tSOA\tinvalid. invalid. 7 3600 600 86400 0",
		"catalog.test.\t0\tIN\tNS\tinvalid.",
		"version.catalog.test.\t0\tIN\tTXT\t\"2\"",
		"kept-id.zones.catalog.test.\t0\tIN\tPTR\tmid.test.",
		"coo.kept-id.zones.catalog.test.\t0\tIN\tPTR\tother.catalog.",
		"group." + MemberID("alpha.test.") + ".zones.catalog.test.\t0\tIN\tTXT\t\"nodnssec\"",
	} {
		if !slices.Contains(text, line) {
			t.Errorf("missing record %q in\n%s", line, strings.Join(text, "\n"))
		}
	}
}

// TestProduceStableIDs: adding or removing a zone leaves every other member's ID alone, so a
// consumer resets nothing it already serves (RFC 9432 §5.4).
func TestProduceStableIDs(t *testing.T) {
	before, _ := roundTrip(t, []Member{{Zone: "a.test."}, {Zone: "b.test."}, {Zone: "c.test."}})
	after, _ := roundTrip(t, []Member{{Zone: "c.test."}, {Zone: "aa.test."}, {Zone: "a.test."}})
	c := Compare(before, after)
	if len(c.Reset) != 0 || len(c.Changed) != 0 {
		t.Errorf("IDs moved: %+v", c)
	}
	if len(c.Added) != 1 || c.Added[0].Zone != "aa.test." || len(c.Removed) != 1 || c.Removed[0].Zone != "b.test." {
		t.Errorf("changes %+v", c)
	}
	if MemberID("A.Test.") != MemberID("a.test.") || len(MemberID("a.test.")) != 16 {
		t.Errorf("MemberID %q / %q", MemberID("A.Test."), MemberID("a.test."))
	}
}

func TestProduceRefuses(t *testing.T) {
	long := strings.Repeat("g", 256)
	tests := []struct {
		name    string
		origin  string
		members []Member
		want    string
	}{
		{"zone twice", "catalog.test.", []Member{{Zone: "a.test."}, {Zone: "A.test"}}, "member a.test. is listed twice"},
		{"shared ID", "catalog.test.", []Member{{Zone: "a.test.", ID: "x"}, {Zone: "b.test.", ID: "x"}}, `members a.test. and b.test. share the ID "x"`},
		{"ID with a dot", "catalog.test.", []Member{{Zone: "a.test.", ID: "x.y"}}, `member a.test.: ID "x.y"`},
		{"ID upper-case", "catalog.test.", []Member{{Zone: "a.test.", ID: "X"}}, `member a.test.: ID "X"`},
		{"ID too long", "catalog.test.", []Member{{Zone: "a.test.", ID: strings.Repeat("x", 64)}}, "longer than a label"},
		{"empty label", "catalog.test.", []Member{{Zone: "a..test."}}, `member name "a..test."`},
		{"escape in name", "catalog.test.", []Member{{Zone: `a\046b.`}}, "escapes in names are not supported"},
		{"empty zone name", "catalog.test.", []Member{{Zone: ""}}, "member name is empty"},
		{"bad coo", "catalog.test.", []Member{{Zone: "a.test.", COO: "x..y"}}, "member a.test.: coo"},
		{"quote in group", "catalog.test.", []Member{{Zone: "a.test.", Group: `a"b`}}, `group "a\"b"`},
		{"group too long", "catalog.test.", []Member{{Zone: "a.test.", Group: long}}, "member a.test.: group"},
		{"bad origin", "catalog..test.", nil, "catalog catalog..test."},
		{"relative origin", "catalog.test", nil, "not fully qualified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rrs, err := Produce(tt.origin, testSOA(t), tt.members)
			if err == nil {
				t.Fatalf("accepted: %v", rrs)
			}
			if rrs != nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q (records %v), want it to contain %q", err, rrs, tt.want)
			}
		})
	}
	if _, err := Produce("catalog.test.", nil, nil); err == nil {
		t.Error("nil SOA accepted")
	}
}
