package server

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"warden/internal/query"
)

// newTestWorker returns a worker on a real socket bound to 127.0.0.1:0, without its goroutine, and
// a client connected to it.
func newTestWorker(t testing.TB, h Handler) (*mmsgWorker, *net.UDPConn) {
	t.Helper()
	fd, err := udpSocket(netip.MustParseAddrPort("127.0.0.1:0"), true, false)
	if err != nil {
		t.Fatal(err)
	}
	port, err := boundPort(fd)
	if err != nil {
		_ = unix.Close(fd)
		t.Fatal(err)
	}
	var closed atomic.Bool
	w, err := newMMSGWorker(fd, h, discardLog, &closed, false, false)
	if err != nil {
		_ = unix.Close(fd)
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.file.Close() })
	c := dialUDP(t, "udp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
	return w, c
}

// The whole server-side cycle, receive, answer, send, allocates nothing per packet.
func TestUDPWorkerCycleDoesNotAllocate(t *testing.T) {
	w, c := newTestWorker(t, &echoHandler{})
	q := newQuery(t, 9, "www.example.org.")
	buf := make([]byte, 512)
	const perRun = 8
	cycle := func() {
		for range perRun {
			if _, err := c.Write(q); err != nil {
				t.Fatal(err)
			}
		}
		for got := 0; got < perRun; {
			n, err := w.recv()
			if err != nil {
				t.Fatalf("recvmmsg: %v", err)
			}
			got += n
			w.send(w.handleBatch(n, time.Now()))
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for range perRun {
			if _, err := c.Read(buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	cycle() // warm up
	if a := testing.AllocsPerRun(50, cycle); a != 0 {
		t.Errorf("%.1f allocations per %d packets, want 0", a, perRun)
	}
}

// handleBatch on a full batch, without system calls: the per-packet cost of the listener itself.
func fillBatch(t testing.TB, w *mmsgWorker) {
	q := newQuery(t, 9, "www.example.org.")
	for i := range udpBatch {
		copy(w.in[i*udpSlotStride:], q)
		w.rx[i].Len = uint32(len(q))
		w.rx[i].Hdr.Flags = 0
		w.rx[i].Hdr.Namelen = unix.SizeofSockaddrInet4
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&w.names[i]))
		sa.Family = unix.AF_INET
		sa.Addr = [4]byte{192, 0, 2, byte(i)}
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = 0x30, 0x39 // 12345
	}
}

func TestUDPHandleBatchDoesNotAllocate(t *testing.T) {
	h := &echoHandler{}
	w, _ := newTestWorker(t, h)
	fillBatch(t, w)
	if k := w.handleBatch(udpBatch, time.Now()); k != udpBatch {
		t.Fatalf("%d replies for %d queries", k, udpBatch)
	}
	if client, _ := h.last(); client != netip.MustParseAddrPort("192.0.2.31:12345") {
		t.Errorf("client %v", client)
	}
	if a := testing.AllocsPerRun(100, func() { w.handleBatch(udpBatch, time.Now()) }); a != 0 {
		t.Errorf("%.1f allocations per batch, want 0", a)
	}
}

// One clock reading stamps every query of a batch.
func TestUDPHandleBatchStampsEveryQuery(t *testing.T) {
	var stamps []time.Time
	w, _ := newTestWorker(t, handlerFunc(func(req *query.Request, out []byte) []byte {
		stamps = append(stamps, req.Received)
		return nil
	}))
	fillBatch(t, w)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.handleBatch(udpBatch, at)
	if len(stamps) != udpBatch {
		t.Fatalf("%d queries handled, want %d", len(stamps), udpBatch)
	}
	for i, s := range stamps {
		if !s.Equal(at) {
			t.Fatalf("query %d stamped %v, want %v", i, s, at)
		}
	}
}

func TestUDPHandleBatchSkipsBadSlots(t *testing.T) {
	w, _ := newTestWorker(t, &echoHandler{})
	fillBatch(t, w)
	w.rx[0].Hdr.Flags = unix.MSG_TRUNC                 // cut off: not answered
	w.rx[1].Hdr.Namelen = 0                            // no sender address
	w.names[2].Family = unix.AF_UNIX                   // not an IP sender
	w.rx[3].Len = 5                                    // too short to be a query: the handler drops it
	w.rx[4].Hdr.Namelen = unix.SizeofSockaddrInet4 - 1 // sender address cut short
	if k := w.handleBatch(udpBatch, time.Now()); k != udpBatch-5 {
		t.Errorf("%d replies, want %d", k, udpBatch-5)
	}
}

func TestSockaddrAddrPort(t *testing.T) {
	var sa unix.RawSockaddrInet6
	sa.Family = unix.AF_INET6
	sa.Addr = netip.MustParseAddr("::ffff:192.0.2.7").As16()
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = 0, 53
	got, ok := sockaddrAddrPort(&sa, unix.SizeofSockaddrInet6)
	if !ok || got != netip.MustParseAddrPort("192.0.2.7:53") {
		t.Errorf("mapped: %v %v", got, ok)
	}
	sa.Addr = netip.MustParseAddr("2001:db8::1").As16()
	got, ok = sockaddrAddrPort(&sa, unix.SizeofSockaddrInet6)
	if !ok || got != netip.MustParseAddrPort("[2001:db8::1]:53") {
		t.Errorf("IPv6: %v %v", got, ok)
	}
	if _, ok := sockaddrAddrPort(&sa, unix.SizeofSockaddrInet4); ok {
		t.Error("short IPv6 address accepted")
	}
}

func BenchmarkUDPHandleBatch(b *testing.B) {
	w, _ := newTestWorker(b, &echoHandler{})
	fillBatch(b, w)
	b.ReportAllocs()
	for b.Loop() {
		w.handleBatch(udpBatch, time.Now())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*udpBatch), "ns/packet")
}

// UDP workers waiting for queries notice Close at once: closing their files wakes them in the
// poller, shutdown wakes blocking ones in recvmmsg.
func TestCloseWakesUDPWorkers(t *testing.T) {
	for _, blocking := range []bool{false, true} {
		l, err := Listen(ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 4, UDPBlocking: blocking}, &echoHandler{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := dialUDP(t, "udp4", l.UDPAddr().String())
		if _, err := c.Write(newQuery(t, 3, "example.org.")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 512)); err != nil {
			t.Fatalf("blocking %v: %v", blocking, err)
		}
		time.Sleep(50 * time.Millisecond) // let the workers wait
		start := time.Now()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("blocking %v: Close took %v", blocking, time.Since(start))
		if d := time.Since(start); d > udpWakeInterval/2 {
			t.Errorf("blocking %v: Close took %v", blocking, d)
		}
	}
}

// recvmmsgThreads lists the threads of this process blocked in recvmmsg.
func recvmmsgThreads(t *testing.T) []string {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	prefix := strconv.Itoa(unix.SYS_RECVMMSG) + " "
	var tids []string
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/syscall")
		if err == nil && strings.HasPrefix(string(b), prefix) {
			tids = append(tids, task.Name())
		}
	}
	return tids
}

