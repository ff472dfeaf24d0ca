package upstream

import (
	"context"
	"net"
	"os"
	"sync"
	"testing"

	"codeberg.org/miekg/dns"
)

// TestUDPFreshPortEachQuery: every exchange leaves from a port of its own that the kernel picked
// at random (RFC 5452), and its socket is closed when the exchange ends, so a resolver that asks
// many servers holds no descriptors between questions.
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

	before := openFiles(t)
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
	if after := openFiles(t); after > before {
		t.Errorf("%d descriptors open after the exchanges, %d before", after, before)
	}
}

// openFiles counts the process's open descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(fds)
}
