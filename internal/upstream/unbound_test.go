package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
)

// TestAgainstUnbound checks DoT and DoH against a real server: Unbound, serving both with a test
// certificate and forwarding up.test. to Knot DNS.
func TestAgainstUnbound(t *testing.T) {
	knot := dnstest.StartKnot(t, []dnstest.Zone{{Origin: "up.test.", File: filepath.Join("testdata", "up.test.zone")}})
	cert := dnstest.SelfSigned(t)
	host, port, _ := net.SplitHostPort(knot)
	dotAddr, dohAddr := dnstest.StartUnboundTLS(t, cert, fmt.Sprintf(`	do-not-query-localhost: no
	local-zone: "test." nodefault
forward-zone:
	name: "up.test."
	forward-addr: %s@%s
`, host, port))
	pool := cert.Pool
	opts := Options{Timeout: slow, TLS: &tls.Config{RootCAs: pool}}
	addrs := []string{
		"tls://" + dotAddr + "#dns.example",
		"https://" + dohAddr + "/dns-query#dns.example",
	}
	for _, a := range addrs {
		for _, get := range []bool{false, true} {
			opts.DoHGet = get
			up, err := ParseAddrOptions(a, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer up.(interface{ Close() error }).Close()
			q := mustQuery(t, "www.up.test.", dns.TypeA)
			q.RD = true
			r, err := up.Exchange(context.Background(), q)
			if err != nil {
				t.Fatalf("%s get=%v: %v", a, get, err)
			}
			if got := firstA(t, unpack(t, r.Data)); got != netip.MustParseAddr("192.0.2.10") {
				t.Errorf("%s: A = %v", a, got)
			}
			if !r.RecursionAvailable() || r.Rcode != dns.RcodeSuccess {
				t.Errorf("%s: flags %#04x rcode %d", a, r.Flags, r.Rcode)
			}
		}
	}
}
