package upstream

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"

	"codeberg.org/miekg/dns"
)

// TestUDPFreshPortEachQuery: every exchange leaves from a port of its own that the kernel picked
// at random (RFC 5452), and its socket is closed when the exchange ends, so a resolver that asks
// many servers holds no sockets between questions.
func TestUDPFreshPortEachQuery(t *testing.T) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("127.0.46.8")})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ports := map[uint16]int{}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, maxMsgLen)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			mu.Lock()
			ports[from.Port()]++
			mu.Unlock()
			pc.WriteToUDPAddrPort(answerA(append([]byte(nil), buf[:n]...)), from)
		}
	})
	t.Cleanup(func() { pc.Close(); wg.Wait() })

	u := NewUDP(pc.LocalAddr().String(), Options{Timeout: slow, HoldOn: NewHoldOn(nil)})
	const n = 64
	for range n {
		if _, err := u.Exchange(context.Background(), mustQuery(t, "www.example.", dns.TypeA)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	distinct := len(ports)
	mu.Unlock()
	// With about 28,000 ephemeral ports, 64 random ones repeat one with probability about 7 %:
	// more than two repeats means the ports are not drawn afresh.
	if distinct < n-2 {
		t.Errorf("%d queries left from %d distinct ports", n, distinct)
	}
	if open := socketsTo(t, pc.LocalAddr().(*net.UDPAddr).AddrPort()); open != 0 {
		t.Errorf("%d sockets connected to the server are still open after the exchanges", open)
	}
}

// socketsTo counts the UDP sockets connected to server (IPv4) in the kernel's table.
func socketsTo(t *testing.T, server netip.AddrPort) int {
	t.Helper()
	table, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Skip(err)
	}
	ip := server.Addr().As4()
	// The table prints the address as the 32-bit word in the machine's byte order.
	remote := fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ip[:]), server.Port())
	n := 0
	for _, line := range strings.Split(string(table), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == remote {
			n++
		}
	}
	return n
}
