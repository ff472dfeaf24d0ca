package server

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"warden/internal/query"
)

// DNS over QUIC (RFC 9250): each query comes on a bidirectional stream of its own, with the
// two-byte length of TCP, and its answer goes back on the same stream, which the server then
// closes. Streams are independent, so answers come back in any order by construction. The DNS
// message ID of a query must be 0 (§4.2.1); anything else is a protocol error that closes the
// connection. A zone transfer's messages all go on the query's stream (§4.2), as on TCP.
//
// Bounds: QUIC's own stream limit caps the queries in progress on a connection (a stream counts
// until it is answered), the flow-control windows cap what a client can make the server buffer, the
// handshake and idle timeouts are QUIC's, a query must arrive on its stream within the handshake
// timeout, and connections are counted per client and in total from their first packet on. When
// half the connections are taken, new clients must prove their address first (a Retry), so that
// forged source addresses cannot hold slots.

// alpnDoQ is the ALPN name of DNS over QUIC (RFC 9250 §4.1).
const alpnDoQ = "doq"

// DoQ error codes (RFC 9250 §4.3).
const (
	doqNoError          quic.ApplicationErrorCode = 0x0
	doqProtocolError    quic.ApplicationErrorCode = 0x2
	doqRequestCancelled quic.StreamErrorCode      = 0x3
)

// QUIC flow-control windows: a stream carries one query (at most 64 KiB and its length), and a
// connection's window is shared by its streams.
const (
	doqStreamWindow = 64<<10 + 2
	doqConnWindow   = 512 << 10
)

type doqServer struct {
	udp     *net.UDPConn
	tr      *quic.Transport
	ln      *quic.Listener
	h       Handler
	log     *slog.Logger
	clients *clientLimiter
	// rec takes the record of each answer sent; nil records nothing.
	rec Recorder
	// queryTimeout bounds the wait for a query on a stream; writeTimeout the sending of its answer.
	queryTimeout, writeTimeout time.Duration

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop, connection and stream goroutines
}

func listenDoQ(ap netip.AddrPort, cfg ListenerConfig, certs *certStore, h Handler, log *slog.Logger) (*doqServer, error) {
	udp, err := net.ListenUDP(netFor("udp", ap), net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("doq: %w", err)
	}
	s := &doqServer{
		udp:          udp,
		h:            h,
		log:          log,
		clients:      newClientLimiter(cfg.TLSMaxConnsPerClient, cfg.TLSMaxConns),
		queryTimeout: cfg.TLSHandshakeTimeout,
		writeTimeout: cfg.TLSIdleTimeout,
		rec:          recorderFor(cfg.Observer, query.DoQ, false),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	total := cfg.TLSMaxConns
	s.tr = &quic.Transport{
		Conn:                udp,
		ConnContext:         s.admit,
		VerifySourceAddress: func(net.Addr) bool { return s.clients.load() >= total/2 },
	}
	qc := &quic.Config{
		HandshakeIdleTimeout:           cfg.TLSHandshakeTimeout,
		MaxIdleTimeout:                 cfg.TLSIdleTimeout,
		MaxIncomingStreams:             int64(cfg.TLSMaxStreams),
		MaxIncomingUniStreams:          -1, // DoQ uses none
		InitialStreamReceiveWindow:     doqStreamWindow,
		MaxStreamReceiveWindow:         doqStreamWindow,
		InitialConnectionReceiveWindow: doqConnWindow,
		MaxConnectionReceiveWindow:     doqConnWindow,
	}
	// QUIC is TLS 1.3 only; 0-RTT stays off (a replayed query could be answered twice).
	s.ln, err = s.tr.Listen(certs.tlsConfig(tls.VersionTLS13, alpnDoQ), qc)
	if err != nil {
		_ = udp.Close()
		return nil, fmt.Errorf("doq: %w", err)
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

func (s *doqServer) Addr() net.Addr { return s.udp.LocalAddr() }

// Close closes every connection and waits for the goroutines; answers in progress are dropped.
func (s *doqServer) Close() error {
	s.cancel()
	err := s.ln.Close()
	err = errors.Join(err, s.tr.Close(), s.udp.Close())
	s.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("doq close: %w", err)
	}
	return nil
}

// admit counts a new connection attempt against the caps, from its first packet; refused attempts
// get CONNECTION_REFUSED. The count drops when the connection ends, handshake failures included.
func (s *doqServer) admit(ctx context.Context, info *quic.ClientInfo) (context.Context, error) {
	var addr netip.Addr
	if ua, ok := info.RemoteAddr.(*net.UDPAddr); ok {
		addr = ua.AddrPort().Addr()
	}
	if !s.clients.acquire(addr) {
		s.log.Debug("doq connection limit reached, refusing", "client", addr)
		return nil, errors.New("connection limit reached")
	}
	context.AfterFunc(ctx, func() { s.clients.release(addr) })
	return ctx, nil
}

func (s *doqServer) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept(s.ctx)
		if err != nil {
			return // closed
		}
		s.wg.Add(1)
		go s.serveConn(conn)
	}
}

