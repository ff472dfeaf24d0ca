// Package dnstap sends a dnstap record of the server's traffic to a collector: every answer the
// listeners send (AUTH_ or CLIENT_ messages, by the query's RD bit, as BIND chooses) and every
// exchange the resolver and the forwarders have upstream (RESOLVER_ and FORWARDER_ messages), in
// bidirectional Frame Streams over a unix or TCP socket.
//
// It stands after the answer on the query path: a listener's Recorder encodes each record as
// its finished Frame Streams frames straight into a ring of its own, preallocated, and returns;
// one goroutine, the Writer's, hands the rings' bytes to the collector's socket as they are. When the collector is slow or away, the rings fill and
// records are dropped and counted: a query never waits for dnstap, and a hit allocates nothing
// for it.
package dnstap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config is what a Writer needs.
type Config struct {
	// Network is "unix" or "tcp"; Addr is the socket's path or IP:port.
	Network, Addr string
	// Types are the message types sent; empty sends all eight.
	Types []MessageType
	// Identity and Version fill the Dnstap fields of the same names; nil leaves them out.
	Identity, Version []byte
	// QueueBytes is the size of each ring (per UDP worker, per shared transport, per upstream
	// role); 0 means DefaultQueueBytes.
	QueueBytes int
	Log        *slog.Logger
}

// DefaultQueueBytes holds about four thousand typical exchanges.
const DefaultQueueBytes = 1 << 20

// Times that bound the Writer's waits on a collector; a var so that tests may shorten them.
var (
	dialTimeout  = 2 * time.Second
	writeTimeout = 2 * time.Second
	// idleFlush is how long an idle Writer sleeps when nothing wakes it.
	idleFlush   = time.Second
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 5 * time.Second
	finishAfter = 2 * time.Second
)

// Writer owns the connection to the collector and the goroutine that feeds it. Its Recorder and
// Tap methods hand out producers; Close writes out what is queued and ends the stream.
type Writer struct {
	cfg  Config
	want [2][numRoles]bool // [response][role]
	// frames encodes the producers' entries; it is read-only once Open returns.
	frames framer
	log    *slog.Logger

	mu    sync.Mutex
	rings atomic.Pointer[[]*ring]
	// taps are the upstream roles' producers, one each for the Writer's life.
	taps    [numRoles]*tap
	tapOnce [numRoles]sync.Once

	wake chan struct{}
	idle atomic.Bool
	// holding says the Writer sleeps on a small batch until holdBatch has passed; producers
	// then wake it only for a ring past holdWake, not for every record. At a low rate a wake-up
	// per answer cost more than the answer's frames.
	holding  atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	sent, lost, reconnects atomic.Uint64
	connected              atomic.Bool
}

