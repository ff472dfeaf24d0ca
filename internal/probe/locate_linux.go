package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// pollSlice bounds one poll so that a cancelled context is noticed within it.
const pollSlice = 50 * time.Millisecond

// drainLimit bounds how many datagrams or queued errors one wake-up reads; a flood cannot keep a
// try past its deadline, because the deadline is checked between wake-ups.
const drainLimit = 32

// probeTTL sends query once to target with the given TTL from a fresh socket, so that a late reply
// or ICMP error for an earlier try lands on a closed port instead of being counted here, and
// collects what comes back until wait has passed or the outcome is settled.
func probeTTL(ctx context.Context, target netip.AddrPort, query []byte, ttl int, wait time.Duration) (HopReport, error) {
	h := HopReport{TTL: ttl}
	fd, err := ttlSocket(target, ttl)
	if err != nil {
		return h, err
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, query); err != nil {
		return h, fmt.Errorf("send query: %w", err)
	}
	deadline := time.Now().Add(wait)
	settle := wait / 4
	buf := make([]byte, 4096)
	oob := make([]byte, 256)
	for {
		if h.Replied && h.Router.IsValid() || h.Unreachable {
			return h, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return h, nil
		}
		if err := ctx.Err(); err != nil {
			return h, err
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(min(left, pollSlice)/time.Millisecond)+1)
		if errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		if err != nil {
			return h, fmt.Errorf("poll: %w", err)
		}
		before := h.sawAnything()
		if fds[0].Revents&unix.POLLERR != 0 {
			if err := readErrQueue(fd, buf, oob, target.Addr(), &h); err != nil {
				return h, err
			}
			// Clear a pending socket error that has no queued report, so that poll does not
			// wake again for it.
			_, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			readReplies(fd, buf, query, &h)
		}
		if !before && h.sawAnything() {
			if end := time.Now().Add(settle); end.Before(deadline) {
				deadline = end
			}
		}
	}
}

// ttlSocket opens a non-blocking UDP socket connected to target whose packets leave with the given
// TTL (hop limit) and which queues ICMP errors for recvmsg(MSG_ERRQUEUE).
func ttlSocket(target netip.AddrPort, ttl int) (int, error) {
	family, level, ttlOpt, errOpt := unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, unix.IPV6_RECVERR
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(target.Port()), Addr: target.Addr().As16(), ZoneId: zoneID(target.Addr())}
	if target.Addr().Is4() {
		family, level, ttlOpt, errOpt = unix.AF_INET, unix.IPPROTO_IP, unix.IP_TTL, unix.IP_RECVERR
		sa = &unix.SockaddrInet4{Port: int(target.Port()), Addr: target.Addr().As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("udp socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, level, ttlOpt, ttl); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("set ttl %d: %w", ttl, err)
	}
	if err := unix.SetsockoptInt(fd, level, errOpt, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("enable icmp error queue: %w", err)
	}
	if err := unix.Connect(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect %s: %w", target, err)
	}
	return fd, nil
}

// zoneID is the interface index of a link-local target's zone ("fe80::1%eth0"), 0 without one.
func zoneID(a netip.Addr) uint32 {
	if a.Zone() == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(a.Zone()); err == nil {
		return uint32(ifi.Index)
	}
	if n, err := strconv.ParseUint(a.Zone(), 10, 32); err == nil {
		return uint32(n)
	}
	return 0
}

// readErrQueue takes the queued ICMP errors off the socket and records them in h. An error that
// cannot be parsed is a fault of this code or the kernel, not of the network, so it is returned.
func readErrQueue(fd int, buf, oob []byte, target netip.Addr, h *HopReport) error {
	for range drainLimit {
		_, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_ERRQUEUE)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read icmp error queue: %w", err)
		}
		reports, err := parseErrQueue(oob[:oobn])
		if err != nil {
			return err
		}
		for _, r := range reports {
			r.record(h, target)
		}
	}
	return nil
}

// readReplies reads the datagrams waiting on the socket and marks h replied when one answers
// query. A read can also return the pending ICMP error (ECONNREFUSED, EHOSTUNREACH); that error is
// in the error queue as well and is read from there.
func readReplies(fd int, buf, query []byte, h *HopReport) {
	for range drainLimit {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			return
		}
		if err != nil {
			continue
		}
		if answersQuery(buf[:n], query) {
			h.Replied = true
		}
	}
}
