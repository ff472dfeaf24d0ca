package dnstest

import (
	"net"
	"net/netip"
	"sync"
	"testing"

	"codeberg.org/miekg/dns"
)

// ServeUDP runs handle for every query that reaches a UDP socket on ip (a loopback address) and a
// free port, until the test ends; handle may send any number of replies, after any delays. Each
// query is handled on its own goroutine, so that a delayed reply does not hold up the next query.
// It stands in for resolvers and on-path injectors in tests of what a client makes of their
// replies.
func ServeUDP(t testing.TB, ip string, handle func(q *dns.Msg, send func(*dns.Msg))) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := &dns.Msg{Data: append([]byte(nil), buf[:n]...)}
			if q.Unpack() != nil || len(q.Question) != 1 {
				continue
			}
			wg.Go(func() {
				handle(q, func(m *dns.Msg) {
					if err := m.Pack(); err == nil {
						_, _ = pc.WriteTo(m.Data, from)
					}
				})
			})
		}
	})
	t.Cleanup(func() { _ = pc.Close(); wg.Wait() })
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}
