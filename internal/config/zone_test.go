package config

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"
)

// TestExampleZone reads the built-in zone with the zone-file parser the server uses, and checks
// that it holds what the documentation promises: the records `warden serve` answers out of the box.
func TestExampleZone(t *testing.T) {
	zp := dns.NewZoneParser(bytes.NewReader(exampleZone), "example.test.", "example.test.zone")
	var got []string
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		f := strings.Fields(rr.String()) // name, TTL, class, type, data...
		got = append(got, f[0]+" "+f[3]+" "+strings.Join(f[4:], " "))
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("example.test.zone: %v", err)
	}
	for _, want := range []string{
		"example.test. SOA ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300",
		"example.test. NS ns1.example.test.",
		"example.test. NS ns2.example.test.",
		"example.test. MX 10 mail.example.test.",
		`example.test. TXT "v=spf1 mx -all"`,
		"ns1.example.test. A 192.0.2.1",
		"ns1.example.test. AAAA 2001:db8::1",
		"ns2.example.test. A 192.0.2.2",
		"ns2.example.test. AAAA 2001:db8::2",
		"www.example.test. A 192.0.2.10",
		"www.example.test. AAAA 2001:db8::10",
		"mail.example.test. A 192.0.2.25",
		"ftp.example.test. CNAME www.example.test.",
		"*.wild.example.test. A 192.0.2.99",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("example zone lacks %q; it has:\n%s", want, strings.Join(got, "\n"))
		}
	}
}
