package server

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"warden/internal/query"
)

// tcpFrame prefixes msg with its length.
func tcpFrame(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)
}

// readFrame reads one length-prefixed message.
func readFrame(c net.Conn) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err := io.ReadFull(c, msg)
	return msg, err
}

func dialTCP(t *testing.T, l *Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return c
}

// expectClosed asserts that the server closes c within d.
func expectClosed(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	if isTimeout(err) {
		t.Fatalf("connection still open after %v", d)
	}
	if err == nil {
		t.Fatal("read data from a connection that should have been closed")
	}
}

func TestTCPRoundTrip(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{{"IPv4", "127.0.0.1:0"}, {"IPv6", "[::1]:0"}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "IPv6" && !hasIPv6Loopback() {
				t.Skip("no IPv6 loopback")
			}
			h := &echoHandler{}
			l := startListener(t, ListenerConfig{Addr: tc.addr, UDPWorkers: 1}, h)
			c := dialTCP(t, l)
			for id := uint16(1); id <= 3; id++ {
				q := newQuery(t, id, "www.example.org.")
				if _, err := c.Write(tcpFrame(q)); err != nil {
					t.Fatal(err)
				}
				resp, err := readFrame(c)
				if err != nil {
					t.Fatal(err)
				}
				checkAnswer(t, q, resp)
			}
			client, transport := h.last()
			if want := c.LocalAddr().(*net.TCPAddr).AddrPort(); client != want || transport != query.TCP {
				t.Errorf("handler saw client %v over %v, want %v over tcp", client, transport, want)
			}
		})
	}
}

func TestTCPPipelining(t *testing.T) {
	// The first half of the IDs take a while; the rest are instant. Answers to the fast half must
	// not wait behind the slow half (RFC 7766 §7).
	h := &echoHandler{delay: func(id uint16) time.Duration {
		if id < 10 {
			return 150 * time.Millisecond
		}
		return 0
	}}
	l := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, h)
	c := dialTCP(t, l)

	var burst []byte
	for id := range uint16(20) {
		burst = append(burst, tcpFrame(newQuery(t, id, "example.org."))...)
	}
	start := time.Now()
	if _, err := c.Write(burst); err != nil { // all 20 in one write
		t.Fatal(err)
	}
	seen := make(map[uint16]bool)
	var order []uint16
	for range 20 {
		resp, err := readFrame(c)
		if err != nil {
			t.Fatalf("after %d answers: %v", len(order), err)
		}
		id := binary.BigEndian.Uint16(resp)
		if seen[id] {
			t.Fatalf("ID %d answered twice", id)
		}
		seen[id] = true
		order = append(order, id)
	}
	elapsed := time.Since(start)
	t.Logf("answer order %v in %v", order, elapsed)
	if order[0] < 10 {
		t.Errorf("first answer is for slow ID %d; the fast ones should not wait", order[0])
	}
	// Run one after the other the slow half would take 1.5s.
	if elapsed > time.Second {
		t.Errorf("20 pipelined queries took %v; they did not run concurrently", elapsed)
	}
}

func TestTCPPipelineLimit(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	h := &blockingHandler{release: release}
	l := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1, TCPMaxPipelined: 3}, h)
	defer once.Do(func() { close(release) })
	c := dialTCP(t, l)
	var burst []byte
	for id := range uint16(10) {
		burst = append(burst, tcpFrame(newQuery(t, id, "example.org."))...)
	}
	if _, err := c.Write(burst); err != nil {
		t.Fatal(err)
	}
	if !waitFor(2*time.Second, func() bool { return h.echo.inflight.Load() == 3 }) {
		t.Fatalf("in flight %d, want 3", h.echo.inflight.Load())
	}
	time.Sleep(100 * time.Millisecond) // give a broken limit the chance to show
	if n := h.echo.maxInflight.Load(); n != 3 {
		t.Fatalf("max in flight %d, want 3", n)
	}
	once.Do(func() { close(release) })
	for i := range 10 {
		if _, err := readFrame(c); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
	}
}

// blockingHandler holds every query until release is closed.
type blockingHandler struct {
	echo    echoHandler
	release chan struct{}
}

func (h *blockingHandler) ServeDNS(req *query.Request, out []byte) []byte {
	n := h.echo.inflight.Add(1)
	for {
		m := h.echo.maxInflight.Load()
		if n <= m || h.echo.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	<-h.release
	h.echo.inflight.Add(-1)
	return h.echo.ServeDNS(req, out)
}

func TestTCPIdleTimeout(t *testing.T) {
	l := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1, TCPIdleTimeout: 200 * time.Millisecond},
		&echoHandler{})

	t.Run("silent client", func(t *testing.T) {
		c := dialTCP(t, l)
		start := time.Now()
		expectClosed(t, c, 2*time.Second)
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("closed after %v, before the idle timeout", d)
		}
	})
	t.Run("idle after a query", func(t *testing.T) {
		c := dialTCP(t, l)
		if _, err := c.Write(tcpFrame(newQuery(t, 1, "example.org."))); err != nil {
			t.Fatal(err)
		}
		if _, err := readFrame(c); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c, 2*time.Second)
	})
	t.Run("half a message", func(t *testing.T) {
		c := dialTCP(t, l)
		q := tcpFrame(newQuery(t, 1, "example.org."))
		if _, err := c.Write(q[:5]); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c, 2*time.Second)
	})
}

