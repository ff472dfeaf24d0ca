package validator

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseAnchors: any text gives anchors or an error naming the file, never a panic; what it
// accepts holds only DS and DNSKEY records under their owners.
func FuzzParseAnchors(f *testing.F) {
	f.Add(ianaRoot)
	f.Add("$ORIGIN example.\n@ 3600 IN DS 1 13 2 ABCD\n")
	f.Add("example. IN DNSKEY 257 3 13 AwEAAQ==\n")
	f.Add("example. IN A 192.0.2.1\n")
	f.Fuzz(func(t *testing.T, text string) {
		a, err := ParseAnchors(strings.NewReader(text), "fuzz.anchors")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.anchors") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, z := range a.Zones() {
			an := a.Closest(z)
			if an == nil || an.Zone != z || len(an.DS)+len(an.Keys) == 0 {
				t.Fatalf("zone %s: anchor %+v", z, an)
			}
		}
	})
}

// FuzzTrackerState: the RFC 5011 state read back from the state directory gives trackers or an
// error, never a panic; a tracker that loads gives an anchor of its own zone.
func FuzzTrackerState(f *testing.F) {
	f.Add(`[{"zone":".","keys":[{"key":". 3600 IN DNSKEY 257 3 13 aGVsbG8=","state":"valid"}]}]`)
	f.Add(`[{"zone":".","ds":[". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"],"keys":[]}]`)
	f.Add(`[{"zone":".","keys":[{"key":"x","state":"bored"}]}]`)
	f.Fuzz(func(t *testing.T, text string) {
		var list []*Tracker
		if json.Unmarshal([]byte(text), &list) != nil {
			return
		}
		for _, tr := range list {
			if tr == nil || tr.Load() != nil {
				continue
			}
			if a := tr.Anchor(); a.Zone != tr.Zone {
				t.Fatalf("anchor of %q for zone %q", a.Zone, tr.Zone)
			}
		}
	})
}
