package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"warden/internal/query"
)

// DNS over TCP (RFC 7766): every message carries a two-byte length. A connection may carry many
// queries, sent before the earlier ones are answered (pipelining, §6.2.1.1), and answers may go back
// in any order (§7), so each query runs in its own goroutine and a slow one does not hold up the
// rest. The number in flight per connection is bounded; when the bound is reached the connection is
// simply not read, which pushes back on the client through TCP flow control.

// tcpServer owns the accept loop and every connection goroutine. It serves DNS over TLS too
// (dot.go): the same framing inside a TLS session.
type tcpServer struct {
	ln           net.Listener
	h            Handler
	log          *slog.Logger
	idle         time.Duration
	maxConns     int
	maxPipelined int
	transport    query.Transport
	// rec takes the record of each answer written; nil records nothing.
	rec Recorder
	// tls, when not nil, makes every connection a TLS server handshaking within handshake.
	tls       *tls.Config
	handshake time.Duration
	// clients caps the connections of one client (DoT); nil means no cap beyond maxConns.
	clients *clientLimiter

	done chan struct{} // closed by Close

	mu     sync.Mutex
	conns  map[*tcpConn]struct{}
	closed bool

	wg sync.WaitGroup // the accept loop and the connection readers
}

func listenTCP(ap netip.AddrPort, cfg ListenerConfig, h Handler, log *slog.Logger) (*tcpServer, error) {
	ln, err := net.Listen(netFor("tcp", ap), net.TCPAddrFromAddrPort(ap).String())
	if err != nil {
		return nil, fmt.Errorf("tcp: %w", err)
	}
	s := &tcpServer{
		ln:           ln,
		h:            h,
		log:          log,
		idle:         cfg.TCPIdleTimeout,
		maxConns:     cfg.TCPMaxConns,
		maxPipelined: cfg.TCPMaxPipelined,
		transport:    query.TCP,
		rec:          recorderFor(cfg.Observer, query.TCP, false),
	}
	s.run()
	return s, nil
}

// run starts the accept loop of a configured server.
func (s *tcpServer) run() {
	s.done = make(chan struct{})
	s.conns = make(map[*tcpConn]struct{})
	s.wg.Add(1)
	go s.acceptLoop()
}

// Close stops accepting, closes every connection and waits for their goroutines, including
// queries still being answered.
func (s *tcpServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	err := s.ln.Close()
	for c := range s.conns {
		_ = c.conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("tcp close: %w", err)
	}
	return nil
}

func (s *tcpServer) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			// Typically out of file descriptors. Back off as net/http does, rather than spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("tcp accept", "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-s.done:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		delay = 0
		s.start(conn)
	}
}

// start registers conn and starts its reader, or closes it at once when the server is closed or at
// its connection limit (in total, or for the client).
func (s *tcpServer) start(conn net.Conn) {
	var client netip.AddrPort
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	s.mu.Lock()
	if s.closed || len(s.conns) >= s.maxConns || !s.clients.acquire(client.Addr()) {
		full := !s.closed
		s.mu.Unlock()
		_ = conn.Close()
		if full {
			s.log.Debug("connection limit reached, closing new connection", "transport", s.transport,
				"client", client, "limit", s.maxConns, "per_client", s.clients.limit())
		}
		return
	}
	if s.tls != nil {
		// The handshake itself happens in the connection's goroutine, within s.handshake.
		conn = tls.Server(conn, s.tls)
	}
	c := &tcpConn{s: s, conn: conn, client: client}
	c.stream, c.frames = c.send, c.sendFrames
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
}

func (s *tcpServer) forget(c *tcpConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.clients.release(c.client.Addr())
	s.mu.Unlock()
}

// tcpConn is one client connection: a reader goroutine, and one goroutine per query in flight.
type tcpConn struct {
	s      *tcpServer
	conn   net.Conn
	client netip.AddrPort

	wmu sync.Mutex // one reply written at a time, each whole
	// stream and frames are send and sendFrames as func values, made once per connection, for
	// Request.Stream and Request.Frames.
	stream func(msg []byte) error
	frames func(frames []byte) error
}

// sendFrames writes messages already framed (a batch of a zone transfer) in one write.
func (c *tcpConn) sendFrames(frames []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.s.idle)); err != nil {
		return err
	}
	_, err := c.conn.Write(frames)
	return err
}

// send writes one more message of a multi-message answer (a zone transfer), framed; an error means
// the client is gone or not reading, and the rest of the answer should not be made.
func (c *tcpConn) send(msg []byte) error {
	if len(msg) > 65535 {
		return fmt.Errorf("tcp message of %d bytes is over 65535", len(msg))
	}
	frame := make([]byte, 2, 2+len(msg))
	binary.BigEndian.PutUint16(frame, uint16(len(msg)))
	frame = append(frame, msg...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.s.idle)); err != nil {
		return err
	}
	_, err := c.conn.Write(frame)
	return err
}

// tcpJob carries one query through its goroutine; jobs are pooled. buf holds the reply behind two
// bytes reserved for its length, so that the reply goes out in one write.
type tcpJob struct {
	req query.Request
	in  []byte
	buf []byte
	// rec is the record of the answer, here so that recording it allocates nothing.
	rec [1]query.Record
}

