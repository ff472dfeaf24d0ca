package upstream

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
)

// TestAgainstKnot sends real queries over UDP and TCP to a Knot DNS server serving
// testdata/up.test.zone and checks the answers, truncation and the TCP fallback.
func TestAgainstKnot(t *testing.T) {
	addr := dnstest.StartKnot(t, []dnstest.Zone{{Origin: "up.test.", File: filepath.Join("testdata", "up.test.zone")}})
	ctx, cancel := context.WithTimeout(context.Background(), slow)
	defer cancel()

	transports := map[string]Upstream{
		"udp":   NewUDP(addr, Options{Timeout: slow}),
		"tcp":   NewTCP(addr, Options{Timeout: slow}),
		"plain": NewPlain(addr, Options{Timeout: slow}),
	}
	t.Cleanup(func() {
		transports["tcp"].(*TCP).Close()
		transports["plain"].(*Plain).Close()
	})
	for name, up := range transports {
		t.Run(name+"/A", func(t *testing.T) {
			q := mustQuery(t, "www.up.test.", dns.TypeA)
			r, err := up.Exchange(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Authoritative() || r.Rcode != dns.RcodeSuccess || !r.EDNS || r.RTT <= 0 {
				t.Errorf("flags %#04x rcode %d edns %v rtt %v", r.Flags, r.Rcode, r.EDNS, r.RTT)
			}
			if got := firstA(t, unpack(t, r.Data)); got != netip.MustParseAddr("192.0.2.10") {
				t.Errorf("A = %v, want 192.0.2.10", got)
			}
			if s := up.Stats(); s.Queries != 1 || s.SRTT <= 0 || s.Mismatches != 0 {
				t.Errorf("stats %+v", s)
			}
		})
		t.Run(name+"/NXDOMAIN", func(t *testing.T) {
			r, err := up.Exchange(ctx, mustQuery(t, "nope.up.test.", dns.TypeA))
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != dns.RcodeNameError {
				t.Errorf("rcode %d, want NXDOMAIN", r.Rcode)
			}
		})
	}

	big := mustQuery(t, "big.up.test.", dns.TypeTXT)
	big.UDPSize = 512
	t.Run("udp/truncated", func(t *testing.T) {
		u := NewUDP(addr, Options{Timeout: slow})
		r, err := u.Exchange(ctx, big)
		if !errors.Is(err, ErrTruncated) || r == nil || !r.Truncated() {
			t.Fatalf("got %v, %v; want a truncated reply with ErrTruncated", r, err)
		}
		if len(r.Data) > 512 {
			t.Errorf("truncated reply of %d bytes exceeds the advertised 512", len(r.Data))
		}
		if s := u.Stats(); s.Truncated != 1 {
			t.Errorf("stats %+v, want 1 truncated", s)
		}
	})
	t.Run("plain/fallback", func(t *testing.T) {
		p := NewPlain(addr, Options{Timeout: slow})
		defer p.Close()
		r, err := p.Exchange(ctx, big)
		if err != nil {
			t.Fatal(err)
		}
		if r.Truncated() {
			t.Fatal("TCP fallback reply is truncated")
		}
		if n := len(unpack(t, r.Data).Answer); n != 20 {
			t.Errorf("%d TXT records, want 20", n)
		}
		if s := p.Stats(); s.Queries != 2 || s.Truncated != 1 {
			t.Errorf("stats %+v, want 2 queries (UDP then TCP) and 1 truncated", s)
		}
	})
	t.Run("udp/DO", func(t *testing.T) {
		q := mustQuery(t, "www.up.test.", dns.TypeA)
		q.DO = true
		r, err := NewUDP(addr, Options{Timeout: slow}).Exchange(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if m := unpack(t, r.Data); !m.Security {
			t.Error("DO bit not echoed in the reply's OPT record")
		}
	})
}
