package upstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"warden/internal/query"
)

// TCP sends queries with RFC 7766 framing (a two-byte length before each message). Connections
// are kept open after a clean exchange and reused one query at a time, which saves the handshake
// (RFC 7766 section 6.2.1 asks clients to reuse); a reused connection that the server has closed
// meanwhile is replaced by a fresh one without the caller noticing.
type TCP struct {
	counters
	addr string
	opts Options
	pool streamPool
}

var (
	_ Upstream  = (*TCP)(nil)
	_ io.Closer = (*TCP)(nil)
)

// NewTCP returns an Upstream for the server at addr over TCP. Close releases its idle connections.
func NewTCP(addr string, opts Options) *TCP { return &TCP{addr: addr, opts: opts} }

// Addr returns the server address.
func (t *TCP) Addr() string { return t.addr }

// Stats returns the counters and SRTT.
func (t *TCP) Stats() Stats { return t.snapshot() }

// Close closes the idle connections; the TCP value stays usable and dials again when needed.
func (t *TCP) Close() error { t.pool.close(); return nil }

// Exchange sends q and returns the first matching reply.
func (t *TCP) Exchange(ctx context.Context, q *Query) (*Reply, error) {
	// 0x20 is left out: the TCP handshake already proves the reply comes from the server, and the
	// fallback after truncation should not fail on a server that does not copy the case.
	out, err := q.pack(randomID(), false)
	if err != nil {
		return nil, err
	}
	dial := func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", t.addr)
	}
	return exchangeStream(ctx, out, &t.opts, &t.counters, &t.pool, dial, query.TCP, "tcp "+t.addr)
}

const (
	// maxIdleConns bounds the connections kept open per upstream; more concurrent queries dial
	// their own and close them afterwards.
	maxIdleConns = 4
	// idleTimeout is how long an idle connection is kept. Servers close idle connections after
	// some seconds (RFC 7766 suggests timeouts of that order); staying below that makes a reuse
	// that meets a closed connection rare.
	idleTimeout = 5 * time.Second
)

// streamPool holds idle connections to one server. It runs no goroutine: stale connections are
// closed when found, and close releases the rest.
type streamPool struct {
	mu   sync.Mutex
	idle []idleConn
}

type idleConn struct {
	c     net.Conn
	since time.Time
}

// get returns the most recently used idle connection, or nil.
func (p *streamPool) get(now time.Time) net.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		ic := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(ic.since) < idleTimeout {
			return ic.c
		}
		ic.c.Close()
	}
	return nil
}

func (p *streamPool) put(c net.Conn, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) >= maxIdleConns {
		c.Close()
		return
	}
	p.idle = append(p.idle, idleConn{c, now})
}

func (p *streamPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ic := range p.idle {
		ic.c.Close()
	}
	p.idle = nil
}

// errClosed is returned when the server closes the stream before a matching reply.
var errClosed = errors.New("connection closed before a matching reply")

// exchangeStream sends out over a reused or newly dialled stream connection (TCP or TLS) and
// returns the first matching reply, counting as it goes. The RTT includes connection setup, since
// that is what the caller waited.
func exchangeStream(ctx context.Context, out outgoing, opts *Options, c *counters, pool *streamPool,
	dial func(context.Context) (net.Conn, error), transport query.Transport, what string) (*Reply, error) {
	c.queries.Add(1)
	start := time.Now()
	deadline := opts.deadline(ctx, start)
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for {
		conn := pool.get(start)
		reused := conn != nil
		if !reused {
			var err error
			if conn, err = dial(dctx); err != nil {
				return nil, c.fail(ctx, start, fmt.Errorf("%s: %w", what, err))
			}
		}
		r, mismatches, clean, err := roundTrip(ctx, conn, out, deadline)
		c.mismatches.Add(uint64(mismatches))
		if opts.Tap != nil && !(err != nil && reused && stale(err) && dctx.Err() == nil) {
			var reply []byte
			if err == nil {
				reply = r.Data
			}
			opts.tap(transport, addrPortOf(conn.LocalAddr()), addrPortOf(conn.RemoteAddr()), &out, reply, start)
		}
		if err == nil && clean {
			pool.put(conn, time.Now())
		} else {
			conn.Close()
		}
		if err != nil {
			if reused && stale(err) && dctx.Err() == nil {
				continue // the server closed the idle connection: ask again on a fresh one
			}
			return nil, c.fail(ctx, start, fmt.Errorf("%s: %w", what, err))
		}
		r.RTT = time.Since(start)
		c.observe(r.RTT)
		if r.Truncated() {
			// A truncated stream reply cannot be retried anywhere; the caller gets it flagged.
			c.truncated.Add(1)
			return r, ErrTruncated
		}
		return r, nil
	}
}

// stale reports the errors a reused connection gives when the server closed it while idle.
func stale(err error) bool {
	return errors.Is(err, errClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// roundTrip writes one framed query on conn and reads framed messages until one matches;
// messages that do not match are counted and skipped, as on UDP. clean says whether the
// connection is fit for reuse: nothing unexpected arrived and no cancellation touched it.
func roundTrip(ctx context.Context, conn net.Conn, out outgoing, deadline time.Time) (r *Reply, mismatches int, clean bool, err error) {
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		// If the cancellation already fired, it may still change the deadline later: the
		// connection must not be handed to another exchange.
		if !stop() {
			clean = false
		}
	}()

	frame := make([]byte, 2+len(out.msg))
	binary.BigEndian.PutUint16(frame, uint16(len(out.msg)))
	copy(frame[2:], out.msg)
	if _, err := conn.Write(frame); err != nil {
		return nil, mismatches, false, err
	}
	var lenBuf [2]byte
	for {
		if _, err := io.ReadFull(conn, lenBuf[:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = errClosed
			}
			return nil, mismatches, false, err
		}
		msg := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
		if _, err := io.ReadFull(conn, msg); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				err = errClosed
			}
			return nil, mismatches, false, err
		}
		rep, err := validate(msg, out)
		if err != nil {
			mismatches++
			continue
		}
		rep.Data = msg // already a fresh slice: no copy needed
		return &rep, mismatches, mismatches == 0, nil
	}
}
