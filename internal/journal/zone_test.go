package journal

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"warden/internal/zone"
)

func zoneText(serial int, hosts ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 host %d 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n", serial)
	for _, h := range hosts {
		b.WriteString(h + "\n")
	}
	return b.String()
}

func lines(z *zone.Zone) []string {
	var out []string
	for rr := range z.All() {
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

// TestZoneVersions: the diffs of a zone's versions, kept in a journal across a restart, rebuild
// the newest version from any older one.
func TestZoneVersions(t *testing.T) {
	texts := []string{
		zoneText(1, "www A 192.0.2.80", `t TXT "one"`),
		zoneText(2, "www A 192.0.2.81", `t TXT "one" "two"`, `u TYPE65280 \# 2 0102`),
		zoneText(3, "www 600 A 192.0.2.81", `t TXT "one" "two"`, "mx MX 10 www"),
		zoneText(4, "www 600 A 192.0.2.81", "mx MX 10 www", "_443._tcp TLSA 3 1 1 0d6fce3320b6cf7a4f3ea1b34d5a1e3f1c0c5f2e5a0d35d3a07dfe0ec1b8b2a9"),
	}
	var versions []*zone.Zone
	for _, text := range texts {
		z, _, err := zone.Load(origin, "zone.db", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, z)
	}
	path := filepath.Join(t.TempDir(), "j")
	j := open(t, path, 0)
	for i := 1; i < len(versions); i++ {
		if err := j.Append(zone.Compare(versions[i-1], versions[i])); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	j = open(t, path, 0)
	newest := versions[len(versions)-1]
	for _, v := range versions {
		diffs, ok := j.Since(v.Serial())
		if !ok {
			t.Fatalf("serial %d not covered", v.Serial())
		}
		z := v
		for _, d := range diffs {
			next, err := z.Apply(d)
			if err != nil {
				t.Fatal(err)
			}
			z = next
		}
		if !slices.Equal(lines(z), lines(newest)) {
			t.Fatalf("from serial %d: got\n%s\nwant\n%s", v.Serial(), strings.Join(lines(z), "\n"), strings.Join(lines(newest), "\n"))
		}
	}
}
