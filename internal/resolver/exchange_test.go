package resolver

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// preEDNSServer is a server from before RFC 6891 on 127.0.0.1: a query with an OPT record gets
// FORMERR (with the question, without OPT); one without gets an A record. It returns its port and
// counts the queries of each kind.
func preEDNSServer(t *testing.T) (port uint16, withOPT, withoutOPT *atomic.Int32) {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	withOPT, withoutOPT = new(atomic.Int32), new(atomic.Int32)
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			if n < 12+5 {
				continue
			}
			reply := append([]byte(nil), q...)
			reply[2] |= 0x84 // QR, AA
			if binary.BigEndian.Uint16(q[10:]) > 0 {
				withOPT.Add(1)
				reply = reply[:n-11] // the OPT record is the last 11 bytes
				reply[3] = (reply[3] &^ 0xf) | dns.RcodeFormatError
				binary.BigEndian.PutUint16(reply[10:], 0)
			} else {
				withoutOPT.Add(1)
				binary.BigEndian.PutUint16(reply[6:], 1)
				reply = append(reply, 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 7)
			}
			_, _ = c.WriteTo(reply, from)
		}
	}()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port), withOPT, withoutOPT
}

// A server that rejects EDNS is asked again without it, and then without it from the start.
func TestEDNSFallback(t *testing.T) {
	port, withOPT, withoutOPT := preEDNSServer(t)
	u := NewUpstreams(port, time.Second)
	defer u.Close()
	server := netip.MustParseAddr("127.0.0.1")
	for i := range 3 {
		m, err := u.Exchange(context.Background(), Question{"www.old.example.", dns.TypeA}, "old.example.", server)
		if err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Fatalf("query %d: rcode %d, answer %v", i, m.Rcode, m.Answer)
		}
	}
	if withOPT.Load() != 1 || withoutOPT.Load() != 3 {
		t.Fatalf("%d queries with EDNS, %d without; want 1 and 3", withOPT.Load(), withoutOPT.Load())
	}
}

// Lame moves a server behind one that has answered nothing yet.
func TestLameRaisesSRTT(t *testing.T) {
	port, _, _ := preEDNSServer(t)
	u := NewUpstreams(port, time.Second)
	defer u.Close()
	server := netip.MustParseAddr("127.0.0.1")
	if _, err := u.Exchange(context.Background(), Question{"www.old.example.", dns.TypeA}, "old.example.", server); err != nil {
		t.Fatal(err)
	}
	before := u.SRTT(server)
	u.Lame(server)
	if after := u.SRTT(server); after < time.Second || after <= before {
		t.Fatalf("SRTT %s after Lame (before %s); want at least the 1 s timeout", after, before)
	}
}
