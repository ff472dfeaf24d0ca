package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"warden/internal/query"
)

// The Linux UDP path. Each worker owns one socket of a SO_REUSEPORT group, so the kernel spreads
// flows over the workers without any locking in user space, and one goroutine that alternates a
// recvmmsg and a sendmmsg; batching shares each system call among up to udpBatch packets, which
// takes well under half the CPU per query of the standard library loop in udp.go.
//
// The socket is non-blocking and the system calls are raw: while batches come the worker reads
// them one after another without ever telling the scheduler it is in a system call, and only an
// empty socket sends it to wait in the runtime poller (RawConn.Read with a callback that reports
// EAGAIN). An earlier design blocked in recvmmsg on a thread of its own; with one processor
// (GOMAXPROCS=1) every goroutine the worker started, such as a resolution, then waited for the
// runtime's monitor to take the processor from the blocked thread, which made a cold name cost
// thread hand-offs and up to 20 µs of monitor polling each (docs/performance.md, issue 16).
// That design stays for servers that answer everything themselves (ListenerConfig.UDPBlocking):
// with more than one processor, waking a parked worker costs more than waking a blocked thread.
const (
	// udpBatch is how many datagrams one recvmmsg may return. Under load batches fill up and the
	// system call cost per packet falls; at low load MSG_WAITFORONE returns after the first packet,
	// so batching adds no latency.
	udpBatch = 32
	// udpSlotStride separates the per-packet buffers. The extra 128 bytes skew each slot's start
	// within a page, so that the first cache lines of the 2*udpBatch buffers do not all fall into
	// the same cache set, as they would at a 64 KiB stride.
	udpSlotStride = 65536 + 128
	// udpWakeInterval bounds how long a batch of replies waits for room in a full socket buffer
	// before the rest of it is dropped, so that one stuck send cannot stop the worker's reading.
	udpWakeInterval = 250 * time.Millisecond
	// udpRcvBuf absorbs bursts while a worker is busy with a batch. The kernel caps it at
	// net.core.rmem_max, so it is best effort.
	udpRcvBuf = 4 << 20
	// udpYieldInterval is how often a busy worker yields to the scheduler; see run. It must stay
	// well below the runtime's 10ms preemption slice.
	udpYieldInterval = 4 * time.Millisecond
	// udpCtrlLen holds one IP_PKTINFO or IPV6_PKTINFO control message.
	udpCtrlLen = 64
)

// mmsgUDP is the group of workers serving one address.
type mmsgUDP struct {
	addr    *net.UDPAddr
	workers []*mmsgWorker
	closed  atomic.Bool
	wg      sync.WaitGroup
}

var _ udpServer = (*mmsgUDP)(nil)

func listenUDP(ap netip.AddrPort, workers int, blocking bool, h Handler, obs Observer, log *slog.Logger) (udpServer, error) {
	// SO_REUSEPORT lets a second server of the same user join the group silently and take part of
	// the traffic. Binding once without it first turns "already in use" into an error.
	if ap.Port() != 0 {
		fd, err := udpSocket(ap, false, false)
		if err != nil {
			return nil, err
		}
		_ = unix.Close(fd)
	}
	// On a wildcard address the reply must leave from the address the query was sent to, or the
	// client drops it; the kernel reports that address per packet only when asked.
	pktinfo := ap.Addr().IsUnspecified()
	g := &mmsgUDP{}
	// Answers given later come from resolving goroutines, any number at once.
	deferred := recorderFor(obs, query.UDP, false)
	for i := 0; i < workers; i++ {
		fd, err := udpSocket(ap, true, pktinfo)
		if err != nil {
			g.closeFDs()
			return nil, err
		}
		w, err := newMMSGWorker(fd, h, log, &g.closed, pktinfo, blocking)
		if err != nil {
			g.closeFDs()
			return nil, err
		}
		w.rec, w.deferred = recorderFor(obs, query.UDP, true), deferred
		g.workers = append(g.workers, w)
		if i == 0 && ap.Port() == 0 {
			port, err := boundPort(fd)
			if err != nil {
				g.closeFDs()
				return nil, err
			}
			ap = netip.AddrPortFrom(ap.Addr(), port)
		}
	}
	g.addr = net.UDPAddrFromAddrPort(ap)
	for _, w := range g.workers {
		g.wg.Add(1)
		go w.run(&g.wg)
	}
	return g, nil
}

