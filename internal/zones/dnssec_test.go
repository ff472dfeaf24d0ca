package zones

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"warden/internal/dnstest"
	"warden/internal/peers"
)

// TestSignedAXFRVerifies transfers a signed zone out of Warden with dig and has BIND's
// dnssec-verify check it: every RRSIG, NSEC, NSEC3, NSEC3PARAM and DNSKEY record must come out, or
// the chain or a signature is found wanting.
func TestSignedAXFRVerifies(t *testing.T) {
	dig, err := peers.Bin("dig")
	if err != nil {
		t.Skip(err)
	}
	verify, err := peers.Bin("dnssec-verify")
	if err != nil {
		t.Skip(err)
	}
	var example dnstest.Zone
	for _, z := range dnstest.TestZones() {
		if z.Origin == "example.test." {
			example = z
		}
	}
	for i, d := range []dnstest.Denial{dnstest.DenialNSEC, dnstest.DenialNSEC3, dnstest.DenialOptOut} {
		t.Run(strings.ReplaceAll(d.String(), " ", "-"), func(t *testing.T) {
			signed := dnstest.SignZone(t, example, d)
			text, err := os.ReadFile(signed.File)
			if err != nil {
				t.Fatal(err)
			}
			cfg, _ := primaryConfig(t, signed.Origin, string(text))
			port, err := dnstest.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 1, byte(24 + i)}), uint16(port))
			p := startNode(t, "primary", cfg, addr)
			out, err := exec.Command(dig, "+onesoa", "+nocmd", "+nostats", "+nocomments", "+tries=1", "+time=5",
				"-y", "hmac-sha256:"+testKeyName+":"+testKeySecret, "-b", p.addr.Addr().String(),
				"-p", fmt.Sprint(p.addr.Port()), "@"+p.addr.Addr().String(), signed.Origin, "AXFR").CombinedOutput()
			if err != nil {
				t.Fatalf("dig AXFR: %v\n%s", err, out)
			}
			// dig prints the transfer's TSIG records too, which are no zone data.
			var records strings.Builder
			types := map[string]int{}
			for line := range strings.Lines(string(out)) {
				if f := strings.Fields(line); len(f) < 4 || f[3] != "TSIG" {
					records.WriteString(line)
					if len(f) >= 4 {
						types[f[3]]++
					}
				}
			}
			axfr := filepath.Join(t.TempDir(), "axfr.zone")
			if err := os.WriteFile(axfr, []byte(records.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, typ := range []string{"RRSIG", "DNSKEY", map[bool]string{true: "NSEC3", false: "NSEC"}[d != dnstest.DenialNSEC]} {
				if types[typ] == 0 {
					t.Errorf("the transfer holds no %s record:\n%s", typ, out)
				}
			}
			res, err := exec.Command(verify, "-o", signed.Origin, axfr).CombinedOutput()
			if err != nil {
				t.Fatalf("dnssec-verify rejects the transfer: %v\n%s", err, res)
			}
			t.Logf("dnssec-verify: %s", strings.TrimSpace(string(res)))
		})
	}
}
