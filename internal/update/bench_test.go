package update

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkApplyLargeZone updates a few names of a zone of a million records: the cost must be
// that of the names touched, not of the zone.
func BenchmarkApplyLargeZone(b *testing.B) {
	var text strings.Builder
	text.WriteString(baseZone)
	for i := range 1_000_000 {
		fmt.Fprintf(&text, "h%d 300 IN A 10.%d.%d.%d\n", i, i>>16&255, i>>8&255, i&255)
	}
	z := loadZone(b, text.String())
	b.Run("hosts", func(b *testing.B) {
		m := updateMsg(b, "prereq h500000 0 ANY A\nupdate h500000 0 ANY ANY\nupdate h1 300 IN A 192.0.2.1\nupdate new 300 IN TXT \"x\"")
		b.ReportAllocs()
		for b.Loop() {
			if r := Apply(z, m); r.Diff == nil || len(r.Diff.Removed) != 1 || len(r.Diff.Added) != 2 {
				b.Fatalf("unexpected result %+v", r)
			}
		}
	})
	// A DNAME addition must find out whether any name lies below it: cheap at a new name, a walk
	// of the zone at an existing one.
	b.Run("dname-new-name", func(b *testing.B) {
		m := updateMsg(b, "update newdname 300 IN DNAME other.test.")
		b.ReportAllocs()
		for b.Loop() {
			if r := Apply(z, m); r.Diff == nil {
				b.Fatalf("unexpected result %+v", r)
			}
		}
	})
	b.Run("dname-existing-name", func(b *testing.B) {
		m := updateMsg(b, "update h7 300 IN DNAME other.test.")
		b.ReportAllocs()
		for b.Loop() {
			if r := Apply(z, m); r.Diff == nil {
				b.Fatalf("unexpected result %+v", r)
			}
		}
	})
}
