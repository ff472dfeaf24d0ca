package metrics

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"warden/internal/query"
	"warden/internal/server"
)

// Queries counts answered queries for warden_queries_total, warden_query_duration_seconds and the
// cache's hits and misses. It is the listeners' server.Observer: each UDP worker gets a shard of
// counters of its own, which it alone writes, so the hot path takes no lock and makes no atomic
// read-modify-write; the other listeners, a goroutine per connection or query, share a set of
// shards per transport (stripes), each answer counted with atomic adds in one picked at random,
// so that two cores rarely write the same cache line. A scrape sums the shards.
type Queries struct {
	mu     sync.Mutex
	shards []*shard
	// shared are the stripes of the transports' many writers, made on first use.
	shared [query.DoQ + 1]*stripes
}

// stripes is the shared Recorder of one transport. Its writers have no identity to pick a shard
// by, so each batch goes to one drawn from the runtime's per-thread random source, which costs no
// shared write either.
type stripes [numStripes]shard

// numStripes is the shards of a shared Recorder: with two cores writing, one answer in eight
// lands on the shard the other core last wrote.
const numStripes = 8

func (s *stripes) Record(recs []query.Record) { s[rand.Uint32()%numStripes].Record(recs) }

var _ server.Observer = (*Queries)(nil)

// NewQueries returns counters at 0.
func NewQueries() *Queries { return &Queries{} }

// Recorder returns a shard of counters for answers over t: a new one for an exclusive writer,
// else the transport's shared one.
func (q *Queries) Recorder(t query.Transport, exclusive bool) server.Recorder {
	q.mu.Lock()
	defer q.mu.Unlock()
	if exclusive {
		s := &shard{transport: t, exclusive: true}
		q.shards = append(q.shards, s)
		return s
	}
	if int(t) >= len(q.shared) {
		t = query.UDP // unreachable: every transport has its place
	}
	if q.shared[t] == nil {
		st := new(stripes)
		for i := range st {
			st[i].transport = t
			q.shards = append(q.shards, &st[i])
		}
		q.shared[t] = st
	}
	return q.shared[t]
}

// snapshot returns the shards to sum; shards are never removed (a closed listener's counts stay
// in the totals, as a counter must never go down).
func (q *Queries) snapshot() []*shard {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]*shard(nil), q.shards...)
}

// shard is one writer's counters. Every field is read by scrapes while the writer adds to it,
// hence atomic types; an exclusive shard adds with a load and a store, which on the common
// processors are plain moves, and a shared one with an atomic add.
type shard struct {
	transport query.Transport
	exclusive bool

	queries   [numRcodes][numQTypes][numSources]atomic.Uint64
	durations [numDurationBuckets]atomic.Uint64
	// durationSum is in nanoseconds; 2^64 ns is 584 years of summed latency.
	durationSum        atomic.Uint64
	cacheHit, cacheMis atomic.Uint64
	// The next shard of a stripes array starts on a cache line of its own.
	_ [64]byte
}

var _ server.Recorder = (*shard)(nil)

func (s *shard) add(c *atomic.Uint64, n uint64) {
	if s.exclusive {
		c.Store(c.Load() + n)
		return
	}
	c.Add(n)
}

// Record counts the answers of recs.
func (s *shard) Record(recs []query.Record) {
	// The answers of one UDP batch share both times: their bucket is found once.
	var lastReceived, lastSent time.Time
	var ns int64
	bucket := -1
	for i := range recs {
		r := &recs[i]
		s.add(&s.queries[rcodeIndex(r.Rcode)][qtypeIndex(r.QType)][sourceIndex(r.Outcome.Source)], 1)
		switch r.Outcome.Cache {
		case query.CacheHit:
			s.add(&s.cacheHit, 1)
		case query.CacheMiss:
			s.add(&s.cacheMis, 1)
		}
		if r.Received.IsZero() || r.Sent.IsZero() {
			continue // a listener that did not time it
		}
		if bucket < 0 || r.Received != lastReceived || r.Sent != lastSent {
			lastReceived, lastSent = r.Received, r.Sent
			ns = max(int64(r.Sent.Sub(r.Received)), 0)
			bucket = durationIndex(ns)
		}
		s.add(&s.durations[bucket], 1)
		s.add(&s.durationSum, uint64(ns))
	}
}

// totals is the sum of the shards at one scrape.
type totals struct {
	queries                [query.DoQ + 1][numRcodes][numQTypes][numSources]uint64
	transports             [query.DoQ + 1]bool // a listener of the transport exists
	durations              [numDurationBuckets]uint64
	durationSum            uint64
	cacheHits, cacheMisses uint64
}

func (q *Queries) totals() *totals {
	t := &totals{}
	for _, s := range q.snapshot() {
		tr := min(int(s.transport), len(t.queries)-1)
		t.transports[tr] = true
		for rc := range s.queries {
			for qt := range s.queries[rc] {
				for src := range s.queries[rc][qt] {
					t.queries[tr][rc][qt][src] += s.queries[rc][qt][src].Load()
				}
			}
		}
		for i := range s.durations {
			t.durations[i] += s.durations[i].Load()
		}
		t.durationSum += s.durationSum.Load()
		t.cacheHits += s.cacheHit.Load()
		t.cacheMisses += s.cacheMis.Load()
	}
	return t
}
