package validator

import (
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