// serveConn takes the streams of one connection, each answered in its own goroutine; QUIC's stream
// limit bounds how many at once.
func (s *doqServer) serveConn(conn *quic.Conn) {
	defer s.wg.Done()
	var client netip.AddrPort
	if ua, ok := conn.RemoteAddr().(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	for {
		st, err := conn.AcceptStream(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil {
				_ = conn.CloseWithError(doqNoError, "")
			}
			return
		}
		s.wg.Add(1)
		go s.serveStream(conn, st, client)
	}
}

// serveStream reads one query from st and answers it on st.
func (s *doqServer) serveStream(conn *quic.Conn, st *quic.Stream, client netip.AddrPort) {
	defer s.wg.Done()
	_ = st.SetReadDeadline(time.Now().Add(s.queryTimeout))
	job := tcpJobs.Get().(*tcpJob)
	defer tcpJobs.Put(job)
	in, err := readDoQQuery(st, job.in)
	if errors.Is(err, errDoQProtocol) {
		_ = conn.CloseWithError(doqProtocolError, "query message ID must be 0")
		return
	}
	if err != nil {
		st.CancelRead(doqRequestCancelled)
		st.CancelWrite(doqRequestCancelled)
		return
	}
	job.in = in
	n := len(in)
	write := func(msg []byte) error {
		_ = st.SetWriteDeadline(time.Now().Add(s.writeTimeout))
		_, err := st.Write(msg)
		return err
	}
	job.req.Wire = job.in[:n:n]
	job.req.Client = client
	job.req.Transport = query.DoQ
	received := time.Now()
	job.req.Received = received
	// A zone transfer sends all its messages on this stream before the last one (RFC 9250 §4.2).
	job.req.Stream = func(msg []byte) error {
		if len(msg) > 65535 {
			return fmt.Errorf("doq message of %d bytes is over 65535", len(msg))
		}
		return write(append(binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg))), msg...))
	}
	job.req.Frames = write
	res := serveSafe(s.h, &job.req, job.buf[2:2:tcpBufLen], s.log)
	job.req.Wire, job.req.Stream, job.req.Frames = nil, nil, nil
	if len(res) == 0 || len(res) > 65535 {
		// No answer: tell the client so rather than leave it waiting (RFC 9250 §4.3).
		st.CancelWrite(doqRequestCancelled)
		return
	}
	// The answer goes out behind its length in one write, from the pooled buffer when it fits.
	var msg []byte
	if len(res) <= tcpBufLen-2 {
		copy(job.buf[2:], res)
		msg = job.buf[:2+len(res)]
	} else {
		msg = append(make([]byte, 2, 2+len(res)), res...)
	}
	binary.BigEndian.PutUint16(msg, uint16(len(res)))
	if err := write(msg); err != nil {
		st.CancelWrite(doqRequestCancelled)
		return
	}
	_ = st.Close() // FIN: the answer is complete
	if s.rec != nil {
		r := &job.rec[0]
		query.RecordOf(r, &job.req, res)
		// The request's own stamp may be gone: a resolution clears it.
		r.Query, r.Received, r.Sent = job.in[:n], received, time.Now()
		s.rec.Record(job.rec[:])
		*r = query.Record{}
	}
}