// udpSocket opens a non-blocking UDP socket bound to ap.
func udpSocket(ap netip.AddrPort, reusePort, pktinfo bool) (int, error) {
	family := unix.AF_INET6
	if ap.Addr().Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("udp socket: %w", err)
	}
	if err := setupUDPSocket(fd, ap, reusePort, pktinfo); err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("udp bind: %w", err)
	}
	return fd, nil
}

func setupUDPSocket(fd int, ap netip.AddrPort, reusePort, pktinfo bool) error {
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fmt.Errorf("udp SO_REUSEPORT: %w", err)
		}
	}
	is6 := !ap.Addr().Is4()
	if is6 {
		// Only the wildcard is dual stack, as with the standard library and the TCP listener.
		v6only := 1
		if ap.Addr().IsUnspecified() {
			v6only = 0
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			return fmt.Errorf("udp IPV6_V6ONLY: %w", err)
		}
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, udpRcvBuf)
	if pktinfo {
		var err error
		if is6 {
			// On a dual-stack socket this also reports IPv4 destinations, as mapped addresses.
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		} else {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		}
		if err != nil {
			return fmt.Errorf("udp PKTINFO: %w", err)
		}
	}
	return nil
}

func boundPort(fd int) (uint16, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, fmt.Errorf("udp getsockname: %w", err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return uint16(sa.Port), nil
	case *unix.SockaddrInet6:
		return uint16(sa.Port), nil
	}
	return 0, errors.New("udp getsockname: unexpected address family")
}

func (g *mmsgUDP) LocalAddr() net.Addr { return g.addr }

// Close stops the workers. Closing a worker's os.File wakes whatever waits in the poller on it,
// the worker and any deferred reply, and the descriptor itself is closed only when the last system
// call running through the file has returned, so none can reach a descriptor number the process
// has meanwhile reused.
func (g *mmsgUDP) Close() error {
	g.closed.Store(true)
	for _, w := range g.workers {
		if w.blocking {
			// A worker blocked in recvmmsg is not in the poller: shutdown wakes it (Linux does
			// this for unconnected UDP sockets too, though it reports ENOTCONN), the receive
			// timeout is the backstop.
			_ = w.rc.Control(func(fd uintptr) { _ = unix.Shutdown(int(fd), unix.SHUT_RDWR) })
		}
	}
	err := g.closeFDs()
	g.wg.Wait()
	return err
}

func (g *mmsgUDP) closeFDs() error {
	var errs []error
	for _, w := range g.workers {
		if err := w.file.Close(); err != nil {
			errs = append(errs, fmt.Errorf("udp close: %w", err))
		}
	}
	g.workers = nil
	return errors.Join(errs...)
}

