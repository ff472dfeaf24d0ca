// Package dnstap sends a dnstap record of the server's traffic to a collector: every answer the
// listeners send (AUTH_ or CLIENT_ messages, by the query's RD bit, as BIND chooses) and every
// exchange the resolver and the forwarders have upstream (RESOLVER_ and FORWARDER_ messages), in
// bidirectional Frame Streams over a unix or TCP socket.
//
// It stands after the answer on the query path: a listener's Recorder copies each record's bytes
// into a ring of its own, preallocated, and returns; one goroutine, the Writer's, encodes the
// protobuf messages and writes them out. When the collector is slow or away, the rings fill and
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
	log  *slog.Logger

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
		n, err := w.drain(s)
		// A small batch waits up to holdBatch for more: at a high rate the rings empty every
		// few hundred microseconds, and a write (and a wake-up of the collector) for each cost
		// the server more CPU than encoding the frames.
		hold := time.Duration(0)
		if err == nil && n == 0 {
			if len(s.batch) > 0 && !w.stopping() {
				hold = holdBatch - time.Since(s.since)
			}
			if hold <= 0 {
				err = w.flush(s)
			}
		}
		if err != nil {
			w.log.Warn("dnstap collector lost; reconnecting", "err", err)
			down = true
			s.close()
			s = nil
			w.connected.Store(false)
			w.reconnects.Add(1)
			continue
		}
		if n > 0 {
			continue
		}
		if hold > 0 {
			w.holding.Store(true)
			w.sleep(timer, hold)
			w.holding.Store(false)
			continue
		}
		if w.stopping() {
			if err := s.finish(); err != nil {
				w.log.Warn("dnstap stream not finished cleanly", "err", err)
			}
			w.connected.Store(false)
			return
		}
		w.sleep(timer, idleFlush)
	}
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

// maxDrain bounds the entries taken from one ring per pass, so that one busy worker does not
// starve the others' rings.
const maxDrain = 256

// drain writes what the rings hold into s and returns how many entries it took.
func (w *Writer) drain(s *session) (int, error) {
	taken := 0
	var e entry
	for _, r := range *w.rings.Load() {
		for range maxDrain {
			b, next := r.peek()
			if b == nil {
				break
			}
			if !parseEntry(b, &e) {
				r.release(next)
				w.lost.Add(1)
				continue
			}
			w.write(s, &e)
			r.release(next)
			taken++
			if len(s.batch) >= batchBytes {
				if err := w.flush(s); err != nil {
					return taken, err
				}
			}
		}
	}
	return taken, nil
}

// write adds the wanted halves of e to the batch.
func (w *Writer) write(s *session, e *entry) {
	if w.want[0][e.role] {
		s.frame(e, false)
	}
	if w.want[1][e.role] && e.hasResponse {
		s.frame(e, true)
	}
	s.entries++
}

// session is one connection to a collector after the handshake. Frames gather in batch and go
// out in one write when it passes batchBytes or when the rings are empty, so that a message is
// counted sent only once the kernel took it.
type session struct {
	conn  net.Conn
	enc   encoder
	batch []byte
	// msgs and entries are the messages and exchanges in batch; since is when its first frame
	// was added.
	msgs, entries uint64
	since         time.Time
}

// batchBytes is the size at which a batch is written without waiting for the rings to empty;
// holdBatch is how long a smaller one may wait for more frames.
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
	return &session{conn: conn, batch: make([]byte, 0, 2*batchBytes),
		enc: encoder{identity: w.cfg.Identity, version: w.cfg.Version}}, nil
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

// frame adds one half of e to the batch as a data frame.
func (s *session) frame(e *entry, response bool) {
	start := len(s.batch)
	if start == 0 {
		s.since = time.Now()
	}
	s.batch = s.enc.appendPayload(append(s.batch, 0, 0, 0, 0), e, response)
	binary.BigEndian.PutUint32(s.batch[start:], uint32(len(s.batch)-start-4))
	s.msgs++
}

// flush writes the batch out, counting its messages sent, or its exchanges lost on an error.
func (w *Writer) flush(s *session) error {
	if len(s.batch) == 0 {
		return nil
	}
	err := s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err == nil {
		_, err = s.conn.Write(s.batch)
	}
	if err != nil {
		w.lost.Add(s.entries)
	} else {
		w.sent.Add(s.msgs)
	}
	s.batch, s.msgs, s.entries = s.batch[:0], 0, 0
	return err
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
