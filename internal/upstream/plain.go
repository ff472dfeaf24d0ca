package upstream

import (
	"context"
	"errors"
	"io"
	"time"
)

// Plain is classic DNS: UDP first, and TCP to the same address when the UDP reply is truncated
// (RFC 7766). It is what ParseAddr returns for an address without a scheme.
type Plain struct {
	udp *UDP
	tcp *TCP
}

var (
	_ Upstream  = (*Plain)(nil)
	_ io.Closer = (*Plain)(nil)
)

// NewPlain returns an Upstream for addr over UDP with TCP fallback.
func NewPlain(addr string, opts Options) *Plain {
	return &Plain{udp: NewUDP(addr, opts), tcp: NewTCP(addr, opts)}
}

// Addr returns the server address.
func (p *Plain) Addr() string { return p.udp.addr }

// Stats adds the UDP and TCP counters (a fallback counts as a second query); SRTT is the UDP one,
// since that is the path every query starts on.
func (p *Plain) Stats() Stats {
	u, t := p.udp.snapshot(), p.tcp.snapshot()
	return Stats{
		Queries:    u.Queries + t.Queries,
		Timeouts:   u.Timeouts + t.Timeouts,
		Mismatches: u.Mismatches + t.Mismatches,
		Truncated:  u.Truncated + t.Truncated,
		Errors:     u.Errors + t.Errors,
		SRTT:       u.SRTT,
	}
}

// Close releases the idle TCP connections.
func (p *Plain) Close() error { return p.tcp.Close() }

// SRTT returns the smoothed RTT of the UDP path.
func (p *Plain) SRTT() time.Duration { return p.udp.SRTT() }

// Exchange asks over UDP and, if the reply is truncated, asks again over TCP within the same
// deadline, so the caller waits at most one Timeout in all. The TCP reply is returned as is;
// ErrTruncated then means even TCP was truncated. Two different UDP replies (ErrInjected) are
// settled the same way: TCP's answer is taken, and only if TCP fails the UDP reply that looked
// more like the server's. A lone UDP reply with an IP TTL unlike the server's (ErrUnconfirmed) is
// checked against TCP's answer too.
func (p *Plain) Exchange(ctx context.Context, q *Query) (*Reply, error) {
	ctx, cancel := context.WithDeadline(ctx, p.udp.opts.deadline(ctx, time.Now()))
	defer cancel()
	r, err := p.udp.Exchange(ctx, q)
	switch {
	case errors.Is(err, ErrTruncated):
		return p.tcp.Exchange(ctx, q)
	case errors.Is(err, ErrInjected):
		if tr, terr := p.tcp.Exchange(ctx, q); terr == nil || errors.Is(terr, ErrTruncated) {
			return tr, terr
		}
		return r, nil
	case errors.Is(err, ErrUnconfirmed):
		tr, terr := p.tcp.Exchange(ctx, q)
		if terr != nil {
			return r, nil
		}
		same := sameAnswer(r.Data, tr.Data)
		p.udp.confirmed(q, r, same)
		if same {
			return r, nil
		}
		return tr, nil
	}
	return r, err
}

// Penalise backs the SRTT off as a timeout does, for a server that answered without use (lame,
// or failing): selection by SRTT then asks it last.
func (p *Plain) Penalise() { p.udp.penalise(p.udp.opts.timeout()) }
