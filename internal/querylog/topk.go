package querylog

import (
	"cmp"
	"runtime"
	"slices"
	"sync"
	"time"

	"warden/internal/query"
)

// The dashboard's top lists (names, clients, blocked names) are counted here, in the writer
// goroutine, from the rows it writes anyway: the query path pays nothing for them. Memory is
// fixed whatever the traffic: topBuckets buckets of topBucketSpan, each keeping at most
// topCapacity keys per list.
const (
	topBucketSpan = 5 * time.Minute
	topBuckets    = 12 // topBuckets × topBucketSpan is the window: the last hour
	// topKeep is the keys a list keeps at least (counts, at most twice as many).
	topKeep = 1024
	// topRowsPerBatch bounds the rows of one batch (about a second's) that are counted: past
	// it, rows are drawn at random, each counting for the rows it stands for. The writer's cost
	// for the lists is then bounded whatever the query rate, and a key with a fair share of
	// the traffic, the only kind a top list shows, is still estimated within a few percent.
	topRowsPerBatch = 16 << 10
)

// TopWindow is the span the top lists count over.
const TopWindow = topBuckets * topBucketSpan

// Counted is one key of a top list and about how many rows had it in the window.
type Counted struct {
	Key   string `json:"key"`
	Count uint64 `json:"count"`
}

// TopLists are the most frequent names, clients and policy-answered names in the last
// TopWindow of logged rows.
type TopLists struct {
	Names   []Counted `json:"names"`
	Clients []Counted `json:"clients"`
	Blocked []Counted `json:"blocked"`
	// Sample is the log's sampling (one row in Sample): the counts are of logged rows.
	Sample int `json:"sample"`
	// Window is the span counted, in seconds.
	Window float64 `json:"window_seconds"`
}

// Top returns the n most frequent keys of each list.
func (l *Log) Top(n int, now time.Time) TopLists {
	t := l.top.lists(n, now)
	t.Sample = max(l.cfg.Sample, 1)
	return t
}

// topCounter keeps the three lists, bucket by bucket.
type topCounter struct {
	mu      sync.Mutex
	buckets [topBuckets]topBucket
	rng     uint64 // draw's state
}

// The three lists, as indexes of topBucket.lists.
const (
	listNames = iota
	listClients
	listBlocked
)

type topBucket struct {
	start time.Time // zero: never used
	lists [3]*counts
}

// add counts the rows of one batch, in the order given (indexes into b, by time).
func (c *topCounter) add(b *columns, order []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Every stride-th row on average is counted, stride times.
	stride := uint64(1 + (len(order)-1)/topRowsPerBatch)
	var cur *topBucket
	var curStartUS, curEndUS int64
	policy := ^uint32(0) // the source column's index of "policy", if any
	for i, v := range b.source.values {
		if v == query.SourcePolicy.String() {
			policy = uint32(i)
		}
	}
	for i, r := range order {
		if i%yieldEvery == yieldEvery-1 {
			runtime.Gosched() // as the writer does, for a UDP worker that shares the CPU
		}
		if stride > 1 && c.draw()%stride != 0 {
			continue
		}
		us := b.timeUS[r]
		if cur == nil || us >= curEndUS || us < curStartUS {
			if cur = c.bucket(time.UnixMicro(us)); cur == nil {
				continue // older than the window
			}
			curStartUS = cur.start.UnixMicro()
			curEndUS = curStartUS + topBucketSpan.Microseconds()
		}
		if name := b.name(int(r)); len(name) > 0 {
			cur.lists[listNames].addBytes(name, stride)
			if b.source.idx[r] == policy {
				cur.lists[listBlocked].addBytes(name, stride)
			}
		}
		if client := b.client.text(int(r)); client != "" {
			cur.lists[listClients].add(client, stride)
		}
	}
}

// draw is a xorshift generator: random enough to sample rows without following a pattern in
// the traffic (clients taking turns), and nearly free.
func (c *topCounter) draw() uint64 {
	if c.rng == 0 {
		c.rng = 0x9e3779b97f4a7c15
	}
	c.rng ^= c.rng << 13
	c.rng ^= c.rng >> 7
	c.rng ^= c.rng << 17
	return c.rng
}

// bucket returns the bucket a row of time t counts in, starting it over when it last held an
// older span; nil for a time the window has already left behind.
func (c *topCounter) bucket(t time.Time) *topBucket {
	start := t.Truncate(topBucketSpan)
	b := &c.buckets[start.Unix()/int64(topBucketSpan/time.Second)%topBuckets]
	switch {
	case b.start.Equal(start):
	case b.start.After(start):
		return nil
	default:
		b.start = start
		for i := range b.lists {
			if b.lists[i] == nil {
				b.lists[i] = newCounts(topKeep)
			}
			b.lists[i].reset()
		}
	}
	return b
}

// lists merges the buckets inside the window ending at now and returns the n largest of each.
func (c *topCounter) lists(n int, now time.Time) TopLists {
	c.mu.Lock()
	defer c.mu.Unlock()
	from := now.Add(-TopWindow)
	var sums [3]map[string]uint64
	for i := range sums {
		sums[i] = map[string]uint64{}
	}
	for bi := range c.buckets {
		b := &c.buckets[bi]
		if b.start.IsZero() || !b.start.Add(topBucketSpan).After(from) {
			continue
		}
		for i, s := range b.lists {
			for k, n := range s.m {
				sums[i][k] += n
			}
		}
	}
	return TopLists{
		Names:   largest(sums[listNames], n),
		Clients: largest(sums[listClients], n),
		Blocked: largest(sums[listBlocked], n),
		Window:  TopWindow.Seconds(),
	}
}

func largest(m map[string]uint64, n int) []Counted {
	out := make([]Counted, 0, len(m))
	for k, v := range m {
		out = append(out, Counted{Key: k, Count: v})
	}
	slices.SortFunc(out, func(a, b Counted) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// counts is one list of one bucket: a key's count while the list holds it. It holds at most
// 2×keep keys; past that, prune keeps those counted more than the keep-th largest count. Rare
// keys come and go, so a key's count may be short by what it had when last pruned, but a key
// that takes a larger share of the rows than about 1/keep is never pruned once it leads, and
// its count is exact from then on. Each key costs one map update; a prune, once per keep new
// keys at most, a sort of 2×keep numbers.
type counts struct {
	keep  int
	m     map[string]uint64
	order []uint64 // scratch for prune
}

func newCounts(keep int) *counts {
	return &counts{keep: keep, m: make(map[string]uint64, 2*keep), order: make([]uint64, 0, 2*keep)}
}

func (c *counts) reset() { clear(c.m) }

func (c *counts) add(key string, n uint64) {
	c.m[key] += n
	if len(c.m) > 2*c.keep {
		c.prune()
	}
}

// addBytes is add for a key in bytes; the key becomes a string only when the list takes it.
func (c *counts) addBytes(key []byte, n uint64) {
	if v, ok := c.m[string(key)]; ok {
		c.m[string(key)] = v + n
		return
	}
	c.add(string(key), n)
}

func (c *counts) prune() {
	c.order = c.order[:0]
	for _, n := range c.m {
		c.order = append(c.order, n)
	}
	slices.Sort(c.order)
	floor := c.order[len(c.order)-c.keep]
	for k, n := range c.m {
		if n <= floor {
			delete(c.m, k)
		}
	}
}
