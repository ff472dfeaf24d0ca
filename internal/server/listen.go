// Package server holds Warden's network listeners: the UDP and TCP loops that read queries, hand
// each one to a Handler and write back what it returns, and the encrypted ones (DNS over TLS, HTTPS
// and QUIC) that do the same behind TLS. It is the only place in the query path that touches
// sockets; everything behind the Handler works on bytes and a query.Request, whatever the
// transport (query.Request.Transport says which).
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"warden/internal/query"
)

// ListenerConfig says where to listen and how much the network may ask of the server. Zero values
// pick the defaults documented on each field.
type ListenerConfig struct {
	// Addr is an IP literal and port: "127.0.0.1:1053", "[::1]:53". An empty host (":53") or "[::]"
	// listens on every address, IPv4 included (dual stack); "0.0.0.0" listens on IPv4 only. Port 0
	// picks a free port, the same one for UDP and TCP.
	Addr string
	// UDPWorkers is the number of UDP sockets, each with its own worker thread. 0 means one per
	// core the process may use (runtime.GOMAXPROCS, which unlike runtime.NumCPU also respects a
	// container's CPU quota), so that the kernel spreads queries over every core.
	UDPWorkers int
	// UDPBlocking has each UDP worker wait for queries in a blocking recvmmsg on a thread of its
	// own instead of in the runtime's poller. It suits a server that answers every query itself
	// (authoritative only): there a parked worker's wakeups cost more than a blocked thread's. A
	// server that resolves or forwards must leave it off, or the goroutines that answer later wait
	// for the runtime to take a processor back from a blocked worker. Linux only.
	UDPBlocking bool
	// TCPIdleTimeout closes a TCP connection that sends no query for this long. 0 means 10s
	// (RFC 7766 §6.2.3 asks for seconds, not minutes).
	TCPIdleTimeout time.Duration
	// TCPMaxConns caps open TCP connections; beyond it new connections are closed at once. 0 means 1000.
	TCPMaxConns int
	// TCPMaxPipelined caps the queries answered at the same time on one TCP connection; the
	// connection is not read further until one finishes. 0 means 100.
	TCPMaxPipelined int

	// The encrypted listeners: Addr "tls://IP:port" (DoT), "https://IP:port/path" (DoH) or
	// "quic://IP:port" (DoQ). The fields below apply to them only.
	//
	// TLSCert and TLSKey are PEM files; required. They are looked at again at most once a
	// second while clients connect, and reloaded when they change.
	TLSCert, TLSKey string
	// TLSHandshakeTimeout bounds the TLS handshake, and for DoH the reading of a request's
	// headers, for DoQ the reading of a query on its stream. 0 means 5s.
	TLSHandshakeTimeout time.Duration
	// TLSIdleTimeout closes a connection without a query in progress for this long, and bounds
	// the writing of one answer. 0 means 30s: a TLS session costs a handshake, so it is worth
	// keeping longer than a TCP connection (RFC 7858 §3.4).
	TLSIdleTimeout time.Duration
	// TLSMaxConns caps the open connections of the listener, handshakes included. 0 means 1000.
	TLSMaxConns int
	// TLSMaxConnsPerClient caps those of one client (an IPv4 address or an IPv6 /64). 0 means 20.
	TLSMaxConnsPerClient int
	// TLSMaxStreams caps the queries in progress on one connection: DoT pipelined queries,
	// HTTP/2 streams, QUIC streams. 0 means 100.
	TLSMaxStreams int

	// Observer, when not nil, is given a record of every answer sent (metrics; see Observer).
	Observer Observer

	// certCheck overrides certCheckInterval (tests).
	certCheck time.Duration
}

const (
	defaultTCPIdleTimeout  = 10 * time.Second
	defaultTCPMaxConns     = 1000
	defaultTCPMaxPipelined = 100

	defaultTLSHandshakeTimeout  = 5 * time.Second
	defaultTLSIdleTimeout       = 30 * time.Second
	defaultTLSMaxConns          = 1000
	defaultTLSMaxConnsPerClient = 20
	defaultTLSMaxStreams        = 100
	// maxUDPWorkers keeps a typo from starting thousands of threads.
	maxUDPWorkers = 1024
)

