package server

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"warden/internal/query"
	"warden/internal/wire"
)

// DNS over HTTPS (RFC 8484): a query is one HTTP request, GET with the message in the dns
// parameter (base64url without padding) or POST with the message as the body, both of type
// application/dns-message; the answer is the response body, with a freshness lifetime no longer
// than its records' smallest TTL (§5.1). HTTP/2 and HTTP/1.1 are both served by net/http.
//
// Each request gets its own goroutine from net/http, so the handler may take its time (Later and
// Stream are nil; zone transfers are refused by the pipeline). The bounds against slow and greedy
// clients are the http.Server's: headers within the handshake timeout and 16 KiB, a whole request
// within twice that, 100 streams per HTTP/2 connection, bodies of one DNS message at most, and the
// listener's caps on connections in total and per client.

const (
	dohMediaType = "application/dns-message"
	// dohMaxMessage is the largest DNS message, the cap on a POST body and a decoded GET parameter.
	dohMaxMessage = 65535
	// dohMaxHeaderBytes bounds the request line and headers: a GET carries the query in its URL,
	// and 16 KiB holds any query but an absurd one (queries with large records go by POST).
	dohMaxHeaderBytes = 16 << 10
)

type dohServer struct {
	srv *http.Server
	ln  net.Listener
	h   Handler
	log *slog.Logger
	// rec takes the record of each answer sent; nil records nothing.
	rec Recorder
	// path is the URL path queries are served on; every other path is 404.
	path string

	done chan struct{} // closed when Serve has returned
}

func listenDoH(ap netip.AddrPort, path string, cfg ListenerConfig, certs *certStore, h Handler, log *slog.Logger) (*dohServer, error) {
	ln, err := net.Listen(netFor("tcp", ap), net.TCPAddrFromAddrPort(ap).String())
	if err != nil {
		return nil, fmt.Errorf("doh: %w", err)
	}
	s := &dohServer{
		ln:   &limitListener{Listener: ln, clients: newClientLimiter(cfg.TLSMaxConnsPerClient, cfg.TLSMaxConns)},
		h:    h,
		log:  log,
		rec:  recorderFor(cfg.Observer, query.DoH, false),
		path: path,
		done: make(chan struct{}),
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	s.srv = &http.Server{
		Handler: s,
		// ServeTLS adds the ALPN names h2 and http/1.1.
		TLSConfig: certs.tlsConfig(tls.VersionTLS12),
		Protocols: &protocols,
		// The TLS handshake is bounded by the smallest of these; the headers by the first.
		ReadHeaderTimeout: cfg.TLSHandshakeTimeout,
		ReadTimeout:       2 * cfg.TLSHandshakeTimeout,
		// From the end of the headers to the end of the answer: the answer may take the
		// resolver's time to find.
		WriteTimeout:   cfg.TLSIdleTimeout,
		IdleTimeout:    cfg.TLSIdleTimeout,
		MaxHeaderBytes: dohMaxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          cfg.TLSMaxStreams,
			MaxReceiveBufferPerStream:     dohMaxMessage + 1,
			MaxReceiveBufferPerConnection: max(1<<20, dohMaxMessage+1),
		},
		// Handshake failures and protocol errors of clients are not the server's problems.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.ServeTLS(s.ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("doh server stopped", "err", err)
		}
	}()
	return s, nil
}

func (s *dohServer) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting and gives requests in progress a moment to finish, then closes every
// connection.
func (s *dohServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	<-s.done
	if err != nil {
		return fmt.Errorf("doh close: %w", err)
	}
	return nil
}

var dohBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (s *dohServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != s.path {
		http.NotFound(w, r)
		return
	}
	msg, status, err := dohQuery(r.Method, r.URL.RawQuery, r.Header.Get("Content-Type"), r.Body)
	if err != nil {
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, POST")
		}
		http.Error(w, err.Error(), status)
		return
	}
	received := time.Now()
	req := query.Request{Wire: msg, Transport: query.DoH, Received: received}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		req.Client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	bp := dohBufs.Get().(*[]byte)
	defer dohBufs.Put(bp)
	res := serveSafe(s.h, &req, (*bp)[:0], s.log)
	if len(res) < query.HeaderLen || len(res) > dohMaxMessage {
		// Nothing to send: a message that is not a query, or a policy that drops it.
		http.Error(w, "no answer to this message", http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", dohMediaType)
	h.Set("Content-Length", strconv.Itoa(len(res)))
	h.Set("Cache-Control", cacheControl(res))
	if _, err := w.Write(res); err == nil && s.rec != nil {
		// DoH allocates per request anyway (net/http); one record more does not matter.
		recs := make([]query.Record, 1)
		query.RecordOf(&recs[0], &req, res)
		// The request's own stamp may be gone: a resolution clears it.
		recs[0].Received, recs[0].Sent = received, time.Now()
		s.rec.Record(recs)
	}
}

// dohQuery takes the DNS message out of a DoH request (RFC 8484 §4.1): from the dns parameter of a
// GET, or the body of a POST of type application/dns-message. On failure it returns the HTTP
// status to answer with.
func dohQuery(method, rawQuery, contentType string, body io.Reader) ([]byte, int, error) {
	switch method {
	case http.MethodGet, http.MethodHead:
		enc, ok := queryParam(rawQuery, "dns")
		if !ok {
			return nil, http.StatusBadRequest, errors.New("GET without a dns parameter")
		}
		// Padding is not sent (§4.1) but is harmless; take it off rather than refuse it.
		enc = strings.TrimRight(enc, "=")
		if base64.RawURLEncoding.DecodedLen(len(enc)) > dohMaxMessage {
			return nil, http.StatusRequestURITooLong, errors.New("dns parameter longer than a DNS message")
		}
		msg, err := base64.RawURLEncoding.DecodeString(enc)
		if err != nil {
			return nil, http.StatusBadRequest, errors.New("dns parameter is not base64url")
		}
		return checkDoHMessage(msg)
	case http.MethodPost:
		if mt, _, _ := strings.Cut(contentType, ";"); !strings.EqualFold(strings.TrimSpace(mt), dohMediaType) {
			return nil, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: want %s", contentType, dohMediaType)
		}
		msg, err := io.ReadAll(io.LimitReader(body, dohMaxMessage+1))
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("reading the body: %w", err)
		}
		if len(msg) > dohMaxMessage {
			return nil, http.StatusRequestEntityTooLarge, errors.New("body longer than a DNS message")
		}
		return checkDoHMessage(msg)
	default:
		return nil, http.StatusMethodNotAllowed, fmt.Errorf("method %s: want GET or POST", method)
	}
}

func checkDoHMessage(msg []byte) ([]byte, int, error) {
	if len(msg) < query.HeaderLen {
		return nil, http.StatusBadRequest, fmt.Errorf("DNS message of %d bytes is shorter than a header", len(msg))
	}
	return msg, 0, nil
}

// queryParam returns the first value of key in a raw URL query, unescaped. It is url.ParseQuery
// for one key, without building a map of every other parameter a client may send.
func queryParam(rawQuery, key string) (string, bool) {
	for rawQuery != "" {
		var kv string
		kv, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != key {
			continue
		}
		// base64url needs no escaping; a client that escaped it anyway gets it unescaped.
		if strings.IndexByte(v, '%') >= 0 {
			u, err := unescape(v)
			if err != nil {
				return "", false
			}
			v = u
		}
		return v, true
	}
	return "", false
}

func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("bad escape")
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", errors.New("bad escape")
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// cacheControl is the Cache-Control header of a DoH answer (RFC 8484 §5.1): max-age is the smallest
// TTL of the answer and authority sections, which for a negative answer is the SOA's (RFC 2308 §5).
// Errors other than NXDOMAIN and answers without records are not to be stored.
func cacheControl(msg []byte) string {
	ttl, ok := minTTL(msg)
	if !ok {
		return "no-store"
	}
	return "max-age=" + strconv.FormatUint(uint64(ttl), 10)
}

// minTTL reads the smallest TTL of the answer and authority records of msg; ok is false for a
// message with none, an rcode other than NOERROR and NXDOMAIN, or one that does not parse.
func minTTL(msg []byte) (uint32, bool) {
	if len(msg) < query.HeaderLen {
		return 0, false
	}
	if rcode := msg[3] & 0xF; rcode != 0 && rcode != 3 {
		return 0, false
	}
	qd := int(binary.BigEndian.Uint16(msg[4:]))
	n := int(binary.BigEndian.Uint16(msg[6:])) + int(binary.BigEndian.Uint16(msg[8:]))
	off := query.HeaderLen
	for range qd {
		end, ok := skipName(msg, off)
		if !ok || end+4 > len(msg) {
			return 0, false
		}
		off = end + 4
	}
	least, seen := uint32(0), false
	for range n {
		end, ok := skipName(msg, off)
		if !ok || end+10 > len(msg) {
			return 0, false
		}
		ttl := binary.BigEndian.Uint32(msg[end+4:])
		if ttl > 1<<31-1 {
			ttl = 0 // RFC 2181 §8: a TTL with the top bit set is zero
		}
		if !seen || ttl < least {
			least, seen = ttl, true
		}
		off = end + 10 + int(binary.BigEndian.Uint16(msg[end+8:]))
		if off > len(msg) {
			return 0, false
		}
	}
	return least, seen
}

// limitListener closes, as soon as they are accepted, the connections beyond the caps in total and
// per client; the others count until closed.
type limitListener struct {
	net.Listener
	clients *clientLimiter
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var addr netip.Addr
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			addr = ta.AddrPort().Addr()
		}
		if !l.clients.acquire(addr) {
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.clients.release(addr) }}, nil
	}
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// skipName steps over a name at off, compressed or not.
func skipName(msg []byte, off int) (int, bool) {
	next, err := wire.SkipName(msg, off)
	return next, err == nil
}
