package zone

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"
)

const head = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n"

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"missing SOA", "$ORIGIN example.test.\n@ 60 NS ns1\n", "zone.db:1: no SOA record at the zone apex example.test."},
		{"duplicate SOA", head + "@ SOA ns2 host 2 2 3 4 5\n", "zone.db:6: example.test.: more than one SOA record"},
		{"SOA off apex", head + "www SOA ns1 host 1 2 3 4 5\n", "zone.db:6: www.example.test.: SOA record outside the zone apex"},
		{"no apex NS", "$ORIGIN example.test.\n@ SOA ns1 host 1 2 3 4 5\n", "zone.db:2: no NS records at the zone apex example.test."},
		{"CNAME and other data", head + "www CNAME ns1\nwww A 192.0.2.2\n", "CNAME beside A data"},
		{"two CNAMEs", head + "www CNAME ns1\nwww CNAME ns2\n", "more than one CNAME"},
		{"out of zone", head + "www.example.org. A 192.0.2.2\n", "zone.db:6: www.example.org. A: out of zone example.test."},
		{"below DNAME", head + "d DNAME other.test.\nx.d A 192.0.2.3\n", "zone.db:7: x.d.example.test.: data below the DNAME at d.example.test."},
		{"syntax", head + "www A 999.1.1.1\n", `zone.db:6: bad A record "999.1.1.1"`},
		{"class", head + "www CH A 192.0.2.1\n", "zone.db:6: www.example.test.: class CH is not IN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load("example.test.", "zone.db", []byte(tt.text))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestLoadErrorFormat: the parser's errors read as the checks' do, "file:line: what", with the
// parser's detail (the record type, the field, the token) kept, and the file an error was found in
// named even when it is an $INCLUDEd one.
func TestLoadErrorFormat(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inc.zone"), []byte("x A 192.0.2.9\ny MX pref mail\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ text, want string }{
		{head + "www A 192.0.2.300\n", `example.zone:6: bad A record "192.0.2.300"`},
		{head + "www AAAA 192.0.2.1\n", `example.zone:6: bad AAAA record "192.0.2.1"`},
		{head + "\n\nwww MX ten mail\n", `example.zone:8: bad MX record: Pref "ten"`},
		{head + "www A 192.0.2.1 extra\n", `example.zone:6: garbage after rdata "extra"`},
		{head + "$INCLUDE inc.zone\n", `inc.zone:2: bad MX record: Pref "pref"`},
		{head + "$INCLUDE ../outside.zone\n", `example.zone:6: $INCLUDE directive not allowed "../outside.zone" (only files in the zone file's directory or below it)`},
		{"$TTL 60\nwww A 192.0.2.1\n", "example.zone:1: no SOA record at the zone apex example.test."},
		{"", "example.zone:1: no SOA record at the zone apex example.test."},
	} {
		path := filepath.Join(dir, "example.zone")
		if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadFile("example.test.", path)
		var le *LoadError
		if !errors.As(err, &le) || len(le.Problems) != 1 {
			t.Errorf("%q: error %v, want one problem", tc.text, err)
			continue
		}
		if got := strings.ReplaceAll(le.Problems[0].Error(), dir+"/", ""); got != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.text, got, tc.want)
		}
	}
}