// withDefaults returns cfg with zero fields filled in, or an error naming the first bad field.
func (cfg ListenerConfig) withDefaults() (ListenerConfig, error) {
	switch {
	case cfg.UDPWorkers < 0 || cfg.UDPWorkers > maxUDPWorkers:
		return cfg, fmt.Errorf("UDPWorkers %d: want 0 to %d", cfg.UDPWorkers, maxUDPWorkers)
	case cfg.TCPIdleTimeout < 0:
		return cfg, fmt.Errorf("TCPIdleTimeout %v: must not be negative", cfg.TCPIdleTimeout)
	case cfg.TCPMaxConns < 0:
		return cfg, fmt.Errorf("TCPMaxConns %d: must not be negative", cfg.TCPMaxConns)
	case cfg.TCPMaxPipelined < 0:
		return cfg, fmt.Errorf("TCPMaxPipelined %d: must not be negative", cfg.TCPMaxPipelined)
	case cfg.TLSHandshakeTimeout < 0 || cfg.TLSIdleTimeout < 0:
		return cfg, fmt.Errorf("TLS timeouts %v, %v: must not be negative", cfg.TLSHandshakeTimeout, cfg.TLSIdleTimeout)
	case cfg.TLSMaxConns < 0 || cfg.TLSMaxConnsPerClient < 0 || cfg.TLSMaxStreams < 0:
		return cfg, fmt.Errorf("TLS limits %d, %d, %d: must not be negative", cfg.TLSMaxConns, cfg.TLSMaxConnsPerClient, cfg.TLSMaxStreams)
	}
	cfg.TLSHandshakeTimeout = orDefault(cfg.TLSHandshakeTimeout, defaultTLSHandshakeTimeout)
	cfg.TLSIdleTimeout = orDefault(cfg.TLSIdleTimeout, defaultTLSIdleTimeout)
	cfg.TLSMaxConns = orDefault(cfg.TLSMaxConns, defaultTLSMaxConns)
	cfg.TLSMaxConnsPerClient = orDefault(cfg.TLSMaxConnsPerClient, defaultTLSMaxConnsPerClient)
	cfg.TLSMaxStreams = orDefault(cfg.TLSMaxStreams, defaultTLSMaxStreams)
	cfg.certCheck = orDefault(cfg.certCheck, certCheckInterval)
	if cfg.UDPWorkers == 0 {
		cfg.UDPWorkers = runtime.GOMAXPROCS(0)
	}
	if cfg.TCPIdleTimeout == 0 {
		cfg.TCPIdleTimeout = defaultTCPIdleTimeout
	}
	if cfg.TCPMaxConns == 0 {
		cfg.TCPMaxConns = defaultTCPMaxConns
	}
	if cfg.TCPMaxPipelined == 0 {
		cfg.TCPMaxPipelined = defaultTCPMaxPipelined
	}
	return cfg, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// udpServer is what a platform's UDP implementation gives the Listener.
type udpServer interface {
	LocalAddr() net.Addr
	// Close stops every worker and waits for them.
	Close() error
}

// encryptedServer is what an encrypted listener (DoT, DoH, DoQ) gives the Listener.
type encryptedServer interface {
	Addr() net.Addr
	// Close stops accepting, closes every connection and waits for the goroutines.
	Close() error
}

// Listener serves one address until Close: over UDP and TCP, or over one encrypted transport.
type Listener struct {
	udp udpServer
	tcp *tcpServer
	// enc is the encrypted listener; when set, udp and tcp are nil.
	enc       encryptedServer
	transport query.Transport

	closeOnce sync.Once
	closeErr  error
}

// Listen binds UDP and TCP on cfg.Addr and serves h until Close; an address with a scheme
// (tls://, https://, quic://) is served over that encrypted transport alone. log may be nil.
func Listen(cfg ListenerConfig, h Handler, log *slog.Logger) (*Listener, error) {
	if h == nil {
		return nil, fmt.Errorf("listen %s: nil handler", cfg.Addr)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	if scheme, rest, ok := strings.Cut(cfg.Addr, "://"); ok {
		return listenEncrypted(scheme, rest, cfg, h, log.With("addr", cfg.Addr))
	}
	ap, err := parseListenAddr(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	log = log.With("addr", cfg.Addr)

	// With port 0 the kernel picks the UDP port; TCP must then get the same one, which another
	// program may hold. Try a few ports before giving up.
	attempts := 1
	if ap.Port() == 0 {
		attempts = 8
	}
	for i := 0; ; i++ {
		l, err := listenOnce(ap, cfg, h, log)
		if err == nil {
			return l, nil
		}
		if i+1 >= attempts || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen %s: %w", cfg.Addr, err)
		}
	}
}

func listenOnce(ap netip.AddrPort, cfg ListenerConfig, h Handler, log *slog.Logger) (*Listener, error) {
	u, err := listenUDP(ap, cfg.UDPWorkers, cfg.UDPBlocking, h, cfg.Observer, log)
	if err != nil {
		return nil, err
	}
	port := uint16(0)
	if ua, ok := u.LocalAddr().(*net.UDPAddr); ok {
		port = uint16(ua.Port)
	}
	t, err := listenTCP(netip.AddrPortFrom(ap.Addr(), port), cfg, h, log)
	if err != nil {
		_ = u.Close()
		return nil, err
	}
	return &Listener{udp: u, tcp: t}, nil
}

// parseListenAddr accepts "ip:port" and ":port"; an empty host means the IPv6 wildcard, which the
// listeners open as dual stack.
func parseListenAddr(s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if host == "" {
		host = "::"
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("host %q is not an IP address", host)
	}
	if addr.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("host %q: zones are not supported", host)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(p)), nil
}

// listenEncrypted opens the listener of one encrypted transport on hostport (for https, with the
// URL path after it).
func listenEncrypted(scheme, hostport string, cfg ListenerConfig, h Handler, log *slog.Logger) (*Listener, error) {
	fail := func(err error) (*Listener, error) { return nil, fmt.Errorf("listen %s: %w", cfg.Addr, err) }
	path := ""
	if scheme == "https" {
		path = "/dns-query"
		if i := strings.IndexByte(hostport, '/'); i >= 0 {
			hostport, path = hostport[:i], hostport[i:]
		}
	}
	ap, err := parseListenAddr(hostport)
	if err != nil {
		return fail(err)
	}
	if cfg.TLSCert == "" || cfg.TLSKey == "" {
		return fail(errors.New("a certificate and key are needed (--tls-cert, --tls-key)"))
	}
	certs, err := newCertStore(cfg.TLSCert, cfg.TLSKey, log)
	if err != nil {
		return fail(err)
	}
	certs.interval = cfg.certCheck
	l := &Listener{}
	switch scheme {
	case "tls":
		l.transport = query.DoT
		l.enc, err = listenDoT(ap, cfg, certs, h, log)
	case "https":
		l.transport = query.DoH
		l.enc, err = listenDoH(ap, path, cfg, certs, h, log)
	case "quic":
		l.transport = query.DoQ
		l.enc, err = listenDoQ(ap, cfg, certs, h, log)
	default:
		err = fmt.Errorf("unknown scheme %q: want tls://, https:// or quic://", scheme)
	}
	if err != nil {
		return fail(err)
	}
	return l, nil
}

// UDPAddr returns the bound UDP address (useful when the configured port was 0); nil for an
// encrypted listener.
func (l *Listener) UDPAddr() net.Addr {
	if l.udp == nil {
		return nil
	}
	return l.udp.LocalAddr()
}

// TCPAddr returns the bound TCP address; nil for an encrypted listener.
func (l *Listener) TCPAddr() net.Addr {
	if l.tcp == nil {
		return nil
	}
	return l.tcp.ln.Addr()
}

// Addr returns the bound address of an encrypted listener (TCP for DoT and DoH, UDP for DoQ), or
// the TCP address of a plain one.
func (l *Listener) Addr() net.Addr {
	if l.enc != nil {
		return l.enc.Addr()
	}
	return l.TCPAddr()
}

// String says what the listener serves where, as "udp 127.0.0.1:53, tcp 127.0.0.1:53" or
// "doh 127.0.0.1:443", for the log.
func (l *Listener) String() string {
	if l.enc != nil {
		return l.transport.String() + " " + l.enc.Addr().String()
	}
	return "udp " + l.UDPAddr().String() + ", tcp " + l.TCPAddr().String()
}

// Close stops both listeners and waits for every goroutine and thread they started. UDP workers
// stop within a fraction of a second; TCP waits for queries already being answered, so it takes as
// long as the slowest of those handlers. Calling Close again returns the first result.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		if l.enc != nil {
			l.closeErr = l.enc.Close()
			return
		}
		var wg sync.WaitGroup
		var uerr, terr error
		wg.Add(2)
		go func() { defer wg.Done(); uerr = l.udp.Close() }()
		go func() { defer wg.Done(); terr = l.tcp.Close() }()
		wg.Wait()
		l.closeErr = errors.Join(uerr, terr)
	})
	return l.closeErr
}

// serveSafe calls h and turns a panic into "no response", so that one bad query cannot take down a
// worker thread and with it the process.
func serveSafe(h Handler, req *query.Request, out []byte, log *slog.Logger) (res []byte) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("handler panic", "client", req.Client, "transport", req.Transport, "panic", p)
			res = nil
		}
	}()
	return h.ServeDNS(req, out)
}
