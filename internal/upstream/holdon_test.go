package upstream

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
	"golang.org/x/sys/unix"

	"warden/internal/wire"
)

// The injecting server plays both sides of an on-path attack on one loopback address: it answers
// every query after serverDelay, as a distant server would, and for the injected names it first
// sends at once a forged reply with another IP TTL, as an injector on the path would. Over TCP it
// answers only the real reply (the injector in these tests forges UDP alone). The delay is long
// enough that a loaded machine (the race detector, other tests) rarely stretches a round trip past
// the window of twice the usual.
const serverDelay = 100 * time.Millisecond

var (
	realAddr   = netip.MustParseAddr("192.0.2.1")
	forgedAddr = netip.MustParseAddr("198.51.100.66")
)

// forgedTTL is the IP TTL of the forged datagrams; loopback delivers the real ones with 64.
const forgedTTL = 50

type injectingServer struct {
	// lateReal delays the real reply to an injected name past any window.
	lateReal atomic.Bool
	addr     string
	injected map[string]bool // lower-case names with the final dot
	forged   atomic.Int32
	tcpConns *atomic.Int32
}

// replyWith is answerA with the A record's address replaced.
func replyWith(q []byte, a netip.Addr) []byte {
	r := answerA(q)
	if r == nil {
		return nil
	}
	a4 := a.As4()
	copy(r[len(r)-4:], a4[:])
	return r
}

// queryName is the lower-case name of a query, "" when there is none.
func queryName(q []byte) string {
	if len(q) < headerLen {
		return ""
	}
	end, err := wire.SkipName(q, headerLen)
	if err != nil {
		return ""
	}
	return strings.ToLower(wire.NameString(q[headerLen:end]))
}

// startInjecting runs the server on host (one of the 127.0.36.x addresses the upstream tests use),
// with a TCP listener on the same port when tcp is set.
func startInjecting(t *testing.T, host string, tcp bool, injected ...string) *injectingServer {
	t.Helper()
	return startInjectingWith(t, host, tcp, replyWith, injected...)
}

// startInjectingWith is startInjecting with the replies made by answer: the real one with
// realAddr, the forged one with forgedAddr.
func startInjectingWith(t *testing.T, host string, tcp bool, answer func(q []byte, a netip.Addr) []byte, injected ...string) *injectingServer {
	t.Helper()
	s := &injectingServer{injected: map[string]bool{}, tcpConns: new(atomic.Int32)}
	for _, n := range injected {
		s.injected[n] = true
	}
	var pc *net.UDPConn
	var l net.Listener
	for try := 0; ; try++ {
		var err error
		pc, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(host)})
		if err != nil {
			t.Fatal(err)
		}
		if !tcp {
			break
		}
		if l, err = net.Listen("tcp4", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if try == 10 {
			t.Fatalf("no port free for both UDP and TCP on %s: %v", host, err)
		}
	}
	s.addr = pc.LocalAddr().String()
	raw, err := pc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// setTTL is only called from the reading goroutine; the delayed real replies are written
	// with the default TTL restored under mu.
	var mu sync.Mutex
	sendWithTTL := func(b []byte, to *net.UDPAddr, ttl int) {
		mu.Lock()
		defer mu.Unlock()
		_ = raw.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl) })
		_, _ = pc.WriteToUDP(b, to)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			delay := serverDelay
			if s.injected[queryName(q)] {
				sendWithTTL(answer(q, forgedAddr), from, forgedTTL)
				s.forged.Add(1)
				if s.lateReal.Load() {
					delay = 5 * serverDelay
				}
			}
			wg.Go(func() {
				select {
				case <-time.After(delay):
					sendWithTTL(answer(q, realAddr), from, 64)
				case <-done:
				}
			})
		}
	})
	if tcp {
		var accepts *atomic.Int32
		_, accepts = streamServer(t, l, false, func(q []byte) [][]byte { return [][]byte{answer(q, realAddr)} })
		s.tcpConns = accepts
	}
	t.Cleanup(func() { close(done); pc.Close(); wg.Wait() })
	return s
}

