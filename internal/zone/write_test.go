package zone

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/wire"
)

// writtenZones are the zones the write tests use: the differential-test zones and manyTypes.
func writtenZones(t *testing.T) []*Zone {
	t.Helper()
	var out []*Zone
	for _, tz := range dnstest.TestZones() {
		z, _, err := LoadFile(tz.Origin, tz.File)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, z)
	}
	return append(out, mustLoad(t, "types.test.", manyTypes))
}

// TestWriteFileRoundTrip: a written zone loads back to the same zone, record for record.
func TestWriteFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, z := range writtenZones(t) {
		path := filepath.Join(dir, z.Origin+"zone")
		if err := WriteFile(z, path); err != nil {
			t.Fatal(err)
		}
		back, warns, err := LoadFile(z.Origin, path)
		if err != nil {
			t.Fatalf("%s: written file does not load: %v", z.Origin, err)
		}
		for _, w := range warns {
			if !strings.Contains(w.Msg, "no glue") { // the test zones lack some glue on purpose
				t.Errorf("%s: %v", z.Origin, w)
			}
		}
		sameZone(t, back, z)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestWriteFileReplaces: writing over an existing file replaces it whole and keeps its mode; a
// write that cannot happen leaves the old file as it was.
func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "types.test.zone")
	if err := os.WriteFile(path, []byte("old text that is much longer than a small zone would be\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	z := mustLoad(t, "types.test.", manyTypes)
	if err := WriteFile(z, path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	sameZone(t, mustLoadFile(t, "types.test.", path), z)

	err = WriteFile(z, filepath.Join(dir, "missing", "x.zone"))
	if err == nil || !strings.Contains(err.Error(), "write zone types.test.") {
		t.Fatalf("write into a missing directory: %v", err)
	}
}

func mustLoadFile(t *testing.T, origin, path string) *Zone {
	t.Helper()
	z, _, err := LoadFile(origin, path)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// TestWriteFileKnot: Knot loads every written zone, and its AXFR of it holds exactly the zone's
// records.
func TestWriteFileKnot(t *testing.T) {
	dir := t.TempDir()
	zones := writtenZones(t)
	var served []dnstest.Zone
	for _, z := range zones {
		path := filepath.Join(dir, z.Origin+"zone")
		if err := WriteFile(z, path); err != nil {
			t.Fatal(err)
		}
		served = append(served, dnstest.Zone{Origin: z.Origin, File: path})
	}
	addr := dnstest.StartKnotAXFR(t, served)
	for _, z := range zones {
		rrs := dnstest.AXFR(t, addr, z.Origin)
		var got []string
		for _, rr := range rrs {
			got = append(got, wireText(t, rr))
		}
		var want []string
		for rr := range z.All() {
			want = append(want, wireText(t, rr))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: Knot's AXFR differs from the zone:\nonly in AXFR: %s\nonly in zone: %s", z.Origin, strings.Join(minus(got, want), "\n    "), strings.Join(minus(want, got), "\n    "))
		}
	}
}

// wireText identifies a record by owner, type, class, TTL and wire rdata, so that the text forms
// two libraries choose (a known type read back as unknown, say) do not matter.
func wireText(t *testing.T, rr dns.RR) string {
	t.Helper()
	h := rr.Header()
	rd, err := wire.Rdata(rr)
	if err != nil {
		t.Fatalf("%s: %v", rr, err)
	}
	return fmt.Sprintf("%s type %d class %d ttl %d %x", strings.ToLower(h.Name), dns.RRToType(rr), h.Class, h.TTL, rd)
}

// minus returns the lines of a not in b.
func minus(a, b []string) []string {
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, l)
		}
	}
	return out
}