// mmsgWorker owns one socket and every buffer its packets pass through; all of them are allocated
// once, so the loop allocates nothing per packet. Slot i of the receive arrays holds the i-th
// datagram of a batch; the transmit arrays list the replies, which point back at the sender
// address of their slot.
type mmsgWorker struct {
	// file owns fd and registers it with the runtime poller; rc is its way to the descriptor.
	file    *os.File
	rc      syscall.RawConn
	h       Handler
	log     *slog.Logger
	closed  *atomic.Bool
	pktinfo bool
	// rec is this worker's own Recorder, called once per batch with recs[:k]; deferred is the
	// one deferred replies share. Both nil when nothing is recorded.
	rec, deferred Recorder
	recs          [udpBatch]query.Record

	req query.Request
	// cur is the receive slot being answered, for Defer.
	cur int
	// rxUsed is how many receive headers the kernel wrote in the last call: only those need their
	// in-out lengths reset.
	rxUsed int
	// rxN and rxErr carry recvmmsg's result out of the poller's callback; txOff and txEnd are the
	// part of tx still to send. They are fields so that the callbacks, made once in
	// newMMSGWorker, capture nothing per call and allocate nothing.
	rxN          int
	rxErr        unix.Errno
	txOff, txEnd int
	// blocking is set when the worker waits in blocking system calls on a locked thread
	// (ListenerConfig.UDPBlocking) rather than in the poller; the descriptor is then in blocking
	// mode, with receive and send timeouts as the backstop of Close.
	blocking bool
	// txDeadline is set while a batch of replies waits for room with a write deadline.
	txDeadline       bool
	tryRecv, trySend func(fd uintptr) bool

	rx    [udpBatch]unix.Mmsghdr
	tx    [udpBatch]unix.Mmsghdr
	rxIov [udpBatch]unix.Iovec
	txIov [udpBatch]unix.Iovec
	names [udpBatch]unix.RawSockaddrInet6
	// ctrl is uint64 so that the control messages are aligned as the kernel writes them.
	ctrl [udpBatch][udpCtrlLen / 8]uint64

	in  []byte // udpBatch slots of udpSlotStride
	out []byte // the same, shifted by one cache line against in
}

const udpOutShift = 64

// newMMSGWorker takes over fd, which must be non-blocking: from here on the worker's file closes
// it. A blocking worker (ListenerConfig.UDPBlocking) turns the descriptor to blocking mode before
// os.NewFile sees it, so that it is not registered with the runtime poller at all: a registered
// descriptor would wake the thread that waits in epoll at every datagram, though no goroutine
// waits there. Such a file closes its descriptor when the last call through it returns, without
// waiting for it: Close wakes the worker with shutdown, and its receive and send timeouts are the
// backstop.
func newMMSGWorker(fd int, h Handler, log *slog.Logger, closed *atomic.Bool, pktinfo, blocking bool) (*mmsgWorker, error) {
	if blocking {
		tv := unix.NsecToTimeval(udpWakeInterval.Nanoseconds())
		for _, err := range []error{
			unix.SetNonblock(fd, false),
			unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv),
			unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv),
		} {
			if err != nil {
				return nil, fmt.Errorf("udp blocking socket: %w", err)
			}
		}
	}
	file := os.NewFile(uintptr(fd), "udp")
	rc, err := file.SyscallConn()
	if err != nil {
		_ = file.Close()
		return nil, fmt.Errorf("udp socket: %w", err)
	}
	w := &mmsgWorker{
		file:     file,
		rc:       rc,
		h:        h,
		log:      log,
		closed:   closed,
		pktinfo:  pktinfo,
		blocking: blocking,
		rxUsed:   udpBatch,
		in:       make([]byte, udpBatch*udpSlotStride),
		out:      make([]byte, udpBatch*udpSlotStride+udpOutShift),
	}
	for i := range w.rx {
		w.rxIov[i].Base = &w.in[i*udpSlotStride]
		w.rxIov[i].SetLen(maxUDPMsg)
		hdr := &w.rx[i].Hdr
		hdr.Name = (*byte)(unsafe.Pointer(&w.names[i]))
		hdr.Iov = &w.rxIov[i]
		hdr.SetIovlen(1)
		if pktinfo {
			hdr.Control = (*byte)(unsafe.Pointer(&w.ctrl[i][0]))
		}
		w.tx[i].Hdr.Iov = &w.txIov[i]
		w.tx[i].Hdr.SetIovlen(1)
	}
	w.tryRecv, w.trySend = w.recvBatch, w.sendBatch
	return w, nil
}

