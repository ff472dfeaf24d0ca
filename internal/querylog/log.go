// Package querylog is Warden's query log (`--query-log DIR`, the configuration's query_log):
// every answered query, as the listeners record it, written to time-ordered Parquet files that
// DuckDB, ClickHouse and pandas read as they are, and searched by `warden log` and
// /api/querylog.
//
// The log is a server.Observer beside the metrics. Each UDP worker copies the records of its
// answers into a ring of its own, the other listeners into one ring per transport; a copy takes
// a slot and fills it, without a lock or an allocation, and when the ring is full the record is
// dropped and counted: a query never waits for the log. A collector goroutine empties the rings
// several times a second into batches, and a writer goroutine writes a batch a second as one
// file, merges small files, and removes the oldest beyond the size limit.
package querylog

import (
	"cmp"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"warden/internal/query"
	"warden/internal/server"
)

// Config is the log's part of the configuration.
type Config struct {
	Dir string
	// MaxBytes bounds the files' total size; the oldest go first. 0 means no bound.
	MaxBytes int64
	// Sample keeps one answer in Sample; 0 and 1 keep every one.
	Sample int
}

// Timing and sizes of the log's goroutines.
const (
	// ringSize is the slots of each ring: at collectEvery, a quarter-second of a worker's full
	// rate fits with room to spare.
	ringSize     = 16 << 10
	collectEvery = 20 * time.Millisecond
	// writeEvery is how often a batch becomes a file: rows are searchable within about this
	// long (and collectEvery) of their answer.
	writeEvery = time.Second
	// maxBatch ends a batch early at very high rates, bounding the writer's memory.
	maxBatch = 256 << 10
	// pendingBatches is how many batches may wait for the writer; beyond, the collector drops.
	pendingBatches = 2
	mergeEvery     = 10 * time.Second
)

// Log is a running query log.
type Log struct {
	cfg   Config
	log   *slog.Logger
	store *store

	mu     sync.Mutex
	rings  []*ring
	shared [query.DoQ + 1]*ring

	// dropped counts rows lost after the rings: batches the writer could not take, and files
	// that could not be written.
	dropped atomic.Uint64
	written atomic.Uint64

	// top counts the dashboard's top lists from the rows the writer sees (topk.go).
	top topCounter

	batches chan *columns
	// spare returns written batches to the collector, which fills them again: a second's batch
	// is megabytes, and growing a fresh one every second cost the server more CPU (the copying,
	// the zeroing, the collector's scans) than turning its entries into rows.
	spare chan *columns
	stop  chan struct{}
	done  sync.WaitGroup
	once  sync.Once
}

var _ server.Observer = (*Log)(nil)

// Open takes over cfg.Dir (rows written before stay) and starts the log's goroutines; Close
// stops them.
func Open(cfg Config, log *slog.Logger) (*Log, error) {
	st, err := openStore(cfg.Dir, cfg.MaxBytes)
	if err != nil {
		return nil, err
	}
	l := &Log{cfg: cfg, log: log, store: st, batches: make(chan *columns, pendingBatches),
		spare: make(chan *columns, pendingBatches+1), stop: make(chan struct{})}
	l.done.Add(2)
	go l.collect()
	go l.write()
	return l, nil
}

// Recorder returns a ring of its own for an exclusive writer, else the transport's shared one.
func (l *Log) Recorder(t query.Transport, exclusive bool) server.Recorder {
	l.mu.Lock()
	defer l.mu.Unlock()
	if exclusive {
		r := newRing(ringSize, true, l.cfg.Sample)
		l.rings = append(l.rings, r)
		return r
	}
	if int(t) >= len(l.shared) {
		t = query.UDP
	}
	if l.shared[t] == nil {
		l.shared[t] = newRing(ringSize, false, l.cfg.Sample)
		l.rings = append(l.rings, l.shared[t])
	}
	return l.shared[t]
}

// Dropped is the number of answers the log lost: rings full, the writer behind, files that
// could not be written (warden_query_log_dropped_total).
func (l *Log) Dropped() uint64 {
	n := l.dropped.Load()
	for _, r := range l.ringList() {
		n += r.dropped.Load()
	}
	return n
}

// Written is the number of rows written to files (warden_query_log_rows_total).
func (l *Log) Written() uint64 { return l.written.Load() }

func (l *Log) ringList() []*ring {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.rings)
}

// Close writes out what the rings hold and stops the log. The listeners must be closed first:
// a record made after Close stays in its ring.
func (l *Log) Close() {
	l.once.Do(func() {
		close(l.stop)
		l.done.Wait()
	})
}

// collect empties the rings every collectEvery and hands a batch to the writer every
// writeEvery.
func (l *Log) collect() {
	defer l.done.Done()
	defer close(l.batches)
	tick := time.NewTicker(collectEvery)
	defer tick.Stop()
	batch := l.spareBatch(nil)
	started := time.Now()
	for {
		var stopping bool
		select {
		case <-tick.C:
		case <-l.stop:
			stopping = true
		}
		now := time.Now()
		for _, r := range l.ringList() {
			r.drain(func(e *entry) { batch.add(e, now) })
			runtime.Gosched() // for a UDP worker that shares the CPU, as the writer does
		}
		if stopping {
			if batch.len() > 0 {
				l.batches <- batch
			}
			return
		}
		if batch.len() == 0 {
			started = now
			continue
		}
		if now.Sub(started) < writeEvery && batch.len() < maxBatch {
			continue
		}
		select {
		case l.batches <- batch:
			batch = l.spareBatch(batch)
		default:
			l.dropped.Add(uint64(batch.len()))
			batch.reset()
		}
		started = now
	}
}

// spareBatch is an empty batch, one the writer gave back if there is one. The clients' table
// goes from batch to batch, so that a client's text is made once while it stays in its slot.
func (l *Log) spareBatch(prev *columns) *columns {
	var b *columns
	select {
	case b = <-l.spare:
	default:
		b = new(columns)
	}
	if prev != nil {
		b.clients, prev.clients = prev.clients, clientTable{}
	}
	b.reset()
	return b
}

// write turns each batch into a file and, between batches, merges small files.
func (l *Log) write() {
	defer l.done.Done()
	var lastMerge time.Time
	failing := false
	var order []int32
	for batch := range l.batches {
		// One UDP worker's rows come in order already; only rings taken one after another
		// need the sort, of indexes: the columns stay where they are.
		order = order[:0]
		if !slices.IsSorted(batch.timeUS) {
			for i := range batch.len() {
				order = append(order, int32(i))
			}
			slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(batch.timeUS[a], batch.timeUS[b]) })
		}
		rows := order
		if len(order) == 0 {
			rows = l.store.identity(batch.len())
		}
		l.top.add(batch, rows)
		err := l.store.write(batch, rows)
		n := batch.len()
		select {
		case l.spare <- batch:
		default:
		}
		if err != nil {
			l.dropped.Add(uint64(n))
			// Logged when it starts failing, not for every second it goes on failing.
			if !failing {
				l.log.Error("query log: rows dropped", "err", err)
			}
			failing = true
			continue
		}
		if failing {
			l.log.Info("query log: writing again", "dir", l.cfg.Dir)
		}
		failing = false
		l.written.Add(uint64(n))
		if time.Since(lastMerge) >= mergeEvery {
			lastMerge = time.Now()
			if _, err := l.store.merge(); err != nil {
				l.log.Warn("query log: small files not merged", "err", err)
			}
		}
	}
}
