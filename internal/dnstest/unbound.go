package dnstest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"warden/internal/peers"
)

// UnboundBin returns the path of the unbound binary. Without it the test is skipped, except when
// CI=true, where a missing reference is an error.
func UnboundBin(t testing.TB) string { return peerBin(t, "unbound") }

// StartUnbound runs unbound in the foreground on 127.0.0.1 and a free port as a recursive resolver
// that starts from rootHints (master-file text) instead of the real root, validates nothing, and
// may query loopback servers. It returns the address once unbound answers, and stops it in
// t.Cleanup. Without unbound the test is skipped, except when CI=true.
func StartUnbound(t testing.TB, rootHints string) string {
	t.Helper()
	UnboundBin(t)
	dir := t.TempDir()
	hints := filepath.Join(dir, "root.hints")
	if err := os.WriteFile(hints, []byte(rootHints), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startPeer(t, "unbound", true, func() (*peers.Proc, error) {
		return peers.StartUnbound(peers.Unbound{Port: freePort(t), Dir: dir, RootHints: hints, Server: "    minimal-responses: yes\n"})
	})
	return p.Addr()
}

// StartValidatingUnbound runs unbound on ip and a free port as a validating resolver that trusts
// the DNSKEY records in trustAnchorFile for origin and asks only server (host:port) for origin's
// names (a stub zone). It returns the address once unbound answers, and stops it in t.Cleanup.
// Without unbound the test is skipped, except when CI=true.
func StartValidatingUnbound(t testing.TB, ip, origin, trustAnchorFile, server string) string {
	t.Helper()
	return StartValidatingUnboundWith(t, ip, origin, trustAnchorFile, server, "")
}

// StartValidatingUnboundWith is StartValidatingUnbound with more lines for unbound's server:
// clause (options of the validator, say), each indented by four spaces.
func StartValidatingUnboundWith(t testing.TB, ip, origin, trustAnchorFile, server, options string) string {
	t.Helper()
	UnboundBin(t)
	dir := t.TempDir()
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		t.Fatal(err)
	}
	// The test zones live under test. (RFC 6761), which unbound would answer itself.
	conf := fmt.Sprintf(`    module-config: "validator iterator"
    trust-anchor-file: %q
    local-zone: "test." nodefault
    val-log-level: 2
%sstub-zone:
    name: %q
    stub-addr: %s@%s
`, trustAnchorFile, options, origin, host, port)
	p := startPeer(t, "unbound", true, func() (*peers.Proc, error) {
		return peers.StartUnbound(peers.Unbound{IP: ip, Port: freePort(t), Dir: dir, Server: conf})
	})
	return p.Addr()
}

// StartValidatingUnboundStubs runs unbound on ip and a free port as a validating resolver that
// trusts the DS or DNSKEY records in trustAnchorFile and reaches its hierarchy through stubs
// (stub-zone: clauses of unbound.conf, one per zone, for servers on another port than 53). It
// returns the address once unbound answers, and stops it in t.Cleanup. Without unbound the test
// is skipped, except when CI=true.
func StartValidatingUnboundStubs(t testing.TB, ip, trustAnchorFile, stubs string) string {
	t.Helper()
	UnboundBin(t)
	dir := t.TempDir()
	conf := fmt.Sprintf(`    module-config: "validator iterator"
    trust-anchor-file: %q
    val-log-level: 2
%s`, trustAnchorFile, stubs)
	p := startPeer(t, "unbound", true, func() (*peers.Proc, error) {
		return peers.StartUnbound(peers.Unbound{IP: ip, Port: freePort(t), Dir: dir, Server: conf})
	})
	return p.Addr()
}