// Open starts a Writer. It never fails for want of a collector: it connects in the background,
// and again whenever the connection is lost.
func Open(c Config) *Writer {
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	w := &Writer{cfg: c, log: c.Log.With("dnstap", c.Network+":"+c.Addr),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	types := c.Types
	if len(types) == 0 {
		types = []MessageType{AuthQuery, AuthResponse, ResolverQuery, ResolverResponse, ClientQuery, ClientResponse, ForwarderQuery, ForwarderResponse}
	}
	for _, t := range types {
		for r := range numRoles {
			if queryType[r] == t {
				w.want[0][r] = true
			}
			if responseType[r] == t {
				w.want[1][r] = true
			}
		}
	}
	w.frames = newFramer(c.Identity, c.Version, w.want)
	empty := []*ring{}
	w.rings.Store(&empty)
	go w.run()
	return w
}

// wants reports whether either half of role's exchanges is sent.
func (w *Writer) wants(r role) bool { return w.want[0][r] || w.want[1][r] }

// newRing makes a ring and registers it with the Writer's goroutine.
func (w *Writer) newRing() *ring {
	r := newRing(w.cfg.QueueBytes)
	w.mu.Lock()
	defer w.mu.Unlock()
	next := append(append([]*ring(nil), *w.rings.Load()...), r)
	w.rings.Store(&next)
	return r
}

// pokeFor wakes the Writer's goroutine after a record went into r: always when it sleeps idle,
// only for a ring filling up when it holds a batch.
func (w *Writer) pokeFor(r *ring) {
	if w.holding.Load() && r.pending() < uint64(w.cfg.QueueBytes)/holdWake {
		return
	}
	w.poke()
}

// holdWake: a ring more than 1/holdWake full wakes a Writer holding a batch.
const holdWake = 4

// poke wakes the Writer's goroutine if it sleeps; at most one wake-up is pending.
func (w *Writer) poke() {
	if w.idle.Load() && w.idle.CompareAndSwap(true, false) {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Stats are the Writer's counters, for metrics.
type Stats struct {
	// Queued counts the exchanges put in the rings; Sent the dnstap messages written to a
	// collector; Dropped the exchanges lost: rings full, or written into a connection that failed.
	Queued, Sent, Dropped uint64
	// QueuedBytes is what waits in the rings now.
	QueuedBytes uint64
	// Reconnects counts the connections lost; Connected says whether one is up now.
	Reconnects uint64
	Connected  bool
}

// Stats reads the counters; any goroutine may call it.
func (w *Writer) Stats() Stats {
	s := Stats{Sent: w.sent.Load(), Dropped: w.lost.Load(), Reconnects: w.reconnects.Load(), Connected: w.connected.Load()}
	for _, r := range *w.rings.Load() {
		s.Queued += r.queued.Load()
		s.Dropped += r.dropped.Load()
		s.QueuedBytes += r.pending()
	}
	return s
}

// Close writes out everything queued (when a collector is there to take it), ends the stream
// with STOP and waits for the collector's FINISH, each step bounded in time. Producers must have
// stopped: what they add afterwards is not sent.
func (w *Writer) Close() error {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
	return nil
}

func (w *Writer) stopping() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

func (w *Writer) run() {
	defer close(w.done)
	var s *session
	backoff := minBackoff
	down := false // the loss of the collector was logged
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	// since is when the Writer first found frames waiting after its last write.
	var since time.Time
	for {
		if s == nil {
			var err error
			if s, err = w.connect(); err != nil {
				if !down {
					w.log.Warn("dnstap collector unreachable; retrying, records are dropped while queues are full", "err", err)
					down = true
				}
				if w.stopping() {
					w.discard()
					return
				}
				timer.Reset(backoff)
				select {
				case <-timer.C:
				case <-w.stop:
					timer.Stop()
				}
				backoff = min(backoff*2, maxBackoff)
				continue
			}
			if down {
				w.log.Info("dnstap collector reached again")
				down = false
			}
			backoff = minBackoff
			w.connected.Store(true)
		}
		waiting := w.waiting()
		if waiting == 0 {
			since = time.Time{}
			if w.stopping() {
				if err := s.finish(); err != nil {
					w.log.Warn("dnstap stream not finished cleanly", "err", err)
				}
				w.connected.Store(false)
				return
			}
			w.sleep(timer, idleFlush)
			continue
		}
		// Frames under batchBytes wait up to holdBatch for more: at a high rate the rings
		// fill a little between two looks, and a write (and a wake-up of the collector) for
		// each cost the server more CPU than the frames themselves.
		if waiting < batchBytes && !w.stopping() {
			if since.IsZero() {
				since = time.Now()
			}
			if hold := holdBatch - time.Since(since); hold > 0 {
				w.holding.Store(true)
				w.sleep(timer, hold)
				w.holding.Store(false)
				continue
			}
		}
		since = time.Time{}
		if err := w.writeOut(s); err != nil {
			w.log.Warn("dnstap collector lost; reconnecting", "err", err)
			down = true
			s.close()
			s = nil
			w.connected.Store(false)
			w.reconnects.Add(1)
		}
	}
}

// waiting is the number of bytes in the rings.
func (w *Writer) waiting() uint64 {
	var n uint64
	for _, r := range *w.rings.Load() {
		n += r.pending()
	}
	return n
}

// sleep waits for a poke, Close or d, whichever comes first; it does not sleep when an entry
// arrived while it was going to (while holding a batch: when a ring filled past holdWake).
func (w *Writer) sleep(timer *time.Timer, d time.Duration) {
	var enough uint64
	if w.holding.Load() {
		enough = uint64(w.cfg.QueueBytes) / holdWake
	}
	w.idle.Store(true)
	for _, r := range *w.rings.Load() {
		if r.pending() > enough {
			w.idle.Store(false)
			return
		}
	}
	timer.Reset(d)
	select {
	case <-w.wake:
	case <-w.stop:
	case <-timer.C:
	}
	timer.Stop()
	w.idle.Store(false)
}

// discard empties the rings when there is no collector to take their entries, counting them.
func (w *Writer) discard() {
	for _, r := range *w.rings.Load() {
		for {
			_, next := r.peek()
			if next == 0 {
				break
			}
			r.release(next)
			w.lost.Add(1)
		}
	}
}

// Bounds of one write: maxVecs entries (the kernel's IOV_MAX; each entry is one piece of the
// writev) and about maxWrite bytes, so that the rings are given back in steps while a slow
// collector takes a large backlog.
const (
	maxVecs  = 1024
	maxWrite = 256 << 10
)

// socketBuffer is the send buffer asked for the connection to the collector: 160 ms of frames at
// 100,000 answers a second. Linux grants at most net.core.wmem_max (208 KiB unless raised) and
// counts it twice.
const socketBuffer = 4 << 20

// writeOut hands the frames waiting in the rings to the kernel in one writev, the rings' bytes
// as they are, and then gives their room back. After a write that reached its bounds it starts
// at the next ring, so that a busy worker's ring does not starve the others; otherwise at the
// first, which keeps the rings' order in the stream.
func (w *Writer) writeOut(s *session) error {
	rings := *w.rings.Load()
	s.vecs, s.taken = s.vecs[:0], s.taken[:0]
	var bytes int
	var msgs, entries uint64
	if s.full {
		s.first++
	}
	for i := range rings {
		r := rings[(s.first+i)%len(rings)]
		tail := r.tail.Load()
		pos := tail
		for len(s.vecs) < maxVecs && bytes < maxWrite {
			b, next := r.next(pos)
			if b == nil {
				break
			}
			pos = next
			s.vecs = append(s.vecs, b)
			bytes += len(b)
			msgs += uint64(framesIn(b))
			entries++
		}
		if pos != tail {
			s.taken = append(s.taken, taken{r, pos})
		}
	}
	s.full = len(s.vecs) == maxVecs || bytes >= maxWrite
	if len(s.vecs) == 0 {
		return nil
	}
	err := s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err == nil {
		s.out = s.vecs
		_, err = s.out.WriteTo(s.conn)
	}
	if err != nil {
		w.lost.Add(entries)
	} else {
		w.sent.Add(msgs)
	}
	for _, t := range s.taken {
		t.ring.release(t.tail)
	}
	clear(s.vecs) // the ring's bytes are not held past the write
	return err
}

// framesIn counts the data frames of one entry: one or two, each a length and its bytes.
func framesIn(b []byte) int {
	n := 0
	for len(b) >= 4 {
		l := int(binary.BigEndian.Uint32(b)) + 4
		if l > len(b) {
			break
		}
		b = b[l:]
		n++
	}
	return n
}

// session is one connection to a collector after the handshake, with the Writer's scratch
// for its writes; a message is counted sent only once the kernel took it.
type session struct {
	conn net.Conn
	// vecs are the entries of one write; out is the copy of it that writev consumes (a field,
	// so that handing it to the connection allocates nothing).
	vecs, out net.Buffers
	// taken says how far each ring is read by the write under way.
	taken []taken
	// first picks the ring a write starts from; full says the last write reached its bounds.
	first int
	full  bool
}

type taken struct {
	ring *ring
	tail uint64
}

// batchBytes is the amount of frames written at once without waiting; holdBatch is how long
// less may wait for more.
const batchBytes = 64 << 10

var holdBatch = 20 * time.Millisecond

// connect dials the collector and runs the bidirectional handshake: READY with the content
// type, the collector's ACCEPT naming it, then START.
func (w *Writer) connect() (*session, error) {
	conn, err := net.DialTimeout(w.cfg.Network, w.cfg.Addr, dialTimeout)
	if err != nil {
		return nil, err
	}
	if err := handshake(conn); err != nil {
		conn.Close()
		return nil, err
	}
	// A socket buffer that holds several writes lets a collector that is late by a few
	// milliseconds (one sharing its CPU) catch up without the Writer parking midway through a
	// write and the rings filling meanwhile; the kernel caps it at net.core.wmem_max and
	// takes the memory only for what waits. Not fatal: the default buffer works, if tighter.
	if b, ok := conn.(interface{ SetWriteBuffer(int) error }); ok {
		_ = b.SetWriteBuffer(socketBuffer)
	}
	return &session{conn: conn, vecs: make(net.Buffers, 0, maxVecs), taken: make([]taken, 0, 8)}, nil
}

func handshake(conn net.Conn) error {
	if err := conn.SetDeadline(time.Now().Add(dialTimeout)); err != nil {
		return err
	}
	if _, err := conn.Write(appendControl(nil, controlReady, ContentType)); err != nil {
		return fmt.Errorf("frame streams: sending READY: %w", err)
	}
	c, err := readControl(conn)
	if err != nil {
		return err
	}
	if c.typ != controlAccept {
		return fmt.Errorf("frame streams: the collector answered READY with %s, not ACCEPT", controlName(c.typ))
	}
	if !c.accepts(ContentType) {
		return fmt.Errorf("frame streams: the collector does not accept %s", ContentType)
	}
	if _, err := conn.Write(appendControl(nil, controlStart, ContentType)); err != nil {
		return fmt.Errorf("frame streams: sending START: %w", err)
	}
	return conn.SetDeadline(time.Time{})
}

// finish ends the stream: STOP, then the collector's FINISH, then the connection is closed.
func (s *session) finish() error {
	defer s.close()
	if err := s.conn.SetDeadline(time.Now().Add(finishAfter)); err != nil {
		return err
	}
	if _, err := s.conn.Write(appendControl(nil, controlStop, "")); err != nil {
		return err
	}
	c, err := readControl(s.conn)
	if err != nil {
		return err
	}
	if c.typ != controlFinish {
		return errors.New("frame streams: the collector answered STOP with " + controlName(c.typ) + ", not FINISH")
	}
	return nil
}

func (s *session) close() { _ = s.conn.Close() }
