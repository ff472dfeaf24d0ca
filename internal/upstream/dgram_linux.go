package upstream

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dgram is the socket of one UDP exchange, made with raw system calls rather than net.Dial. A
// resolver opens one per upstream query (a fresh random source port each time, RFC 5452), so
// what the net package adds to each (the SO_BROADCAST option, getsockname and getpeername, the
// addresses and the connection values it allocates) is paid once per new name. Here a socket
// costs socket, connect, the runtime poller's registration (and the fcntl with which os.NewFile
// reads the flags), the send, the receive and close; the kernel still picks the port at random
// on connect, as it did for net.Dial. The descriptor is handed to the runtime's poller through
// os.File, so that a reply wakes the exchange's own goroutine: a shared reader would add a
// goroutine hand-off, which on more than one core is a thread wake-up per reply.
type dgram struct {
	fd   int
	file *os.File
	rc   syscall.RawConn
	// stop ends the watch of the exchange's context; nil until the first read.
	stop func() bool
	// recvNext is the function the runtime's poller calls until a datagram is read; it reads
	// into buf and oob and leaves the outcome in got, made once per socket rather than per read.
	recvNext func(uintptr) bool
	buf, oob []byte
	got      received
}

// received is the outcome of one read.
type received struct {
	n, oobn   int
	truncated bool
	err       error
}

// errNoDatagram is a read with nothing in the socket's queue.
var errNoDatagram = errors.New("no datagram waiting")

// openDgram returns a socket connected to server. With wantTTL the kernel hands over each
// datagram's IP TTL (IPv6: hop limit) as a control message: it says how many routers a reply
// crossed, the same for every reply of one server and rarely the same for an injector's.
func openDgram(server netip.AddrPort, wantTTL bool) (*dgram, error) {
	family := unix.AF_INET
	if !server.Addr().Unmap().Is4() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if wantTTL {
		if family == unix.AF_INET6 {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1)
		} else {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVTTL, 1)
		}
		if err != nil {
			unix.Close(fd)
			return nil, os.NewSyscallError("setsockopt", err)
		}
	}
	if err := connectRaw(fd, family, server); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	d := &dgram{fd: fd, file: os.NewFile(uintptr(fd), "udp")}
	d.recvNext = func(uintptr) bool {
		d.got.n, d.got.oobn, d.got.truncated, d.got.err = d.recv(d.buf, d.oob)
		return d.got.err != errNoDatagram
	}
	if d.rc, err = d.file.SyscallConn(); err != nil {
		d.file.Close()
		return nil, err
	}
	return d, nil
}

// connectRaw connects fd to server with the address on the stack: unix.Connect takes a
// Sockaddr interface, whose value escapes to the heap.
func connectRaw(fd, family int, server netip.AddrPort) error {
	port := server.Port()
	var e syscall.Errno
	if family == unix.AF_INET {
		sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: server.Addr().Unmap().As4()}
		sa.Port = port>>8 | port<<8
		_, _, e = unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4)
	} else {
		sa := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: server.Addr().As16()}
		sa.Port = port>>8 | port<<8
		if z := server.Addr().Zone(); z != "" {
			if ifi, err := net.InterfaceByName(z); err == nil {
				sa.Scope_id = uint32(ifi.Index)
			}
		}
		_, _, e = unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet6)
	}
	if e != 0 {
		return e
	}
	return nil
}

// send writes one datagram. The socket is non-blocking, so the call never waits: it is made
// without telling the scheduler (RawSyscall). Told, the scheduler would have its monitor take the
// processor away from a send that runs past its 20 µs tick, as a loopback send that delivers the
// datagram into the server's socket often does, and hand it to another thread: two thread
// switches for a call that was never going to block. A full send buffer (EAGAIN, under a flood)
// waits in the runtime's poller until there is room, or until the deadline.
func (d *dgram) send(b []byte, deadline time.Time) error {
	e := d.write(b)
	if e == unix.EAGAIN {
		d.file.SetWriteDeadline(deadline)
		werr := d.rc.Write(func(uintptr) bool {
			e = d.write(b)
			return e != unix.EAGAIN
		})
		if werr != nil {
			return werr
		}
	}
	if e != 0 {
		return os.NewSyscallError("write", e)
	}
	return nil
}

func (d *dgram) write(b []byte) syscall.Errno {
	for {
		_, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(d.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e != unix.EINTR {
			return e
		}
	}
}

// read waits for the next datagram until ctx is done or end has passed (os.ErrDeadlineExceeded).
// truncated says the datagram was longer than buf.
func (d *dgram) read(ctx context.Context, end time.Time, buf, oob []byte) (n, oobn int, truncated bool, err error) {
	if d.stop == nil && ctx.Done() != nil {
		d.stop = context.AfterFunc(ctx, func() { d.file.SetReadDeadline(time.Unix(1, 0)) })
	}
	d.file.SetReadDeadline(end)
	if ctx.Err() != nil {
		// Cancelled while the deadline was set: the past deadline must stand.
		return 0, 0, false, ctx.Err()
	}
	d.buf, d.oob = buf, oob
	rerr := d.rc.Read(d.recvNext)
	d.buf, d.oob = nil, nil
	if rerr != nil {
		if ctx.Err() != nil {
			return 0, 0, false, ctx.Err()
		}
		return 0, 0, false, rerr
	}
	return d.got.n, d.got.oobn, d.got.truncated, d.got.err
}

// recv takes one datagram from the socket's queue without waiting, with its control messages in
// oob. The message header is on the stack and names no source address (the socket is connected),
// so that nothing is allocated; the call cannot block, so it is a RawSyscall, as send's.
func (d *dgram) recv(buf, oob []byte) (n, oobn int, truncated bool, err error) {
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	msg := unix.Msghdr{Iov: &iov}
	msg.SetIovlen(1)
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	for {
		r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(d.fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT)
		switch e {
		case 0:
			return int(r), int(msg.Controllen), msg.Flags&unix.MSG_TRUNC != 0, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, 0, false, errNoDatagram
		}
		return 0, 0, false, os.NewSyscallError("recvmsg", e)
	}
}

// local is the socket's own address, for dnstap.
func (d *dgram) local() netip.AddrPort {
	sa, err := unix.Getsockname(d.fd)
	if err != nil {
		return netip.AddrPort{}
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// close closes the socket and takes it out of the runtime's poller.
func (d *dgram) close() {
	if d.stop != nil {
		d.stop()
	}
	d.file.Close()
}