func TestTCPZeroLengthCloses(t *testing.T) {
	l := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, &echoHandler{})
	c := dialTCP(t, l)
	if _, err := c.Write([]byte{0, 0}); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c, 2*time.Second)
}

func TestTCPMalformedAndDroppedQueries(t *testing.T) {
	h := &echoHandler{panic: func(id uint16) bool { return id == 2 }}
	l := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, h)
	c := dialTCP(t, l)
	// Garbage, a panicking query and a good one: only the good one is answered, and the connection
	// stays usable.
	var burst []byte
	burst = append(burst, tcpFrame([]byte{1, 2, 3})...)
	burst = append(burst, tcpFrame(newQuery(t, 2, "example.org."))...)
	good := newQuery(t, 3, "example.org.")
	burst = append(burst, tcpFrame(good)...)
	if _, err := c.Write(burst); err != nil {
		t.Fatal(err)
	}
	resp, err := readFrame(c)
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer(t, good, resp)
}

// A handler may return a slice other than out; the listener still sends it whole.
func TestTCPResultOutsideOut(t *testing.T) {
	fixed := newQuery(t, 77, "fixed.example.")
	fixed[2] |= 0x80
	h := handlerFunc(func(req *query.Request, out []byte) []byte { return fixed })
	l := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, h)
	c := dialTCP(t, l)
	if _, err := c.Write(tcpFrame(newQuery(t, 1, "example.org."))); err != nil {
		t.Fatal(err)
	}
	resp, err := readFrame(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp, fixed) {
		t.Errorf("got %x, want %x", resp, fixed)
	}
}

type handlerFunc func(req *query.Request, out []byte) []byte

func (f handlerFunc) ServeDNS(req *query.Request, out []byte) []byte { return f(req, out) }

func TestTCPConnectionLimit(t *testing.T) {
	l := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1, TCPMaxConns: 2}, &echoHandler{})
	query := func(c net.Conn) error {
		if _, err := c.Write(tcpFrame(newQuery(t, 5, "example.org."))); err != nil {
			return err
		}
		_, err := readFrame(c)
		return err
	}
	// A query answered on each proves both connections are registered.
	a, b := dialTCP(t, l), dialTCP(t, l)
	for _, c := range []net.Conn{a, b} {
		if err := query(c); err != nil {
			t.Fatal(err)
		}
	}
	extra := dialTCP(t, l) // the kernel completes the handshake; the server then closes it
	expectClosed(t, extra, 2*time.Second)

	// Once one closes, a new connection is served again.
	_ = a.Close()
	ok := waitFor(2*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", l.TCPAddr().String(), time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		return query(c) == nil
	})
	if !ok {
		t.Error("no connection accepted after one of the two closed")
	}
	if err := query(b); err != nil {
		t.Errorf("existing connection broken: %v", err)
	}
}

func TestTCPClientSeesUnmappedIPv4OnDualStack(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 loopback")
	}
	h := &echoHandler{}
	l := startListener(t, ListenerConfig{Addr: "[::]:0", UDPWorkers: 1}, h)
	port := l.TCPAddr().(*net.TCPAddr).Port
	c, err := net.Dial("tcp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(tcpFrame(newQuery(t, 1, "example.org."))); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(c); err != nil {
		t.Fatal(err)
	}
	if client, _ := h.last(); !client.Addr().Is4() {
		t.Errorf("handler saw %v, want an IPv4 address", client)
	}
}

// BenchmarkTCPRoundTrip measures one query and answer on an open connection.
func BenchmarkTCPRoundTrip(b *testing.B) {
	l, err := Listen(ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, &echoHandler{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.TCPAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	q := tcpFrame(newQuery(b, 7, "www.example.org."))
	buf := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(q); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:len(q)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTCPPipelined sends 100 queries in one write on an open connection and reads the 100
// answers: the server's reader takes them from one buffer, message after message.
func BenchmarkTCPPipelined(b *testing.B) {
	l, err := Listen(ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, &echoHandler{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.TCPAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	q := tcpFrame(newQuery(b, 7, "www.example.org."))
	batch := bytes.Repeat(q, 100)
	buf := make([]byte, len(batch))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(batch); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}