func (w *mmsgWorker) run(wg *sync.WaitGroup) {
	defer wg.Done()
	// A worker that waits in the poller does not lock its thread: a locked goroutine that parks
	// would cost a thread hand-off at every wakeup. A blocking one does, so that its thread is
	// its own and ends with it (without UnlockOSThread the runtime ends it when run returns).
	if w.blocking {
		runtime.LockOSThread()
	}
	lastYield := time.Now()
	for !w.closed.Load() {
		n, err := w.recv()
		// One clock reading serves the whole batch: it stamps every query (see
		// query.Request.Received) and times the yield below.
		now := time.Now()
		switch {
		case err == nil:
			k := w.handleBatch(n, now)
			w.send(k)
			if w.rec != nil && k > 0 {
				w.record(k)
			}
		case errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) || w.closed.Load():
			// A signal, a blocking worker's receive timeout, or Close: look at the closed flag again.
		default:
			w.log.Warn("udp receive", "err", err)
			// Keep a persistent error from spinning a core.
			time.Sleep(10 * time.Millisecond)
		}
		// The scheduler takes a goroutine that has not been rescheduled for 10ms for a CPU hog: it
		// signals the thread, takes its P away and polls every 20µs for a while after. Under load
		// that happened every 10ms and cost more CPU than the packets. Yielding now and then, which
		// costs two thread switches, keeps the worker from looking like a hog.
		if now.Sub(lastYield) >= udpYieldInterval {
			runtime.Gosched()
			lastYield = time.Now()
		}
	}
}

// recv waits until at least one datagram is there and returns how many it read. A socket that
// has datagrams waiting costs one system call and no wait; only an empty one parks the goroutine
// in the poller until the socket is readable.
func (w *mmsgWorker) recv() (int, error) {
	w.rxN, w.rxErr = 0, 0
	if err := w.rc.Read(w.tryRecv); err != nil {
		return 0, err
	}
	if w.rxErr != 0 {
		return 0, w.rxErr
	}
	return w.rxN, nil
}

// recvBatch is recv's callback: one recvmmsg that does not wait. It reports false, which sends
// RawConn.Read to wait for readability, only when the socket is empty. The system call is raw
// because it cannot block: telling the scheduler would let its monitor hand the processor to
// another thread should the copy of a full batch outlast its 20 µs tick.
func (w *mmsgWorker) recvBatch(fd uintptr) bool {
	for i := 0; i < w.rxUsed; i++ {
		hdr := &w.rx[i].Hdr
		hdr.Namelen = unix.SizeofSockaddrInet6
		if w.pktinfo {
			hdr.SetControllen(udpCtrlLen)
		}
	}
	var r uintptr
	var errno unix.Errno
	if w.blocking {
		// Told to the scheduler, so that the processor is handed on while this thread waits;
		// EAGAIN is the receive timeout, a cue to look at the closed flag.
		r, _, errno = unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&w.rx[0])),
			udpBatch, unix.MSG_WAITFORONE, 0, 0)
	} else {
		r, _, errno = unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&w.rx[0])),
			udpBatch, unix.MSG_DONTWAIT, 0, 0)
	}
	if errno != 0 {
		w.rxUsed = 0
		if errno == unix.EAGAIN && !w.blocking {
			return false
		}
		w.rxErr = errno
		return true
	}
	w.rxUsed, w.rxN = int(r), int(r)
	return true
}

// handleBatch answers the first n received datagrams, read at received, and returns how many
// replies it queued in tx.
func (w *mmsgWorker) handleBatch(n int, received time.Time) int {
	k := 0
	for i := 0; i < n; i++ {
		hdr := &w.rx[i].Hdr
		if hdr.Flags&unix.MSG_TRUNC != 0 {
			continue // larger than any DNS message: not a query worth answering
		}
		client, ok := sockaddrAddrPort(&w.names[i], hdr.Namelen)
		if !ok {
			continue
		}
		size := int(w.rx[i].Len)
		if size > maxUDPMsg {
			continue
		}
		off := i * udpSlotStride
		w.req.Wire = w.in[off : off+size : off+size]
		w.req.Client = client
		w.req.Transport = query.UDP
		w.req.Received = received
		w.req.Later = w
		w.cur = i
		off += udpOutShift
		res := serveSafe(w.h, &w.req, w.out[off:off:off+maxUDPMsg], w.log)
		if len(res) == 0 {
			continue
		}
		if w.rec != nil {
			query.RecordOf(&w.recs[k], &w.req, res)
			w.recs[k].Received = received
		}
		t := &w.tx[k].Hdr
		t.Name = hdr.Name
		t.Namelen = hdr.Namelen
		w.txIov[k].Base = &res[0]
		w.txIov[k].SetLen(len(res))
		t.Control, t.Controllen = nil, 0
		if w.pktinfo {
			if c := w.replyControl(i); c > 0 {
				t.Control = hdr.Control
				t.SetControllen(c)
			}
		}
		k++
	}
	// Do not keep the last query reachable from the worker.
	w.req.Wire = nil
	return k
}

