//go:build !linux

package upstream

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// dgram is the socket of one UDP exchange; off Linux it is the net package's connected socket
// (dgram_linux.go says why Linux does without it).
type dgram struct {
	conn *net.UDPConn
	stop func() bool
}

func openDgram(server netip.AddrPort, _ bool) (*dgram, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(server))
	if err != nil {
		return nil, err
	}
	return &dgram{conn: c}, nil
}

func (d *dgram) send(b []byte, deadline time.Time) error {
	d.conn.SetWriteDeadline(deadline)
	_, err := d.conn.Write(b)
	return err
}

// read waits for the next datagram until ctx is done or end has passed.
func (d *dgram) read(ctx context.Context, end time.Time, buf, oob []byte) (n, oobn int, truncated bool, err error) {
	if d.stop == nil {
		d.stop = context.AfterFunc(ctx, func() { d.conn.SetReadDeadline(time.Unix(1, 0)) })
	}
	d.conn.SetReadDeadline(end)
	if ctx.Err() != nil {
		return 0, 0, false, ctx.Err()
	}
	n, oobn, flags, _, err := d.conn.ReadMsgUDPAddrPort(buf, oob)
	if err != nil && ctx.Err() != nil {
		return 0, 0, false, ctx.Err()
	}
	return n, oobn, flags&syscall.MSG_TRUNC != 0, err
}

func (d *dgram) local() netip.AddrPort { return addrPortOf(d.conn.LocalAddr()) }

func (d *dgram) close() {
	if d.stop != nil {
		d.stop()
	}
	d.conn.Close()
}
