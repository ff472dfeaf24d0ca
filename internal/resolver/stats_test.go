package resolver_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/resolver"
)

// TestUpstreamsStats: a server that sends a reply with the wrong ID before the right one is
// counted once as asked and once as mismatched, and the sum covers every server.
func TestUpstreamsStats(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			r := append([]byte(nil), buf[:n]...)
			r[2] |= 0x80 // QR: the question echoed with no records is a valid empty answer
			wrong := append([]byte(nil), r...)
			wrong[1]++
			pc.WriteTo(wrong, from)
			pc.WriteTo(r, from)
		}
	}()
	x := resolver.NewUpstreams(uint16(pc.LocalAddr().(*net.UDPAddr).Port), time.Second)
	defer x.Close()
	if s := x.Stats(); s.Queries != 0 || s.Mismatches != 0 {
		t.Fatalf("before any query: %+v", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for range 2 {
		if _, err := x.Exchange(ctx, resolver.Question{Name: "example.", Type: dns.TypeA}, ".", netip.MustParseAddr("127.0.0.1")); err != nil {
			t.Fatal(err)
		}
	}
	if s := x.Stats(); s.Queries != 2 || s.Mismatches != 2 || s.Timeouts != 0 || s.Errors != 0 {
		t.Fatalf("stats %+v, want 2 queries and 2 mismatches", s)
	}
}