// record hands the records of the k replies just sent to the worker's Recorder. One clock reading
// serves the batch, as one served its receiving: every answer of it left in the same sendmmsg.
func (w *mmsgWorker) record(k int) {
	sent := time.Now()
	for i := range k {
		w.recs[i].Sent = sent
	}
	w.rec.Record(w.recs[:k])
}

// send writes the k queued replies. Errors are per packet (no route back, a reply larger than the
// path allows): skip that reply and go on. A full socket buffer makes the batch wait for room in
// the poller, for udpWakeInterval at most; what is left then is dropped, as a blocking socket's
// send timeout did. None of this is logged, as a flood of errors would turn into a flood of log
// lines.
func (w *mmsgWorker) send(k int) {
	if k > 0 {
		w.txOff, w.txEnd = 0, k
		_ = w.rc.Write(w.trySend)
		if w.txDeadline {
			_ = w.file.SetWriteDeadline(time.Time{})
			w.txDeadline = false
		}
	}
	// Drop the references to the handler's results.
	for i := 0; i < k; i++ {
		w.txIov[i].Base = nil
	}
}

// sendBatch is send's callback: sendmmsg until the batch is out or the socket buffer is full.
func (w *mmsgWorker) sendBatch(fd uintptr) bool {
	for w.txOff < w.txEnd {
		var r uintptr
		var errno unix.Errno
		if w.blocking {
			r, _, errno = unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.tx[w.txOff])),
				uintptr(w.txEnd-w.txOff), 0, 0, 0)
		} else {
			r, _, errno = unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.tx[w.txOff])),
				uintptr(w.txEnd-w.txOff), unix.MSG_DONTWAIT, 0, 0)
		}
		switch {
		case errno == unix.EAGAIN && !w.blocking:
			if !w.txDeadline {
				_ = w.file.SetWriteDeadline(time.Now().Add(udpWakeInterval))
				w.txDeadline = true
			}
			return false
		case errno == unix.EINTR:
		case errno != 0 || r == 0:
			w.txOff++
		default:
			w.txOff += int(r)
		}
	}
	return true
}

// replyControl rewrites the PKTINFO control message received in slot i into the one that makes the
// reply leave from the address the query was sent to, and returns its length, or 0 when there is
// none. The kernel's ipi_spec_dst is already the right source (it equals the destination for
// unicast and names a local address for broadcast); the interface index is cleared so that the
// routing table, not the arrival interface, picks the way back, except for IPv6 link-local
// addresses, which mean nothing without their interface.
func (w *mmsgWorker) replyControl(i int) int {
	hdr := &w.rx[i].Hdr
	if hdr.Flags&unix.MSG_CTRUNC != 0 {
		return 0
	}
	n := int(hdr.Controllen)
	buf := (*[udpCtrlLen]byte)(unsafe.Pointer(&w.ctrl[i][0]))
	if n < unix.SizeofCmsghdr || n > len(buf) {
		return 0
	}
	cm := (*unix.Cmsghdr)(unsafe.Pointer(&buf[0]))
	data := unix.CmsgLen(0)
	switch {
	case cm.Level == unix.IPPROTO_IP && cm.Type == unix.IP_PKTINFO &&
		int(cm.Len) >= unix.CmsgLen(unix.SizeofInet4Pktinfo) && n >= unix.CmsgSpace(unix.SizeofInet4Pktinfo):
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&buf[data]))
		pi.Ifindex = 0
		return unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	case cm.Level == unix.IPPROTO_IPV6 && cm.Type == unix.IPV6_PKTINFO &&
		int(cm.Len) >= unix.CmsgLen(unix.SizeofInet6Pktinfo) && n >= unix.CmsgSpace(unix.SizeofInet6Pktinfo):
		pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&buf[data]))
		if !(pi.Addr[0] == 0xfe && pi.Addr[1]&0xc0 == 0x80) {
			pi.Ifindex = 0
		}
		return unix.CmsgSpace(unix.SizeofInet6Pktinfo)
	}
	return 0
}

