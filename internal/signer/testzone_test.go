package signer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

// testZone has every kind of name the signer treats apart: apex, plain data, a wildcard, a
// CNAME, an empty non-terminal, a signed delegation (DS) and an unsigned one, both with glue.
const testZone = `$ORIGIN example.test.
$TTL 3600
@        IN SOA ns1 hostmaster 2026120701 7200 900 1209600 300
@        IN NS  ns1
@        IN MX  10 mail
ns1      IN A   192.0.2.1
mail     IN A   192.0.2.2
www      IN A   192.0.2.3
www      IN AAAA 2001:db8::3
*.wild   IN TXT "wild"
alias    IN CNAME www
a.b.c    IN A   192.0.2.4
sub      IN NS  ns.sub
sub      IN DS  12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns.sub   IN A   192.0.2.5
insecure IN NS  ns.insecure
ns.insecure IN A 192.0.2.6
`

// now is the signing time of the tests: fixed, so runs compare, and near the present, so that
// dnssec-verify (which checks times against its own clock) accepts the signatures.
var now = time.Now().UTC().Truncate(time.Second)

func loadZone(t testing.TB, text string) *zone.Zone {
	t.Helper()
	z, _, err := zone.Load("example.test.", "test", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// testKeys opens (or makes, dated a month before now) the test zone's keys in dir.
func testKeys(t testing.TB, dir string, p Policy) *KeySet {
	t.Helper()
	keys, _, err := OpenKeys(dir, "example.test.", p, now.Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// zoneText is a signed zone as master-file text, one record a line.
func zoneText(z *zone.Zone) string {
	var b strings.Builder
	for rr := range z.All() {
		b.WriteString(rr.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// verify runs BIND's dnssec-verify over z and fails the test with its output when it refuses.
func verify(t *testing.T, z *zone.Zone, csk bool) {
	t.Helper()
	if _, err := exec.LookPath("dnssec-verify"); err != nil {
		t.Fatalf("dnssec-verify (bind9-utils) is needed: %v", err)
	}
	path := filepath.Join(t.TempDir(), "signed.zone")
	if err := os.WriteFile(path, []byte(zoneText(z)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-o", z.Origin}
	if csk {
		args = append(args, "-z") // the one key has the SEP flag and signs everything
	}
	out, err := exec.Command("dnssec-verify", append(args, path)...).CombinedOutput()
	if err != nil {
		t.Fatalf("dnssec-verify refuses the zone: %v\n%s", err, out)
	}
}

// sigsByOwnerType maps "owner type" to the signatures over that RRset, as text.
func sigsByOwnerType(z *zone.Zone) map[string]string {
	out := map[string]string{}
	for rr := range z.All() {
		if s, ok := rr.(*dns.RRSIG); ok {
			out[s.Hdr.Name+" "+dns.TypeToString[s.TypeCovered]] += s.String()
		}
	}
	return out
}
