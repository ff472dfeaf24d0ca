//go:build linux

package probe

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"warden/internal/dnstest/netbed"
)

// forgedAddr is what the test bed's injector puts in its forged replies.
var forgedAddr = netip.MustParseAddr("198.18.255.1")

// bedLocator keeps the default Wait: every hop of the bed answers within a millisecond, but under
// the race detector on a busy machine the injector's reply can trail r2's time exceeded by tens of
// milliseconds, and a try stops a quarter of Wait after the first of the two. A trace of the bed
// takes about 1 s; its bound is 6 hops × 2 tries × 1 s.
var bedLocator = TTLLocator{MaxHops: 6, Wait: time.Second, Tries: 2}

// TestLocateNetns traces, from the client namespace, names the injector on r2 forges and names it
// leaves alone, and checks both what Locate reports and the path each trace saw.
func TestLocateNetns(t *testing.T) {
	bed := newTestBed(t)
	server := netip.AddrPortFrom(bedServer, 53)
	netbed.StartServer(t, bed.Server, server, map[string]netip.Addr{
		"blocked.test.":   netip.MustParseAddr("198.18.3.100"),
		"censored.test.":  netip.MustParseAddr("198.18.3.101"),
		"clean.test.":     netip.MustParseAddr("198.18.3.102"),
		"www.clean.test.": netip.MustParseAddr("198.18.3.103"),
	})
	inj := netbed.StartInjector(t, bed.R2, bed.Dev("r2a"), map[string]netip.Addr{
		"blocked.test.":  forgedAddr,
		"censored.test.": forgedAddr,
	})

	tests := []struct {
		name     string
		wantHop  int
		wantAddr netip.Addr
	}{
		{"blocked.test.", 2, bedR2Near},
		{"CENSORED.test", 2, bedR2Near}, // the injector matches without regard to case, like real ones
		{"clean.test.", 0, netip.Addr{}},
		{"www.clean.test.", 0, netip.Addr{}},
		{"missing.test.", 0, netip.Addr{}}, // NXDOMAIN from the real server is still the server's
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				hop  int
				addr netip.Addr
				hops []HopReport
			)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := bed.Client.Do(func() (err error) {
				var l Locator = bedLocator
				if hop, addr, err = l.Locate(ctx, server, tt.name, 0); err != nil {
					return err
				}
				hops, err = bedLocator.Trace(ctx, server, tt.name, 0)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("trace: %+v", hops)
			if hop != tt.wantHop || addr != tt.wantAddr {
				t.Errorf("Locate = hop %d at %v, want hop %d at %v", hop, addr, tt.wantHop, tt.wantAddr)
			}
			checkBedPath(t, hops, tt.wantHop != 0)
		})
	}
	if inj.Forged.Load() == 0 {
		t.Error("the injector sent no forged reply")
	}
}

// checkBedPath checks a trace against the bed: r1 and r2 report time exceeded at TTL 1 and 2, the
// server answers from TTL 3 on, and only an injected name draws a reply at TTL 2.
func checkBedPath(t *testing.T, hops []HopReport, injected bool) {
	t.Helper()
	if len(hops) != 4 {
		t.Fatalf("trace has %d hops, want 4 (two routers, the server, one more to confirm it)", len(hops))
	}
	want := []HopReport{
		{TTL: 1, Router: bedR1Near, Expired: true},
		{TTL: 2, Router: bedR2Near, Expired: true, Replied: injected},
		{TTL: 3, Replied: true},
		{TTL: 4, Replied: true},
	}
	for i, h := range hops {
		if h != want[i] {
			t.Errorf("hop %d: %+v, want %+v", i+1, h, want[i])
		}
	}
}

// TestLocateNetnsNoServer aims at an address on the server's link that no host has. r2 cannot
// resolve it (ARP): queries past hop 2 go unanswered until r2 gives up and reports the host
// unreachable. Locate must report only the injector and end within MaxHops × Tries × Wait.
func TestLocateNetnsNoServer(t *testing.T) {
	bed := newTestBed(t)
	netbed.StartInjector(t, bed.R2, bed.Dev("r2a"), map[string]netip.Addr{"blocked.test.": forgedAddr})
	l := TTLLocator{MaxHops: 4, Wait: 200 * time.Millisecond, Tries: 2}
	bound := time.Duration(l.MaxHops*l.Tries) * l.Wait

	for _, tt := range []struct {
		name    string
		wantHop int
	}{
		{"clean.test.", 0},
		// No reply can come from the target, yet the injector answers at hop 2: injection is
		// found without the server.
		{"blocked.test.", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var hop int
			var addr netip.Addr
			start := time.Now()
			err := bed.Client.Do(func() (err error) {
				hop, addr, err = l.Locate(context.Background(), netip.AddrPortFrom(bedNoServer, 53), tt.name, 0)
				return err
			})
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if hop != tt.wantHop || hop != 0 && addr != bedR2Near {
				t.Errorf("Locate = hop %d at %v, want hop %d", hop, addr, tt.wantHop)
			}
			if took > bound+time.Second {
				t.Errorf("Locate took %v, bound is %v", took, bound)
			}
		})
	}
}