func TestLoadWarnsMissingGlue(t *testing.T) {
	_, warns, err := Load("example.test.", "zone.db", []byte(head+"sub NS ns.sub\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].Error(), "zone.db:6: sub.example.test. NS ns.sub.example.test.: no glue") {
		t.Fatalf("warnings %v", warns)
	}
}

func TestLoadTree(t *testing.T) {
	z, _, err := Load("example.test.", "zone.db", []byte(head+"a.b.c A 192.0.2.9\nsub NS ns.sub\nns.sub A 192.0.2.8\nwww A 192.0.2.7\nwww A 192.0.2.7\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"b.c.example.test.", "c.example.test."} {
		n := z.Node(key(t, name))
		if n == nil || !n.Empty() {
			t.Fatalf("%s should be an empty non-terminal", name)
		}
	}
	if n := z.Node(key(t, "ns.sub.example.test.")); n.Cut == nil || n.Cut.Name != "sub.example.test." {
		t.Fatalf("glue not under its cut")
	}
	if n := z.Node(key(t, "www.example.test.")); n.Cut != nil {
		t.Fatalf("authoritative data under a cut")
	}
	if n := z.Node(key(t, "www.example.test.")); len(n.RRset(1)) != 1 {
		t.Fatalf("duplicate record kept")
	}
}

// A delegation below another one is occluded by the higher cut, which is the one that counts.
func TestLoadNestedCuts(t *testing.T) {
	z, _, err := Load("example.test.", "zone.db", []byte(head+"sub NS ns.other.\ndeep.sub NS ns.other.\nx.deep.sub A 192.0.2.1\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sub.example.test.", "deep.sub.example.test.", "x.deep.sub.example.test."} {
		if c := z.Node(key(t, name)).Cut; c == nil || c.Name != "sub.example.test." {
			t.Errorf("%s: cut %v, want sub.example.test.", name, c)
		}
	}
	if z.Apex.Cut != nil {
		t.Error("the apex is not a cut")
	}
}

func TestLoadFileInclude(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "hosts.inc")
	if err := os.WriteFile(inc, []byte("www A 192.0.2.10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "example.test.zone")
	if err := os.WriteFile(main, []byte(head+"$INCLUDE hosts.inc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	z, _, err := LoadFile("example.test.", main)
	if err != nil {
		t.Fatal(err)
	}
	if z.Node(key(t, "www.example.test.")) == nil {
		t.Fatal("included record missing")
	}
}

func key(t *testing.T, name string) string {
	t.Helper()
	var b []byte
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return string(append(b, 0))
}

func TestBuildFromRecordsOfAnotherZone(t *testing.T) {
	src := "$ORIGIN example.\n$TTL 300\n@ SOA ns hostmaster 7 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\nWWW A 192.0.2.2\nwww AAAA 2001:db8::2\nlab NS ns.lab\nns.lab A 192.0.2.3\n"
	z, _, err := Load("example.", "example.zone", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	rrs := slices.Collect(z.All())
	if len(rrs) != z.Records || dns.RRToType(rrs[0]) != dns.TypeSOA {
		t.Fatalf("Records gave %d records, SOA first = %v; want %d", len(rrs), dns.RRToType(rrs[0]) == dns.TypeSOA, z.Records)
	}
	before := make([]string, len(rrs))
	for i, rr := range rrs {
		before[i] = rr.String()
	}
	b, _, err := Build("example.", "transfer", rrs)
	if err != nil {
		t.Fatal(err)
	}
	if b.Records != z.Records || b.Serial() != 7 || b.NodeCount() != z.NodeCount() {
		t.Fatalf("built zone: %d records, serial %d, %d nodes; want %d, 7, %d", b.Records, b.Serial(), b.NodeCount(), z.Records, z.NodeCount())
	}
	if n := b.Node("\x03lab\x07example\x00"); n == nil || !n.IsDelegation() {
		t.Fatal("delegation lab.example. lost in Build")
	}
	for i, rr := range rrs {
		if rr.String() != before[i] {
			t.Fatalf("Build changed its input: %q became %q", before[i], rr.String())
		}
	}
	// A record outside the zone is refused, naming it.
	bad := append(rrs[:len(rrs):len(rrs)], &dns.A{Hdr: dns.Header{Name: "other.", Class: dns.ClassINET, TTL: 60}})
	if _, _, err := Build("example.", "transfer", bad); err == nil || !strings.Contains(err.Error(), "out of zone") {
		t.Fatalf("out-of-zone record: err = %v", err)
	}
}

func TestTXTWithDifferentStringCounts(t *testing.T) {
	// Two TXT records at one owner with different numbers of strings: distinct records, and no
	// crash comparing them.
	src := head + "a TXT \"x\" \"y\"\na TXT \"x\"\nb TXT \"0\"\nb TXT \"\"\nb TXT \"0\"\n"
	z, _, err := Load("example.test.", "txt.zone", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(z.Node("\x01a\x07example\x04test\x00").RRset(dns.TypeTXT)); got != 2 {
		t.Errorf("a. TXT: %d records; want 2", got)
	}
	if got := len(z.Node("\x01b\x07example\x04test\x00").RRset(dns.TypeTXT)); got != 2 {
		t.Errorf("b. TXT: %d records; want 2 (the repeated one collapses)", got)
	}
}