// exchangeA asks name over up and returns the A record's address of the reply.
func exchangeA(t *testing.T, up Upstream, name string) (netip.Addr, *Reply) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), slow)
	defer cancel()
	r, err := up.Exchange(ctx, mustQuery(t, name, dns.TypeA))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return firstA(t, unpack(t, r.Data)), r
}

// warmUp gives the server a history of clean replies.
func warmUp(t *testing.T, up Upstream) {
	t.Helper()
	for range historyLen {
		if a, _ := exchangeA(t, up, "clean.example."); a != realAddr {
			t.Fatalf("clean.example: %v, want %v", a, realAddr)
		}
	}
}

// With Hold-On, the forged reply that arrives first is held, the real one arrives within the
// window, TCP settles the difference, and the injection is counted against the server and name.
func TestHoldOnKeepsRealReply(t *testing.T) {
	s := startInjecting(t, "127.0.36.1", true, "blocked.example.")
	h := NewHoldOn(nil)
	up := NewPlain(s.addr, Options{Timeout: slow, HoldOn: h})
	warmUp(t, up)
	for i := range 5 {
		if a, _ := exchangeA(t, up, "BLOCKED.example."); a != realAddr {
			t.Fatalf("query %d: %v, want the real %v", i, a, realAddr)
		}
	}
	if s.forged.Load() != 5 {
		t.Errorf("injector forged %d replies, want 5", s.forged.Load())
	}
	got := h.Snapshot()
	if got.Total != 5 || len(got.Servers) != 1 || got.Servers[0] != (DetectionCount{s.addr, 5}) ||
		len(got.Names) != 1 || got.Names[0] != (DetectionCount{"blocked.example.", 5}) {
		t.Errorf("detections %+v, want 5 against %s and blocked.example.", got, s.addr)
	}
	if s.tcpConns.Load() == 0 {
		t.Error("no TCP connection: the two replies were not settled over TCP")
	}
}

// A forgery whose rival is late (past the window) is still not taken: its IP TTL is not the
// server's, so TCP is asked, and its different answer wins and counts as an injection. A clean
// name's reply with the server's TTL is never sent to TCP.
func TestHoldOnLateRivalCaughtByTTL(t *testing.T) {
	s := startInjecting(t, "127.0.36.8", true, "blocked.example.")
	s.lateReal.Store(true)
	h := NewHoldOn(nil)
	up := NewPlain(s.addr, Options{Timeout: slow, HoldOn: h})
	warmUp(t, up)
	if s.tcpConns.Load() != 0 {
		t.Fatal("clean names went to TCP")
	}
	if a, _ := exchangeA(t, up, "blocked.example."); a != realAddr {
		t.Fatalf("%v, want the real %v", a, realAddr)
	}
	if h.Total() != 1 || s.tcpConns.Load() == 0 {
		t.Errorf("%d detections, %d TCP connections; want 1 and some", h.Total(), s.tcpConns.Load())
	}
}

func TestSameAnswer(t *testing.T) {
	q := mustQuery(t, "www.example.", dns.TypeA)
	out, err := q.pack(1, true)
	if err != nil {
		t.Fatal(err)
	}
	other, err := q.pack(2, true)
	if err != nil {
		t.Fatal(err)
	}
	a, b := replyWith(out.msg, realAddr), replyWith(other.msg, realAddr)
	b[len(b)-9] = 7 // another TTL, as a cache counts down
	if !sameAnswer(a, b) {
		t.Error("the same answer under another ID, case and TTL differs")
	}
	if sameAnswer(a, replyWith(other.msg, forgedAddr)) {
		t.Error("answers with different addresses are the same")
	}
	if sameAnswer(a, a[:len(a)-1]) {
		t.Error("a malformed reply is the same")
	}
}

