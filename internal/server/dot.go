package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"warden/internal/query"
)

// DNS over TLS (RFC 7858) is DNS over TCP inside a TLS session: the same two-byte framing, the
// same pipelining with answers in any order (RFC 7766 §6.2.1.1, §7), so the TCP server serves it,
// with a TLS handshake first. What differs are the limits: a handshake has its own timeout, each
// client (IPv4 address or IPv6 /64) may hold only so many connections, and an idle session is kept
// longer than a TCP connection, because the next one would cost another handshake.

// alpnDoT is the ALPN name of DNS over TLS (RFC 7858 §3.2, IANA ALPN registry).
const alpnDoT = "dot"

func listenDoT(ap netip.AddrPort, cfg ListenerConfig, certs *certStore, h Handler, log *slog.Logger) (*tcpServer, error) {
	ln, err := net.Listen(netFor("tcp", ap), net.TCPAddrFromAddrPort(ap).String())
	if err != nil {
		return nil, fmt.Errorf("dot: %w", err)
	}
	s := &tcpServer{
		ln:           ln,
		h:            h,
		log:          log,
		idle:         cfg.TLSIdleTimeout,
		maxConns:     cfg.TLSMaxConns,
		maxPipelined: cfg.TLSMaxStreams,
		transport:    query.DoT,
		rec:          recorderFor(cfg.Observer, query.DoT, false),
		tls:          certs.tlsConfig(tls.VersionTLS12, alpnDoT),
		handshake:    cfg.TLSHandshakeTimeout,
		clients:      newClientLimiter(cfg.TLSMaxConnsPerClient, 0),
	}
	s.run()
	return s, nil
}

// Addr is the bound TCP address.
func (s *tcpServer) Addr() net.Addr { return s.ln.Addr() }

var _ encryptedServer = (*tcpServer)(nil)
