package server

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
)

var discardLog = slog.New(slog.DiscardHandler)

// echoHandler answers every well-formed query with the query itself, QR set. Hooks let a test
// slow down, drop or panic on chosen IDs.
type echoHandler struct {
	delay func(id uint16) time.Duration
	drop  func(id uint16) bool
	panic func(id uint16) bool

	mu            sync.Mutex
	lastClient    netip.AddrPort
	lastTransport query.Transport

	inflight    atomic.Int32
	maxInflight atomic.Int32
}

func (h *echoHandler) ServeDNS(req *query.Request, out []byte) []byte {
	if req.Parse() != query.Accept {
		return nil
	}
	n := h.inflight.Add(1)
	defer h.inflight.Add(-1)
	for {
		m := h.maxInflight.Load()
		if n <= m || h.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	h.mu.Lock()
	h.lastClient, h.lastTransport = req.Client, req.Transport
	h.mu.Unlock()
	if h.panic != nil && h.panic(req.ID) {
		panic("test panic")
	}
	if h.drop != nil && h.drop(req.ID) {
		return nil
	}
	if h.delay != nil {
		time.Sleep(h.delay(req.ID))
	}
	out = append(out, req.Wire...)
	out[2] |= query.FlagQR >> 8
	return out
}

func (h *echoHandler) last() (netip.AddrPort, query.Transport) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastClient, h.lastTransport
}

// newQuery packs an A query for name with the given ID.
func newQuery(t testing.TB, id uint16, name string) []byte {
	t.Helper()
	m := dns.NewMsg(name, dns.TypeA)
	m.ID = id
	if err := m.Pack(); err != nil {
		t.Fatalf("pack query: %v", err)
	}
	return append([]byte(nil), m.Data...)
}

// checkAnswer asserts that resp is the echo of q.
func checkAnswer(t testing.TB, q, resp []byte) {
	t.Helper()
	if len(resp) != len(q) {
		t.Fatalf("answer is %d bytes, want %d", len(resp), len(q))
	}
	m := &dns.Msg{Data: append([]byte(nil), resp...)}
	if err := m.Unpack(); err != nil {
		t.Fatalf("unpack answer: %v", err)
	}
	if !m.Response {
		t.Fatalf("answer has QR clear")
	}
	if got, want := m.ID, uint16(q[0])<<8|uint16(q[1]); got != want {
		t.Fatalf("answer ID %d, want %d", got, want)
	}
}

func startListener(t testing.TB, cfg ListenerConfig, h Handler) *Listener {
	t.Helper()
	l, err := Listen(cfg, h, nil)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func hasIPv6Loopback() bool {
	c, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCloseIsPromptAndLeavesNothing(t *testing.T) {
	runtime.GC()
	goroutines := runtime.NumGoroutine()

	const workers = 4
	h := &echoHandler{delay: func(uint16) time.Duration { return 100 * time.Millisecond }}
	l, err := Listen(ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: workers}, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	// An idle TCP connection and one with a query in flight must not hold Close up beyond the
	// handler's own time.
	idle, err := net.Dial("tcp", l.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", l.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := busy.Write(tcpFrame(newQuery(t, 1, "example.org."))); err != nil {
		t.Fatal(err)
	}
	if !waitFor(2*time.Second, func() bool { return h.inflight.Load() == 1 }) {
		t.Fatal("query never reached the handler")
	}

	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	t.Logf("Close took %v", time.Since(start))
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if !waitFor(2*time.Second, func() bool { return runtime.NumGoroutine() <= goroutines }) {
		t.Errorf("goroutines: %d before Listen, %d after Close", goroutines, runtime.NumGoroutine())
	}
}

func TestListenErrors(t *testing.T) {
	h := &echoHandler{}
	l := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, h)
	taken := l.UDPAddr().String()

	// A TCP-only holder of the port must also make Listen fail.
	tcpOnly, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcpOnly.Close()

	for _, tc := range []struct {
		cfg  ListenerConfig
		want string
	}{
		{ListenerConfig{Addr: taken}, "address already in use"},
		{ListenerConfig{Addr: tcpOnly.Addr().String()}, "address already in use"},
		{ListenerConfig{Addr: "localhost:53"}, "not an IP address"},
		{ListenerConfig{Addr: "127.0.0.1"}, "missing port"},
		{ListenerConfig{Addr: "127.0.0.1:99999"}, "port"},
		{ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: -1}, "UDPWorkers"},
		{ListenerConfig{Addr: "127.0.0.1:0", TCPMaxConns: -1}, "TCPMaxConns"},
	} {
		l, err := Listen(tc.cfg, h, nil)
		if err == nil {
			_ = l.Close()
			t.Errorf("Listen(%+v) succeeded", tc.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tc.cfg.Addr) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Listen(%+v) = %q, want it to name the address and %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := Listen(ListenerConfig{Addr: "127.0.0.1:0"}, nil, nil); err == nil {
		t.Error("Listen with nil handler succeeded")
	}
}

func TestListenSamePortBothTransports(t *testing.T) {
	l := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, &echoHandler{})
	u, tc := l.UDPAddr().(*net.UDPAddr), l.TCPAddr().(*net.TCPAddr)
	if u.Port == 0 || u.Port != tc.Port {
		t.Errorf("UDP port %d, TCP port %d", u.Port, tc.Port)
	}
}

func TestParseListenAddr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"127.0.0.1:53", "127.0.0.1:53", true},
		{"[::1]:1053", "[::1]:1053", true},
		{":53", "[::]:53", true},
		{"[::ffff:192.0.2.1]:53", "192.0.2.1:53", true},
		{"[fe80::1%eth0]:53", "", false},
		{"example.org:53", "", false},
		{"127.0.0.1:-1", "", false},
		{"127.0.0.1:x", "", false},
	} {
		got, err := parseListenAddr(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("parseListenAddr(%q) error %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && got.String() != tc.want {
			t.Errorf("parseListenAddr(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Every listener stamps a query with the time it read it, for the stages that count time.
func TestListenersStampQueries(t *testing.T) {
	var mu sync.Mutex
	var stamps []time.Time
	h := handlerFunc(func(req *query.Request, out []byte) []byte {
		mu.Lock()
		stamps = append(stamps, req.Received)
		mu.Unlock()
		out = append(out, req.Wire...)
		out[2] |= query.FlagQR >> 8
		return out
	})
	l := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, h)
	before := time.Now()
	q := newQuery(t, 7, "www.example.org.")
	checkAnswer(t, q, udpAsk(t, l.UDPAddr().String(), q))
	c := dialTCP(t, l)
	if _, err := c.Write(tcpFrame(q)); err != nil {
		t.Fatal(err)
	}
	resp, err := readFrame(c)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, q, resp)
	after := time.Now()
	mu.Lock()
	defer mu.Unlock()
	if len(stamps) != 2 {
		t.Fatalf("%d queries seen, want 2", len(stamps))
	}
	for i, s := range stamps {
		if s.Before(before) || s.After(after) {
			t.Errorf("query %d stamped %v, outside [%v, %v]", i, s, before, after)
		}
	}
}