// Without Hold-On the forgery wins, which is what the window is for (and shows the injecting
// server does inject).
func TestHoldOnOffTakesFirstReply(t *testing.T) {
	s := startInjecting(t, "127.0.36.2", true, "blocked.example.")
	up := NewPlain(s.addr, Options{Timeout: slow})
	if a, _ := exchangeA(t, up, "blocked.example."); a != forgedAddr {
		t.Fatalf("without Hold-On: %v, want the forged %v", a, forgedAddr)
	}
}

// When TCP cannot be had, the reply whose IP TTL and timing match the server's history is kept.
func TestHoldOnWithoutTCPPrefersServerTTL(t *testing.T) {
	s := startInjecting(t, "127.0.36.3", false, "blocked.example.")
	h := NewHoldOn(nil)
	up := NewPlain(s.addr, Options{Timeout: 2 * time.Second, HoldOn: h})
	warmUp(t, up)
	if a, _ := exchangeA(t, up, "blocked.example."); a != realAddr {
		t.Fatalf("%v, want the real %v", a, realAddr)
	}
	if h.Total() != 1 {
		t.Errorf("%d detections, want 1", h.Total())
	}
}

// A reply that validates wins at once, without TCP; the forged one fails validation.
func TestHoldOnValidatedReplyWins(t *testing.T) {
	s := startInjecting(t, "127.0.36.4", true, "blocked.example.")
	h := NewHoldOn(nil)
	real4 := realAddr.As4()
	validates := func(reply []byte) bool { return bytes.HasSuffix(reply, real4[:]) }
	up := NewPlain(s.addr, Options{Timeout: slow, HoldOn: h, Validates: validates})
	warmUp(t, up)
	if a, _ := exchangeA(t, up, "blocked.example."); a != realAddr {
		t.Fatalf("%v, want the real %v", a, realAddr)
	}
	if h.Total() != 1 {
		t.Errorf("%d detections, want 1", h.Total())
	}
	if n := s.tcpConns.Load(); n != 0 {
		t.Errorf("%d TCP connections, want none: validation decided", n)
	}
}

// Clean names are never flagged, and a reply at the usual round trip is used at once: over many
// queries none waits much past the server's delay.
func TestHoldOnCleanNotDelayed(t *testing.T) {
	s := startInjecting(t, "127.0.36.5", true, "blocked.example.")
	h := NewHoldOn(nil)
	up := NewPlain(s.addr, Options{Timeout: slow, HoldOn: h})
	warmUp(t, up)
	const n = 50
	var slowest time.Duration
	start := time.Now()
	for range n {
		t0 := time.Now()
		if a, _ := exchangeA(t, up, "clean.example."); a != realAddr {
			t.Fatalf("%v, want %v", a, realAddr)
		}
		slowest = max(slowest, time.Since(t0))
		if time.Since(start) > 30*time.Second {
			t.Fatal("50 clean queries took over 30 s")
		}
	}
	if h.Total() != 0 {
		t.Errorf("%d detections on a clean name", h.Total())
	}
	t.Logf("slowest of %d clean exchanges: %v (server delay %v)", n, slowest, serverDelay)
	if s.tcpConns.Load() != 0 {
		t.Error("clean names went to TCP")
	}
}

// An early reply with no rival is held to about the server's round trip and then used; the
// held reply keeps the RTT it arrived with.
func TestHoldOnEarlyWithoutRival(t *testing.T) {
	// The server answers at once for the first replies and late for the rest: a history of slow
	// replies, then an early one that no second reply follows.
	var delay atomic.Int64
	delay.Store(int64(serverDelay))
	addr := udpServerOn(t, "127.0.36.6", func(q []byte, reply func([]byte)) {
		time.Sleep(time.Duration(delay.Load()))
		reply(answerA(q))
	})
	h := NewHoldOn(nil)
	up := NewUDP(addr, Options{Timeout: slow, HoldOn: h})
	q := mustQuery(t, "fast.example.", dns.TypeA)
	for range historyLen {
		if _, err := up.Exchange(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	delay.Store(0)
	t0 := time.Now()
	r, err := up.Exchange(context.Background(), q)
	took := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	if took < serverDelay || took > 3*serverDelay+time.Second {
		t.Errorf("early reply used after %v; want it held to about the usual %v", took, serverDelay)
	}
	if r.RTT >= serverDelay/2 {
		t.Errorf("RTT %v, want the early arrival's", r.RTT)
	}
	if h.Total() != 0 {
		t.Errorf("%d detections without a second reply", h.Total())
	}
}

// udpServerOn is udpServer on a given loopback address.
func udpServerOn(t *testing.T, host string, handle func(q []byte, reply func([]byte))) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			wg.Go(func() { handle(q, func(b []byte) { pc.WriteTo(b, from) }) })
		}
	})
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return pc.LocalAddr().String()
}