// sockaddrAddrPort reads the sender address the kernel wrote, without allocating. IPv4-mapped
// addresses from a dual-stack socket are unmapped, so that the rest of Warden sees one form of
// every IPv4 client. The IPv6 scope is dropped: turning it into a zone name costs an allocation,
// and the reply uses the raw address, which keeps it.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6, namelen uint32) (netip.AddrPort, bool) {
	switch sa.Family {
	case unix.AF_INET:
		if namelen < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}, false
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), netPort(&sa4.Port)), true
	case unix.AF_INET6:
		if namelen < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), netPort(&sa.Port)), true
	}
	return netip.AddrPort{}, false
}

// netPort reads a port stored in network byte order.
func netPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// Defer captures the sender address (and, on wildcard sockets, the address the query came to) of
// the datagram being answered, so that a reply can follow from another goroutine.
func (w *mmsgWorker) Defer(req *query.Request) query.Replier {
	i := w.cur
	r := &udpReplier{w: w, name: w.names[i], received: req.Received}
	r.hdr.Name = (*byte)(unsafe.Pointer(&r.name))
	r.hdr.Namelen = w.rx[i].Hdr.Namelen
	r.hdr.Iov = &r.iov
	r.hdr.SetIovlen(1)
	if w.pktinfo {
		if c := w.replyControl(i); c > 0 {
			r.ctrl = make([]byte, c)
			copy(r.ctrl, (*[udpCtrlLen]byte)(unsafe.Pointer(&w.ctrl[i][0]))[:c])
			r.hdr.Control = &r.ctrl[0]
			r.hdr.SetControllen(c)
		}
	}
	return r
}

// udpReplier sends one deferred reply through its worker's socket.
type udpReplier struct {
	w    *mmsgWorker
	name unix.RawSockaddrInet6
	ctrl []byte
	// hdr and iov describe the reply to the kernel; errno is sendmsg's result, out of the
	// poller's callback.
	hdr   unix.Msghdr
	iov   unix.Iovec
	errno unix.Errno
	// received is when the worker read the query; rec is the record of the reply, kept here so
	// that recording it allocates nothing more.
	received time.Time
	rec      [1]query.Record
}

func (r *udpReplier) Reply(req *query.Request, msg []byte) {
	if len(msg) == 0 || len(msg) > maxUDPMsg || r.w.closed.Load() {
		return
	}
	r.iov.Base = &msg[0]
	r.iov.SetLen(len(msg))
	r.errno = 0
	// Through the worker's file, so that Close cannot close the descriptor under the send; a full
	// socket buffer makes the reply wait in the poller for room, or for Close.
	err := r.w.rc.Write(r.sendOnce)
	r.iov.Base = nil
	// A failure is the client's loss alone (no route, Close); as for batched replies, it is not
	// logged.
	if err == nil && r.errno == 0 && r.w.deferred != nil && req != nil {
		query.RecordOf(&r.rec[0], req, msg)
		r.rec[0].Received, r.rec[0].Sent = r.received, time.Now()
		r.w.deferred.Record(r.rec[:])
	}
}

// sendOnce is Reply's callback: one sendmsg that does not wait, false when the buffer is full.
func (r *udpReplier) sendOnce(fd uintptr) bool {
	_, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&r.hdr)), unix.MSG_DONTWAIT)
	if errno == unix.EAGAIN {
		return false
	}
	r.errno = errno
	return true
}
