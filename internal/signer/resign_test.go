package signer

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"

	"warden/internal/zone"
)

// changedZone is testZone with a new serial and: www's A changed, mail gone, a new name that
// brings an empty non-terminal (x.new), a TXT at the apex, the wildcard's TTL changed, and a
// DS added at the unsigned delegation.
var changedZone = strings.NewReplacer(
	"2026120701", "2026120702",
	"www      IN A   192.0.2.3", "www      IN A   192.0.2.33",
	"mail     IN A   192.0.2.2\n", "",
	"@        IN MX  10 mail", "@        IN MX  10 mail\nhost.x.new IN A 192.0.2.9\n@ IN TXT \"v=1\"",
	"*.wild   IN TXT", "*.wild 60 IN TXT",
	"ns.insecure IN A", "insecure IN DS 54321 13 2 abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\nns.insecure IN A",
).Replace(testZone)

func TestResignChangesOnlyWhatChanged(t *testing.T) {
	for _, denial := range []Denial{NSEC, NSEC3} {
		t.Run(denial.String(), func(t *testing.T) {
			p := Policy{Denial: denial}.Defaults()
			keys := testKeys(t, t.TempDir(), p)
			before, err := Sign(loadZone(t, testZone), keys, p, now.Add(-time.Hour), 2026120701)
			if err != nil {
				t.Fatal(err)
			}
			u := loadZone(t, changedZone)
			after, d, err := Resign(before, u, keys, p, now)
			if err != nil {
				t.Fatal(err)
			}
			verify(t, after.Zone, false)
			if after.Zone.Serial() != 2026120702 {
				t.Errorf("serial %d, want the file's newer 2026120702", after.Zone.Serial())
			}

			// Everything but the signatures is what signing the new version whole gives.
			whole, err := Sign(u, keys, p, now, 2026120702)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := unsignedText(after.Zone), unsignedText(whole.Zone); a != b {
				t.Errorf("incremental and whole signing differ besides signatures:\nincremental:\n%s\nwhole:\n%s", a, b)
			}

			// The signatures made again are those of the changed RRsets, the SOA, the key-free
			// denial records around the changes, and no others.
			old, cur := sigsByOwnerType(before.Zone), sigsByOwnerType(after.Zone)
			var resigned []string
			for k, v := range cur {
				if old[k] != v {
					resigned = append(resigned, k)
				}
			}
			slices.Sort(resigned)
			want := []string{
				"*.wild.example.test. TXT", "example.test. SOA", "example.test. TXT",
				"host.x.new.example.test. A", "insecure.example.test. DS", "www.example.test. A",
			}
			var data []string
			denials := 0
			for _, k := range resigned {
				if strings.HasSuffix(k, " NSEC") || strings.HasSuffix(k, " NSEC3") {
					denials++
					continue
				}
				data = append(data, k)
			}
			if !slices.Equal(data, want) {
				t.Errorf("re-signed RRsets %v, want %v", data, want)
			}
			// NSEC: the apex (TXT), www? no: mail's predecessor, the new name's predecessor and
			// itself, insecure (DS bit). NSEC3 adds the empty non-terminals x.new and new.
			if limit := 10; denials == 0 || denials > limit {
				t.Errorf("%d denial records re-signed, want between 1 and %d", denials, limit)
			}
			if untouched := len(old) - len(resigned); untouched < len(old)/3 {
				t.Errorf("only %d of %d signatures kept", untouched, len(old))
			}
			if len(d.Removed) == 0 || len(d.Added) == 0 || d.To.Serial != 2026120702 {
				t.Errorf("diff %d removed, %d added, to %d", len(d.Removed), len(d.Added), d.To.Serial)
			}
		})
	}
}

// unsignedText is z's records other than RRSIGs, sorted, without the SOA serial.
func unsignedText(z *zone.Zone) string {
	var lines []string
	for rr := range z.All() {
		if dns.RRToType(rr) != dns.TypeRRSIG {
			lines = append(lines, rr.String())
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func TestRefreshReplacesOnlyExpiringSignatures(t *testing.T) {
	p := Policy{}.Defaults()
	keys := testKeys(t, t.TempDir(), p)
	// Signed almost a lifetime ago, so that its signatures expire within the refresh window
	// (propagation delay + largest TTL = 2 h), then changed yesterday.
	t0 := now.Add(-p.RRSIGLifetime + time.Hour)
	first, err := Sign(loadZone(t, testZone), keys, p, t0, 2026120701)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(p.RRSIGLifetime - 2*time.Hour); !first.RefreshAt.Equal(want) {
		t.Errorf("refresh at %s, want %s", first.RefreshAt, want)
	}
	second, _, err := Resign(first, loadZone(t, changedZone), keys, p, now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	third, d, err := Refresh(second, now)
	if err != nil {
		t.Fatal(err)
	}
	verify(t, third.Zone, false)
	if third.Zone.Serial() != second.Zone.Serial()+1 {
		t.Errorf("serial %d after %d", third.Zone.Serial(), second.Zone.Serial())
	}
	young := sigsByOwnerType(second.Zone)
	for k, v := range sigsByOwnerType(third.Zone) {
		old := young[k]
		fresh := strings.Contains(old, " "+dnsutil.TimeToString(uint32(now.Add(-24*time.Hour).Add(-InceptionOffset).Unix()))+" ")
		if k == "example.test. SOA" {
			continue
		}
		if fresh && old != v {
			t.Errorf("%s: signed yesterday, re-signed by the refresh", k)
		}
		if !fresh && old == v {
			t.Errorf("%s: expiring, not re-signed by the refresh", k)
		}
	}
	if len(d.Added) == 0 || len(d.Added) != len(d.Removed) {
		t.Errorf("refresh diff: %d removed, %d added; every signature replaced is one made", len(d.Removed), len(d.Added))
	}
	if got := slices.Collect(maps.Keys(sigsByOwnerType(third.Zone))); len(got) != len(young) {
		t.Errorf("%d signed RRsets after refresh, %d before", len(got), len(young))
	}
}

// TestResignKeepsRefreshTimes: the expiry and refresh time an incremental re-signing works out
// from the change alone are those a walk over the whole signed zone finds.
func TestResignKeepsRefreshTimes(t *testing.T) {
	p := Policy{}.Defaults()
	keys := testKeys(t, t.TempDir(), p)
	before, err := Sign(loadZone(t, testZone), keys, p, now.Add(-time.Hour), 2026120701)
	if err != nil {
		t.Fatal(err)
	}
	after, _, err := Resign(before, loadZone(t, changedZone), keys, p, now)
	if err != nil {
		t.Fatal(err)
	}
	walked := finish(after.Zone, after.Unsigned, keys, p, after.chain)
	if !after.Expires.Equal(walked.Expires) || !after.RefreshAt.Equal(walked.RefreshAt) || after.maxTTL != walked.maxTTL {
		t.Errorf("after the change: expires %s, refresh %s, max TTL %d; the whole zone says %s, %s, %d",
			after.Expires, after.RefreshAt, after.maxTTL, walked.Expires, walked.RefreshAt, walked.maxTTL)
	}
	if !after.Expires.Equal(before.Expires) {
		t.Errorf("expiry moved from %s to %s; the older signatures still expire first", before.Expires, after.Expires)
	}
}
