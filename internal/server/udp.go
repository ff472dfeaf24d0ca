package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"warden/internal/query"
)

// maxUDPMsg is the largest DNS message a UDP datagram can carry.
const maxUDPMsg = 65535

// netFor returns the Go network name that gives the socket family the package documents for ap:
// IPv4 addresses get an IPv4-only socket, the IPv6 wildcard a dual-stack one, other IPv6 addresses
// an IPv6-only one.
func netFor(base string, ap netip.AddrPort) string {
	switch {
	case ap.Addr().Is4():
		return base + "4"
	case ap.Addr().IsUnspecified():
		return base
	default:
		return base + "6"
	}
}

// plainUDP serves UDP with the standard library: one socket read by several goroutines through the
// runtime poller, one system call per packet each way. It costs several times the CPU per query of
// the batched Linux path; it is there for platforms without recvmmsg, and as the baseline that path
// is measured against.
type plainUDP struct {
	conn *net.UDPConn
	wg   sync.WaitGroup
}

var _ udpServer = (*plainUDP)(nil)

func listenPlainUDP(ap netip.AddrPort, workers int, h Handler, obs Observer, log *slog.Logger) (*plainUDP, error) {
	conn, err := net.ListenUDP(netFor("udp", ap), net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("udp: %w", err)
	}
	p := &plainUDP{conn: conn}
	for range workers {
		p.wg.Add(1)
		go p.worker(h, recorderFor(obs, query.UDP, true), log)
	}
	return p, nil
}

func (p *plainUDP) LocalAddr() net.Addr { return p.conn.LocalAddr() }

func (p *plainUDP) Close() error {
	err := p.conn.Close()
	p.wg.Wait()
	return err
}

func (p *plainUDP) worker(h Handler, rec Recorder, log *slog.Logger) {
	defer p.wg.Done()
	in := make([]byte, maxUDPMsg)
	out := make([]byte, 0, maxUDPMsg)
	var req query.Request
	recs := make([]query.Record, 1)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(in)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Errors from an unconnected UDP socket are about one packet; keep serving.
			log.Debug("udp read", "err", err)
			continue
		}
		req.Wire = in[:n:n]
		req.Client = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		req.Transport = query.UDP
		received := time.Now()
		req.Received = received
		res := serveSafe(h, &req, out[:0], log)
		if len(res) == 0 {
			continue
		}
		if _, err := p.conn.WriteToUDPAddrPort(res, from); err != nil {
			log.Debug("udp write", "client", req.Client, "err", err)
			continue
		}
		if rec != nil {
			query.RecordOf(&recs[0], &req, res)
			recs[0].Received, recs[0].Sent = received, time.Now()
			rec.Record(recs)
		}
	}
}
