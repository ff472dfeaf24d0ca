package probe

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/upstream"
)

// unboundLocalData is what Unbound, as the trusted resolver, serves from its own configuration;
// it agrees with realZone except where the cases below need it not to.
const unboundLocalData = `
	local-zone: "test." static
	local-data: "www.open.test. 60 IN A 192.0.2.1"
	local-data: "www.blocked.test. 60 IN A 192.0.2.2"
	local-data: "www.moved.test. 60 IN A 203.0.113.4"
	local-data: "www.cdn.test. 60 IN A 192.0.2.201"
`

// TestTrustedUnbound compares answers with Unbound reached over DoT and over DoH: the trusted
// channel a user gives as tls://IP:PORT#name or https://IP:PORT/dns-query#name.
func TestTrustedUnbound(t *testing.T) {
	cert := dnstest.SelfSigned(t)
	dot, doh := dnstest.StartUnboundTLS(t, cert, unboundLocalData)
	pool := cert.Pool
	res := serveUDP(t, "127.0.0.20", racing(parseZone(t, realZone), parseZone(t, forgedZone)))
	opts := upstream.Options{Timeout: 5 * time.Second, TLS: &tls.Config{RootCAs: pool}}
	for _, addr := range []string{"tls://" + dot + "#dns.example", "https://" + doh + "/dns-query#dns.example"} {
		tr, err := OpenTrusted(addr, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.(*Resolver).Close()
		p := testProber(t, tr, nil)
		p.Timeout = 5 * time.Second
		want := map[string]Verdict{
			"www.open.test.":    Consistent,
			"www.blocked.test.": Injected,
			"www.moved.test.":   Redirected,
			"www.cdn.test.":     Consistent,
			"gone.test.":        Consistent, // NXDOMAIN on both sides
		}
		var targets []Target
		for _, n := range []string{"www.open.test.", "www.blocked.test.", "www.moved.test.", "www.cdn.test.", "gone.test."} {
			targets = append(targets, Target{Name: n, Type: dns.TypeA, Resolver: res})
		}
		for _, r := range p.Run(context.Background(), targets) {
			if r.Verdict != want[r.Name] {
				t.Errorf("%s: %s: %s (%s), want %s", addr, r.Name, r.Verdict, r.Evidence, want[r.Name])
			}
		}
	}
}

// TestOpenTrusted checks how --trusted is read: a file when one exists, an address otherwise.
func TestOpenTrusted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known.txt")
	if err := os.WriteFile(path, []byte(knownText), 0o644); err != nil {
		t.Fatal(err)
	}
	if tr, err := OpenTrusted(path, upstream.Options{}); err != nil || tr.String() != path {
		t.Errorf("file: %v, %v", tr, err)
	}
	if tr, err := OpenTrusted("tls://192.0.2.1:853#dns.example", upstream.Options{}); err != nil || !strings.Contains(tr.String(), "192.0.2.1:853") {
		t.Errorf("DoT address: %v, %v", tr, err)
	}
	if _, err := OpenTrusted(filepath.Join(t.TempDir(), "missing.txt"), upstream.Options{}); err == nil || !strings.Contains(err.Error(), "neither a readable file nor a resolver address") {
		t.Errorf("missing file: error %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.txt")
	os.WriteFile(bad, []byte("www.example. A nowhere\n"), 0o644)
	if _, err := OpenTrusted(bad, upstream.Options{}); err == nil || !strings.Contains(err.Error(), "bad.txt:1:") {
		t.Errorf("bad file: error %v", err)
	}
}
