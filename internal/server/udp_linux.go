package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"warden/internal/query"
)

// The Linux UDP path. Each worker owns one socket of a SO_REUSEPORT group, so the kernel spreads
// flows over the workers without any locking in user space, and one thread locked to it that
// alternates a blocking recvmmsg and a sendmmsg. Blocking system calls on a dedicated thread skip
// the runtime poller (an epoll round and a goroutine switch per wakeup) and batching shares each
// system call among up to udpBatch packets; measured against the standard library loop in udp.go
// this takes well under half the CPU per query.
const (
	// udpBatch is how many datagrams one recvmmsg may return. Under load batches fill up and the
	// system call cost per packet falls; at low load MSG_WAITFORONE returns after the first packet,
	// so batching adds no latency.
	udpBatch = 32
	// udpSlotStride separates the per-packet buffers. The extra 128 bytes skew each slot's start
	// within a page, so that the first cache lines of the 2*udpBatch buffers do not all fall into
	// the same cache set, as they would at a 64 KiB stride.
	udpSlotStride = 65536 + 128
	// udpWakeInterval bounds how long a blocked worker takes to notice Close should the shutdown
	// call not wake it; it also bounds a send stuck on a full socket buffer.
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

func listenUDP(ap netip.AddrPort, workers int, h Handler, obs Observer, log *slog.Logger) (udpServer, error) {
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
		w := newMMSGWorker(fd, h, log, &g.closed, pktinfo)
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

// udpSocket opens a blocking UDP socket bound to ap.
func udpSocket(ap netip.AddrPort, reusePort, pktinfo bool) (int, error) {
	family := unix.AF_INET6
	if ap.Addr().Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
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
	tv := unix.NsecToTimeval(udpWakeInterval.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("udp SO_RCVTIMEO: %w", err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return fmt.Errorf("udp SO_SNDTIMEO: %w", err)
	}
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

// Close stops the workers. shutdown wakes a worker blocked in recvmmsg at once (Linux does this
// for unconnected UDP sockets too, though it reports ENOTCONN); the receive timeout is the backstop.
// The descriptors are closed only after every worker has returned, so no system call can run on a
// descriptor number the process has meanwhile reused.
func (g *mmsgUDP) Close() error {
	g.closed.Store(true)
	for _, w := range g.workers {
		_ = unix.Shutdown(w.fd, unix.SHUT_RDWR)
	}
	g.wg.Wait()
	return g.closeFDs()
}

func (g *mmsgUDP) closeFDs() error {
	var errs []error
	for _, w := range g.workers {
		w.sendMu.Lock()
		err := unix.Close(w.fd)
		w.fd = -1
		w.sendMu.Unlock()
		if err != nil {
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
	fd      int
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
	// sendMu keeps the descriptor open while a deferred reply is being sent from another
	// goroutine: Close takes it for writing before closing the descriptor, so a late reply can
	// never go out through a descriptor number the process has reused.
	sendMu sync.RWMutex
	// rxUsed is how many receive headers the kernel wrote in the last call: only those need their
	// in-out lengths reset.
	rxUsed int

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

func newMMSGWorker(fd int, h Handler, log *slog.Logger, closed *atomic.Bool, pktinfo bool) *mmsgWorker {
	w := &mmsgWorker{
		fd:      fd,
		h:       h,
		log:     log,
		closed:  closed,
		pktinfo: pktinfo,
		rxUsed:  udpBatch,
		in:      make([]byte, udpBatch*udpSlotStride),
		out:     make([]byte, udpBatch*udpSlotStride+udpOutShift),
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
	return w
}

func (w *mmsgWorker) run(wg *sync.WaitGroup) {
	defer wg.Done()
	// Without UnlockOSThread the runtime ends this thread when the goroutine returns, so Close
	// leaves no thread behind. The blocking calls go through unix.Syscall6, which tells the
	// scheduler, so the P is handed on while this thread waits.
	runtime.LockOSThread()
	lastYield := time.Now()
	for !w.closed.Load() {
		n, errno := w.recv()
		// One clock reading serves the whole batch: it stamps every query (see
		// query.Request.Received) and times the yield below.
		now := time.Now()
		switch errno {
		case 0:
			k := w.handleBatch(n, now)
			w.send(k)
			if w.rec != nil && k > 0 {
				w.record(k)
			}
		case unix.EAGAIN, unix.EINTR:
			// The receive timeout or a signal: look at the closed flag again.
		default:
			w.log.Warn("udp receive", "err", errno)
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

// recv blocks until at least one datagram arrives and returns how many it read.
func (w *mmsgWorker) recv() (int, unix.Errno) {
	for i := 0; i < w.rxUsed; i++ {
		hdr := &w.rx[i].Hdr
		hdr.Namelen = unix.SizeofSockaddrInet6
		if w.pktinfo {
			hdr.SetControllen(udpCtrlLen)
		}
	}
	r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(w.fd), uintptr(unsafe.Pointer(&w.rx[0])),
		udpBatch, unix.MSG_WAITFORONE, 0, 0)
	if errno != 0 {
		w.rxUsed = 0
		return 0, errno
	}
	w.rxUsed = int(r)
	return int(r), 0
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
// path allows, a socket buffer full for longer than the send timeout): skip that reply and go on.
// They are not logged, as a flood of them would turn into a flood of log lines.
func (w *mmsgWorker) send(k int) {
	for off := 0; off < k; {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(w.fd), uintptr(unsafe.Pointer(&w.tx[off])),
			uintptr(k-off), 0, 0, 0)
		switch {
		case errno == unix.EINTR && !w.closed.Load():
		case errno != 0 || r == 0:
			off++
		default:
			off += int(r)
		}
	}
	// Drop the references to the handler's results.
	for i := 0; i < k; i++ {
		w.txIov[i].Base = nil
	}
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
	r := &udpReplier{w: w, name: w.names[i], namelen: w.rx[i].Hdr.Namelen, received: req.Received}
	if w.pktinfo {
		if c := w.replyControl(i); c > 0 {
			r.ctrl = make([]byte, c)
			copy(r.ctrl, (*[udpCtrlLen]byte)(unsafe.Pointer(&w.ctrl[i][0]))[:c])
		}
	}
	return r
}

// udpReplier sends one deferred reply through its worker's socket.
type udpReplier struct {
	w       *mmsgWorker
	name    unix.RawSockaddrInet6
	namelen uint32
	ctrl    []byte
	// received is when the worker read the query; rec is the record of the reply, kept here so
	// that recording it allocates nothing more.
	received time.Time
	rec      [1]query.Record
}

func (r *udpReplier) Reply(req *query.Request, msg []byte) {
	if len(msg) == 0 || len(msg) > maxUDPMsg {
		return
	}
	r.w.sendMu.RLock()
	defer r.w.sendMu.RUnlock()
	if r.w.fd < 0 || r.w.closed.Load() {
		return
	}
	iov := unix.Iovec{Base: &msg[0]}
	iov.SetLen(len(msg))
	hdr := unix.Msghdr{Name: (*byte)(unsafe.Pointer(&r.name)), Namelen: r.namelen, Iov: &iov}
	hdr.SetIovlen(1)
	if len(r.ctrl) > 0 {
		hdr.Control = &r.ctrl[0]
		hdr.SetControllen(len(r.ctrl))
	}
	// A failure is the client's loss alone (no route, buffer full); as for batched replies, it
	// is not logged.
	_, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(r.w.fd), uintptr(unsafe.Pointer(&hdr)), 0)
	if errno == 0 && r.w.deferred != nil && req != nil {
		query.RecordOf(&r.rec[0], req, msg)
		r.rec[0].Received, r.rec[0].Sent = r.received, time.Now()
		r.w.deferred.Record(r.rec[:])
	}
}
