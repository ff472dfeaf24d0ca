package upstream

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"warden/internal/query"
)

// UDP sends each query from a fresh socket. The socket is connected to the server, so the kernel
// drops datagrams from any other address, and bound by the kernel to a random ephemeral port, so
// an off-path forger must guess the port as well as the ID and the 0x20 case pattern.
type UDP struct {
	counters
	addr string
	opts Options
}

var _ Upstream = (*UDP)(nil)

// NewUDP returns an Upstream for the server at addr ("127.0.0.1:53", "[::1]:53").
func NewUDP(addr string, opts Options) *UDP { return &UDP{addr: addr, opts: opts} }

// Addr returns the server address.
func (u *UDP) Addr() string { return u.addr }

// Stats returns the counters and SRTT.
func (u *UDP) Stats() Stats { return u.snapshot() }

// udpBufSize is the receive buffer of one query in flight. It holds any reply within the payload
// Warden advertises (at most 4096) and is a sixteenth of the largest datagram: under a flood every
// query in flight holds one. A longer datagram, from a server that ignores the advertised size, is
// noticed by the kernel's MSG_TRUNC and taken as a truncated reply, so the question goes to TCP.
const udpBufSize = 4096

var udpBufs = sync.Pool{New: func() any { b := make([]byte, udpBufSize); return &b }}

// Exchange sends q and waits for a matching reply until the deadline. A reply with TC=1 is
// returned together with ErrTruncated.
func (u *UDP) Exchange(ctx context.Context, q *Query) (*Reply, error) {
	out, err := q.pack(randomID(), !u.opts.No0x20)
	if err != nil {
		return nil, err
	}
	u.queries.Add(1)
	start := time.Now()
	deadline := u.opts.deadline(ctx, start)
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var d net.Dialer
	conn, err := d.DialContext(dctx, "udp", u.addr)
	if err != nil {
		return nil, u.fail(ctx, start, fmt.Errorf("udp %s: %w", u.addr, err))
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := conn.Write(out.msg); err != nil {
		return nil, u.fail(ctx, start, fmt.Errorf("udp %s: %w", u.addr, err))
	}
	bp := udpBufs.Get().(*[]byte)
	defer udpBufs.Put(bp)
	buf := *bp
	uconn := conn.(*net.UDPConn)
	for {
		n, _, flags, _, err := uconn.ReadMsgUDP(buf, nil)
		if err != nil {
			if u.opts.Tap != nil {
				u.opts.tap(query.UDP, addrPortOf(conn.LocalAddr()), addrPortOf(conn.RemoteAddr()), out.msg, nil, start)
			}
			return nil, u.fail(ctx, start, fmt.Errorf("udp %s: %w", u.addr, err))
		}
		if flags&syscall.MSG_TRUNC != 0 {
			r, err := validateHead(buf[:n], out)
			if err != nil {
				u.mismatches.Add(1)
				continue
			}
			r.Flags |= query.FlagTC
			head := truncateInPlace(buf[:out.qend])
			if u.opts.Tap != nil {
				u.opts.tap(query.UDP, addrPortOf(conn.LocalAddr()), addrPortOf(conn.RemoteAddr()), out.msg, head, start)
			}
			return u.accept(r, head, start)
		}
		r, err := validate(buf[:n], out)
		if err != nil {
			// Keep listening: a forged or stale datagram must not end the wait for the real one.
			u.mismatches.Add(1)
			continue
		}
		if u.opts.Tap != nil {
			u.opts.tap(query.UDP, addrPortOf(conn.LocalAddr()), addrPortOf(conn.RemoteAddr()), out.msg, buf[:n], start)
		}
		return u.accept(r, buf[:n], start)
	}
}

// accept finishes an accepted reply: copy the bytes for the caller, measure, count truncation.
func (c *counters) accept(r Reply, b []byte, start time.Time) (*Reply, error) {
	r.RTT = time.Since(start)
	r.Data = append([]byte(nil), b...)
	c.observe(r.RTT)
	if r.Truncated() {
		c.truncated.Add(1)
		return &r, ErrTruncated
	}
	return &r, nil
}

// truncateInPlace turns the header and question of a reply too long for the buffer into the
// reply a server would have sent had it respected the payload: no records and TC=1.
func truncateInPlace(head []byte) []byte {
	binary.BigEndian.PutUint16(head[2:], binary.BigEndian.Uint16(head[2:])|query.FlagTC)
	clear(head[6:headerLen])
	return head
}