// A detection goes to the log once per server and name within logEvery, however often it recurs.
func TestHoldOnLogsOncePerServerAndName(t *testing.T) {
	var buf bytes.Buffer
	h := NewHoldOn(slog.New(slog.NewTextHandler(&buf, nil)))
	name, _ := nameToWire("Blocked.example.")
	other, _ := nameToWire("other.example.")
	for range 100 {
		h.detected("192.0.2.53:53", name, "test")
	}
	h.detected("192.0.2.53:53", other, "test")
	h.detected("192.0.2.54:53", name, "test")
	if n := strings.Count(buf.String(), "injected reply detected"); n != 3 {
		t.Errorf("%d log lines, want 3 (one per server and name):\n%s", n, buf.String())
	}
	h.logEvery = 0
	h.detected("192.0.2.53:53", name, "test")
	if n := strings.Count(buf.String(), "injected reply detected"); n != 4 {
		t.Errorf("%d log lines after logEvery passed, want 4", n)
	}
	st := h.Snapshot()
	if st.Total != 103 || st.Servers[0] != (DetectionCount{"192.0.2.53:53", 102}) || st.Names[0] != (DetectionCount{"blocked.example.", 102}) {
		t.Errorf("snapshot %+v", st)
	}
}

// The tables of servers and names stay bounded whatever the network sends; the total keeps
// counting.
func TestHoldOnTablesBounded(t *testing.T) {
	h := NewHoldOn(nil)
	for i := range 3 * maxDetectionKeys {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(i))
		name, err := nameToWire(netip.AddrFrom4(b).String() + ".example.")
		if err != nil {
			t.Fatal(err)
		}
		h.detected(netip.AddrFrom4(b).String(), name, "test")
	}
	if st := h.Snapshot(); st.Unlisted != 2*maxDetectionKeys || len(st.Servers) != topDetections {
		t.Errorf("snapshot: %d unlisted, %d servers listed; want %d and %d", st.Unlisted, len(st.Servers), 2*maxDetectionKeys, topDetections)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.byServer) > maxDetectionKeys || len(h.byName) > maxDetectionKeys || len(h.logged) > maxDetectionKeys {
		t.Errorf("tables grew to %d servers, %d names, %d log keys", len(h.byServer), len(h.byName), len(h.logged))
	}
	if h.total.Load() != 3*maxDetectionKeys {
		t.Errorf("total %d", h.total.Load())
	}
}

func TestHistoryUsual(t *testing.T) {
	var h history
	if h.usual().ok {
		t.Fatal("an empty history judges")
	}
	for i, ms := range []int{10, 12, 11, 90, 10, 11} {
		ttl := 57
		if i == 3 {
			ttl = 60
		}
		h.add(time.Duration(ms)*time.Millisecond, ttl)
	}
	u := h.usual()
	if !u.ok || u.rtt != 11*time.Millisecond || u.longest != 90*time.Millisecond || u.ttl != 57 {
		t.Fatalf("usual %+v", u)
	}
	if !u.early(5*time.Millisecond) || u.early(6*time.Millisecond) {
		t.Error("early is not 'under half the median'")
	}
	lan := usual{rtt: 800 * time.Microsecond, ok: true, ttl: -1}
	if lan.early(350*time.Microsecond) || !lan.early(250*time.Microsecond) {
		t.Error("a lead under minLead counts as early, or one over it does not")
	}
	if !u.oddTTL(64) || u.oddTTL(57) || u.oddTTL(-1) {
		t.Error("oddTTL")
	}
	// The slowest reply stretches the window, but never past twice the median.
	if w := u.window(); w != 22*time.Millisecond+holdSlack {
		t.Errorf("window %v", w)
	}
	for range historyLen {
		h.add(time.Millisecond, -1)
	}
	if u := h.usual(); u.rtt != time.Millisecond || u.ttl != -1 {
		t.Errorf("after the ring turned over: %+v", u)
	}
}

