//go:build linux

package probe

import (
	"net/netip"
	"testing"

	"warden/internal/dnstest/netbed"
)

// The test bed's addresses, all in 198.18.0.0/15 (RFC 2544, for network test beds):
//
//	client 198.18.1.2 — 198.18.1.1 r1 198.18.2.1 — 198.18.2.2 r2 198.18.3.1 — 198.18.3.2 server
//
// so r1 is hop 1, r2 hop 2 and the server hop 3 from the client, and a router sends time exceeded
// from the address facing the client.
var (
	bedR1Near   = netip.MustParseAddr("198.18.1.1")
	bedR2Near   = netip.MustParseAddr("198.18.2.2")
	bedServer   = netip.MustParseAddr("198.18.3.2")
	bedNoServer = netip.MustParseAddr("198.18.3.99") // on the server's link, but no host has it
)

// newTestBed builds the probe's bed (internal/dnstest/netbed) at the addresses above.
func newTestBed(t *testing.T) *netbed.Bed {
	t.Helper()
	bed := netbed.New(t, netbed.Layout{Prefix: "wdn", Base: netip.MustParseAddr("198.18.1.0")})
	if bed.R1Near != bedR1Near || bed.R2Near != bedR2Near || bed.ServerAddr != bedServer {
		t.Fatalf("the bed's addresses moved: r1 %v, r2 %v, server %v", bed.R1Near, bed.R2Near, bed.ServerAddr)
	}
	return bed
}