// Each blocking worker (ListenerConfig.UDPBlocking) has a thread of its own, and the thread ends
// with the worker.
func TestCloseEndsWorkerThreads(t *testing.T) {
	const workers = 3
	before := len(recvmmsgThreads(t))
	l, err := Listen(ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: workers, UDPBlocking: true}, &echoHandler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tids []string
	if !waitFor(2*time.Second, func() bool { tids = recvmmsgThreads(t); return len(tids) == before+workers }) {
		_ = l.Close()
		t.Fatalf("%d threads in recvmmsg, want %d", len(tids), before+workers)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	gone := func() bool {
		for _, tid := range tids {
			if _, err := os.Stat("/proc/self/task/" + tid); err == nil {
				return false
			}
		}
		return true
	}
	if !waitFor(2*time.Second, gone) {
		t.Errorf("worker threads %v still exist after Close", tids)
	}
}

// Idle workers wait in the runtime poller, not in recvmmsg on threads of their own, and still
// answer every worker's share of the traffic; Close closes every socket of the group, so that the
// port can be bound again without SO_REUSEPORT.
func TestIdleUDPWorkersHoldNoThread(t *testing.T) {
	const workers = 3
	l, err := Listen(ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: workers}, &echoHandler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := l.UDPAddr().String()
	// The kernel spreads flows over the group by source port: several clients reach several
	// workers.
	buf := make([]byte, 512)
	for i := range 8 {
		c := dialUDP(t, "udp4", addr)
		if _, err := c.Write(newQuery(t, uint16(i+1), "example.org.")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
	}
	time.Sleep(50 * time.Millisecond) // let the workers park again
	if tids := recvmmsgThreads(t); len(tids) != 0 {
		t.Errorf("threads %v blocked in recvmmsg while the workers are idle", tids)
	}
	ap := l.UDPAddr().(*net.UDPAddr).AddrPort()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fd, err := udpSocket(ap, false, false)
	if err != nil {
		t.Fatalf("port still bound after Close: %v", err)
	}
	_ = unix.Close(fd)
}

// A deferred reply that comes after Close is dropped without reaching the closed descriptor.
func TestUDPDeferredReplyAfterClose(t *testing.T) {
	deferred := make(chan query.Replier, 1)
	h := handlerFunc(func(req *query.Request, out []byte) []byte {
		if req.Parse() == query.Accept && req.Later != nil {
			deferred <- req.Later.Defer(req)
		}
		return nil
	})
	l, err := Listen(ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := dialUDP(t, "udp4", l.UDPAddr().String())
	q := newQuery(t, 5, "example.org.")
	if _, err := c.Write(q); err != nil {
		t.Fatal(err)
	}
	var r query.Replier
	select {
	case r = <-deferred:
	case <-time.After(2 * time.Second):
		t.Fatal("query not handled")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r.Reply(nil, q)
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 512)); err == nil {
		t.Errorf("a %d-byte reply came after Close", n)
	}
}

// A handler may answer a UDP query later, from another goroutine, while the worker goes on.
func TestUDPDeferredReply(t *testing.T) {
	h := handlerFunc(func(req *query.Request, out []byte) []byte {
		if req.Parse() != query.Accept || req.Later == nil {
			return nil
		}
		reply := append([]byte(nil), req.Wire...)
		reply[2] |= 0x80 // QR
		r := req.Later.Defer(req)
		go func() {
			time.Sleep(50 * time.Millisecond)
			r.Reply(req, reply)
		}()
		return nil
	})
	l := startListener(t, ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, h)
	c := dialUDP(t, "udp4", l.UDPAddr().String())
	for id := uint16(1); id <= 3; id++ {
		if _, err := c.Write(newQuery(t, id, "example.org.")); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint16]bool{}
	buf := make([]byte, 512)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for len(seen) < 3 {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("after %d replies: %v", len(seen), err)
		}
		seen[uint16(buf[0])<<8|uint16(buf[1])] = n > 0
	}
}