// A window that is a guess takes at most a quarter of the exchange's budget; a server's own
// history is not cut.
func TestWindowBudget(t *testing.T) {
	var u UDP
	known := usual{rtt: 100 * time.Millisecond, longest: 110 * time.Millisecond, ttl: 60, ok: true}
	stranger := known
	stranger.stranger = true
	for _, tt := range []struct {
		us     usual
		budget time.Duration
		want   time.Duration
	}{
		{usual{ttl: -1}, 3 * time.Second, unknownWindow},
		{usual{ttl: -1}, 400 * time.Millisecond, 100 * time.Millisecond},
		{stranger, 3 * time.Second, unknownWindow},
		{usual{rtt: 50 * time.Millisecond, longest: 55 * time.Millisecond, ttl: -1, ok: true, stranger: true}, 2 * time.Second, 2 * (62500*time.Microsecond + holdSlack)},
		{stranger, 400 * time.Millisecond, 100 * time.Millisecond},
		{known, 400 * time.Millisecond, 125*time.Millisecond + holdSlack},
	} {
		if got := u.window(tt.us, tt.budget); got != tt.want {
			t.Errorf("window(%+v, %v) = %v, want %v", tt.us, tt.budget, got, tt.want)
		}
	}
}

func TestChoose(t *testing.T) {
	u := usual{rtt: 40 * time.Millisecond, longest: 45 * time.Millisecond, ttl: 60, ok: true}
	forged := candidate{data: []byte("forged"), rtt: time.Millisecond, ttl: 62}
	real := candidate{data: []byte("real"), rtt: 41 * time.Millisecond, ttl: 60}
	for _, tt := range []struct {
		name          string
		first, second candidate
		u             usual
		validates     func([]byte) bool
		want          string
		confirmed     bool
	}{
		{"ttl and timing", forged, real, u, nil, "real", false},
		{"ttl and timing, real first", real, forged, u, nil, "real", false},
		{"no history: the later one", forged, real, usual{ttl: -1}, nil, "real", false},
		{"validation wins over TTL", real, forged, u, func(b []byte) bool { return string(b) == "forged" }, "forged", true},
		{"both validate: TTL decides", forged, real, u, func([]byte) bool { return true }, "real", false},
		{"neither validates: TTL decides", forged, real, u, func([]byte) bool { return false }, "real", false},
	} {
		got, confirmed := choose(tt.first, tt.second, tt.u, tt.validates)
		if string(got.data) != tt.want || confirmed != tt.confirmed {
			t.Errorf("%s: chose %s (confirmed %v), want %s (%v)", tt.name, got.data, confirmed, tt.want, tt.confirmed)
		}
	}
}

// FuzzSameAnswer: both replies come from the network (a UDP one, perhaps forged, and a TCP one);
// comparing them must not panic, and a reply is always the same as itself once it parses.
func FuzzSameAnswer(f *testing.F) {
	q := mustQuery(f, "www.example.", dns.TypeA)
	out, err := q.pack(1, true)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(replyWith(out.msg, realAddr), replyWith(out.msg, forgedAddr))
	f.Add([]byte{}, []byte{0})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		same := sameAnswer(a, b)
		if same != sameAnswer(b, a) {
			t.Fatal("sameAnswer is not symmetric")
		}
		if _, err := wire.Unpack(a); err == nil && !sameAnswer(a, a) {
			t.Fatal("a reply differs from itself")
		}
	})
}
