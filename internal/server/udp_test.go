package server

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"warden/internal/query"
)

// udpExchange sends q on c and returns the answer.
func udpExchange(t testing.TB, c *net.UDPConn, q []byte) []byte {
	t.Helper()
	if _, err := c.Write(q); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, 65535)
	if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n]
}

func dialUDP(t testing.TB, network, addr string) *net.UDPConn {
	t.Helper()
	ra, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	// A connected socket accepts only datagrams from the address it dialled, so a reply sent from
	// the wrong source address shows up as a timeout.
	c, err := net.DialUDP(network, nil, ra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testUDPRoundTrip(t *testing.T, listenAddr, network, dialHost string) {
	h := &echoHandler{}
	l := startListener(t, ListenerConfig{Addr: listenAddr, UDPWorkers: 2}, h)
	port := l.UDPAddr().(*net.UDPAddr).Port
	c := dialUDP(t, network, net.JoinHostPort(dialHost, strconv.Itoa(port)))
	q := newQuery(t, 4242, "www.example.org.")
	checkAnswer(t, q, udpExchange(t, c, q))

	client, transport := h.last()
	local := c.LocalAddr().(*net.UDPAddr).AddrPort()
	want := netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	if client != want || transport != query.UDP {
		t.Errorf("handler saw client %v over %v, want %v over udp", client, transport, want)
	}
}

func TestUDPRoundTripIPv4(t *testing.T) {
	testUDPRoundTrip(t, "127.0.0.1:0", "udp4", "127.0.0.1")
}

func TestUDPRoundTripIPv6(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 loopback")
	}
	testUDPRoundTrip(t, "[::1]:0", "udp6", "::1")
}

// On a wildcard address the reply must come from the address the query went to; 127.0.0.2 is a
// local address the kernel would not pick as source on its own.
func TestUDPWildcardRepliesFromQueriedAddress(t *testing.T) {
	t.Run("IPv4", func(t *testing.T) {
		testUDPRoundTrip(t, "0.0.0.0:0", "udp4", "127.0.0.2")
	})
	if !hasIPv6Loopback() {
		return
	}
	t.Run("dual stack via IPv4", func(t *testing.T) {
		testUDPRoundTrip(t, "[::]:0", "udp4", "127.0.0.2")
	})
	t.Run("dual stack via IPv6", func(t *testing.T) {
		testUDPRoundTrip(t, "[::]:0", "udp6", "::1")
	})
}

func TestUDPManyConcurrentQueries(t *testing.T) {
	l := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 4}, &echoHandler{})
	addr := l.UDPAddr().String()

	const clients, perClient = 16, 64
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for ci := range clients {
		c := dialUDP(t, "udp4", addr)
		queries := make([][]byte, perClient)
		for i := range queries {
			queries[i] = newQuery(t, uint16(ci*perClient+i), "example.org.")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Burst a whole window, so that the workers see several datagrams per recvmmsg, then
			// collect the answers in whatever order they come.
			want := make(map[uint16]bool, perClient)
			for i, q := range queries {
				want[uint16(ci*perClient+i)] = true
				if _, err := c.Write(q); err != nil {
					errs <- err.Error()
					return
				}
			}
			buf := make([]byte, 512)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for len(want) > 0 {
				n, err := c.Read(buf)
				if err != nil {
					errs <- err.Error()
					return
				}
				if n < 12 || buf[2]&0x80 == 0 {
					errs <- "bad answer"
					return
				}
				delete(want, uint16(buf[0])<<8|uint16(buf[1]))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestUDPNilResultSendsNothing(t *testing.T) {
	h := &echoHandler{
		drop:  func(id uint16) bool { return id == 1 },
		panic: func(id uint16) bool { return id == 3 },
	}
	l := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, h)
	c := dialUDP(t, "udp4", l.UDPAddr().String())

	// IDs 1 (dropped) and 3 (handler panics) get nothing; 2 and 4 are answered, and are the only
	// answers that arrive.
	for id := uint16(1); id <= 4; id++ {
		if _, err := c.Write(newQuery(t, id, "example.org.")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write([]byte{0, 9, 0}); err != nil { // too short to parse: the handler drops it
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	var got []uint16
	for {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil {
			if !isTimeout(err) {
				t.Fatal(err)
			}
			break
		}
		if n >= 2 {
			got = append(got, uint16(buf[0])<<8|uint16(buf[1]))
		}
	}
	if len(got) != 2 || got[0] != 2 || got[1] != 4 {
		t.Errorf("answers for IDs %v, want [2 4]", got)
	}
}

// benchUDP measures one query and its answer through a real socket pair; the client side
// allocates nothing either, so allocs/op is the server's.
func benchUDP(b *testing.B, addr string) {
	c := dialUDP(b, "udp4", addr)
	q := newQuery(b, 7, "www.example.org.")
	buf := make([]byte, 512)
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(q); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUDPRoundTrip(b *testing.B) {
	l, err := Listen(ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, &echoHandler{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	benchUDP(b, l.UDPAddr().String())
}

// BenchmarkUDPRoundTripPlain is the standard-library loop, for comparison.
func BenchmarkUDPRoundTripPlain(b *testing.B) {
	ap := netip.MustParseAddrPort("127.0.0.1:0")
	p, err := listenPlainUDP(ap, 1, &echoHandler{}, nil, discardLog)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	benchUDP(b, p.LocalAddr().String())
}
