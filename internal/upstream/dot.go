package upstream

import (
	"context"
	"crypto/tls"
	"io"
	"net"

	"warden/internal/query"
)

// DoT sends queries over TLS connections (DNS over TLS, RFC 7858) with the TCP framing, reusing
// idle connections as TCP does (RFC 7858 section 3.4 asks for reuse: the handshake is costly).
// The certificate is verified against Options.TLS.ServerName, or the address's IP when no name is
// set; an unverified channel would defeat the point of DoT.
type DoT struct {
	counters
	addr string
	opts Options
	tls  *tls.Config
	pool streamPool
}

var (
	_ Upstream  = (*DoT)(nil)
	_ io.Closer = (*DoT)(nil)
)

// NewDoT returns an Upstream for the DoT server at addr ("127.0.0.1:853"); opts.TLS supplies the
// server name and roots.
func NewDoT(addr string, opts Options) *DoT {
	var cfg *tls.Config
	if opts.TLS != nil {
		cfg = opts.TLS.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	// RFC 8310 asks for TLS 1.2 or later for DNS privacy.
	cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	return &DoT{addr: addr, opts: opts, tls: cfg}
}

// Addr returns the server address.
func (t *DoT) Addr() string { return t.addr }

// Stats returns the counters and SRTT.
func (t *DoT) Stats() Stats { return t.snapshot() }

// Close closes the idle connections; the DoT value stays usable and dials again when needed.
func (t *DoT) Close() error { t.pool.close(); return nil }

// Exchange sends q over a reused or new TLS connection and returns the first matching reply.
func (t *DoT) Exchange(ctx context.Context, q *Query) (*Reply, error) {
	// No 0x20: the TLS channel authenticates the server, so case gives no extra protection.
	out, err := q.pack(randomID(), false)
	if err != nil {
		return nil, err
	}
	dial := func(ctx context.Context) (net.Conn, error) {
		d := tls.Dialer{Config: t.tls}
		return d.DialContext(ctx, "tcp", t.addr)
	}
	return exchangeStream(ctx, out, &t.opts, &t.counters, &t.pool, dial, query.DoT, "tls "+t.addr)
}