// tcpBufLen is the pooled reply buffer: the length prefix and room for every usual answer. A
// larger one (up to 64 KiB) gets its own buffer, so a thousand connections each with a hundred
// queries stuck behind a client that does not read cost 400 MiB, not 6 GiB.
const tcpBufLen = 2 + 4094

var (
	tcpJobs    = sync.Pool{New: func() any { return &tcpJob{buf: make([]byte, tcpBufLen)} }}
	tcpReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
)

func (c *tcpConn) serve() {
	defer c.s.wg.Done()
	defer c.s.forget(c)

	if !c.handshake() {
		_ = c.conn.Close()
		return
	}
	br := tcpReaders.Get().(*bufio.Reader)
	br.Reset(c.conn)
	slots := make(chan struct{}, c.s.maxPipelined)
	var inflight sync.WaitGroup

	for {
		job, ok := c.read(br)
		if !ok {
			break
		}
		if !c.acquire(slots) {
			tcpJobs.Put(job)
			break
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			c.answer(job)
			<-slots
		}()
	}
	br.Reset(nil)
	tcpReaders.Put(br)
	// Answers already being computed are still sent; then the connection goes.
	inflight.Wait()
	_ = c.conn.Close()
}

// handshake completes the TLS handshake of a DoT connection within the server's handshake timeout,
// so that a client that connects and then says nothing (or trickles its hello) holds its slot for
// that long at most. Plain TCP has nothing to do.
func (c *tcpConn) handshake() bool {
	tc, ok := c.conn.(*tls.Conn)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.s.handshake)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.s.log.Debug("tls handshake", "client", c.client, "err", err)
		return false
	}
	return true
}

// acquire waits for a free pipeline slot; false means the server is closing.
func (c *tcpConn) acquire(slots chan struct{}) bool {
	select {
	case slots <- struct{}{}:
		return true
	case <-c.s.done:
		return false
	}
}

// read returns the next query, or false when the connection should close: idle timeout, read error,
// end of stream, or a message of length 0.
func (c *tcpConn) read(br *bufio.Reader) (*tcpJob, bool) {
	// One deadline for the length and the message: a client that starts a message and then trickles
	// it is idle too (RFC 7766 §6.2.3 cares about resources held, not bytes seen).
	if err := c.conn.SetReadDeadline(time.Now().Add(c.s.idle)); err != nil {
		return nil, false
	}
	// The length is waited for before a job is taken from the pool: an idle connection holds none.
	if _, err := br.Peek(2); err != nil {
		if errors.Is(err, io.EOF) && br.Buffered() > 0 {
			err = io.ErrUnexpectedEOF
		}
		c.logEnd(err)
		return nil, false
	}
	job := tcpJobs.Get().(*tcpJob)
	in, err := readMessage(br, job.in)
	if err != nil {
		tcpJobs.Put(job)
		if !errors.Is(err, errEmptyMessage) {
			c.logEnd(err)
		}
		return nil, false
	}
	job.in = in
	return job, true
}

func (c *tcpConn) logEnd(err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return
	}
	c.s.log.Debug("tcp connection closed", "client", c.client, "err", err)
}

// record hands the record of res, the answer to job's query read at received and just written,
// to the Recorder. The request's own stamp may be gone: a resolution clears it.
func (s *tcpServer) record(job *tcpJob, res []byte, received time.Time) {
	if s.rec == nil {
		return
	}
	r := &job.rec[0]
	query.RecordOf(r, &job.req, res)
	// answer let go of the request's Wire before writing; the bytes are still in job.in.
	r.Query = job.in
	r.Received, r.Sent = received, time.Now()
	s.rec.Record(job.rec[:])
	*r = query.Record{}
}

// answer runs the handler for one query and writes the reply.
func (c *tcpConn) answer(job *tcpJob) {
	defer tcpJobs.Put(job)
	job.req.Wire = job.in[:len(job.in):len(job.in)]
	job.req.Client = c.client
	job.req.Transport = c.s.transport
	received := time.Now()
	job.req.Received = received
	job.req.Stream, job.req.Frames = c.stream, c.frames
	res := serveSafe(c.s.h, &job.req, job.buf[2:2:tcpBufLen], c.s.log)
	job.req.Wire, job.req.Stream, job.req.Frames = nil, nil, nil
	if len(res) == 0 || len(res) > 65535 {
		return
	}
	var msg []byte
	switch {
	case unsafe.SliceData(res) == &job.buf[2]:
		// The handler wrote where it was told, behind room for the length.
		msg = job.buf[:2+len(res)]
	case len(res) <= tcpBufLen-2:
		// A reply from elsewhere is copied behind the length (copy handles overlap, should it be
		// a different part of buf).
		copy(job.buf[2:], res)
		msg = job.buf[:2+len(res)]
	default:
		// Larger than the pooled buffer: the handler allocated it; so does its framing.
		msg = append(make([]byte, 2, 2+len(res)), res...)
	}
	binary.BigEndian.PutUint16(msg, uint16(len(res)))

	c.wmu.Lock()
	defer c.wmu.Unlock()
	// A client that does not read its answers must not hold the goroutine forever.
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.s.idle)); err == nil {
		_, err = c.conn.Write(msg)
		if err == nil {
			c.s.record(job, res, received)
			return
		}
		c.s.log.Debug("tcp write", "client", c.client, "err", err)
	}
	// Closing also ends the reader, so no more queries are taken from a connection that cannot
	// receive answers.
	_ = c.conn.Close()
}
