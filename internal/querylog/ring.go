package querylog

import (
	"net/netip"
	"sync/atomic"

	"warden/internal/query"
)

// entry is one answered query as the listener's Recorder copied it: fixed size, no pointer into
// the listener's buffers, so that the ring's slots are reused without allocating. Strings here
// (the policy's set and rule, the upstream) point at data the policy, the forwarder or the
// resolution holds and are copied as headers only.
type entry struct {
	sentUnixNano int64
	latencyNanos int64
	client       netip.AddrPort
	qtype, rcode uint16
	transport    query.Transport
	source       query.Source
	policySet    string
	policyRule   string
	upstream     string
	qnameLen     uint8
	// qname is the question's name in wire form as the client wrote it; the writer turns it
	// into text, off the query path.
	qname [query.MaxNameLen]byte
}

// slot is one place of a ring. seq tells whose turn it is (Vyukov's bounded queue): a producer
// may fill it when seq equals the position it claimed, the writer may read it when seq is one
// more than that.
type slot struct {
	seq atomic.Uint64
	e   entry
}

// ring is a bounded queue of entries with any number of producers and one consumer (the
// writer). A full ring drops: the listener never waits for the writer.
type ring struct {
	// exclusive means one goroutine only produces (a UDP worker): it claims slots with a load
	// and a store instead of a compare-and-swap.
	exclusive bool
	sample    uint64
	mask      uint64

	// head is the next position producers claim; it sits apart from tail, which only the
	// writer moves, so the two do not share a cache line.
	_       [64]byte
	head    atomic.Uint64
	seen    atomic.Uint64 // records offered, for sampling
	dropped atomic.Uint64
	_       [64]byte
	tail    uint64
	slots   []slot
}

func newRing(size int, exclusive bool, sample int) *ring {
	n := 1
	for n < size {
		n <<= 1
	}
	r := &ring{exclusive: exclusive, sample: uint64(max(sample, 1)), mask: uint64(n - 1), slots: make([]slot, n)}
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
	}
	return r
}

// Record copies each record into the ring, or counts it dropped when the ring is full.
func (r *ring) Record(recs []query.Record) {
	for i := range recs {
		if r.sample > 1 && !r.keep() {
			continue
		}
		s := r.claim()
		if s == nil {
			r.add(&r.dropped, 1)
			continue
		}
		pos := s.seq.Load()
		fill(&s.e, &recs[i])
		s.seq.Store(pos + 1)
	}
}

// keep says whether this record is the one in sample that the log keeps.
func (r *ring) keep() bool {
	var n uint64
	if r.exclusive {
		n = r.seen.Load() + 1
		r.seen.Store(n)
	} else {
		n = r.seen.Add(1)
	}
	return n%r.sample == 0
}

func (r *ring) add(c *atomic.Uint64, n uint64) {
	if r.exclusive {
		c.Store(c.Load() + n)
		return
	}
	c.Add(n)
}

// claim reserves the next free slot, or returns nil when the writer has not emptied it yet.
func (r *ring) claim() *slot {
	pos := r.head.Load()
	for {
		s := &r.slots[pos&r.mask]
		seq := s.seq.Load()
		switch {
		case seq == pos:
			if r.exclusive {
				r.head.Store(pos + 1)
				return s
			}
			if r.head.CompareAndSwap(pos, pos+1) {
				return s
			}
			pos = r.head.Load()
		case seq < pos:
			return nil // full: the slot still holds an entry from one lap before
		default:
			pos = r.head.Load() // another producer took it
		}
	}
}

// drain hands each entry ready in the ring to f, in order, and frees its slot. Only the writer
// calls it. An entry still being filled stops the drain; the next one takes it.
func (r *ring) drain(f func(*entry)) int {
	n := 0
	for {
		s := &r.slots[r.tail&r.mask]
		if s.seq.Load() != r.tail+1 {
			return n
		}
		f(&s.e)
		s.seq.Store(r.tail + r.mask + 1)
		r.tail++
		n++
	}
}

// fill copies what the log keeps of rec into e.
func fill(e *entry, rec *query.Record) {
	// 0 means not timed: the writer stamps the entry with the time it takes it.
	e.sentUnixNano = 0
	if !rec.Sent.IsZero() {
		e.sentUnixNano = rec.Sent.UnixNano()
	}
	e.latencyNanos = 0
	if !rec.Received.IsZero() && !rec.Sent.IsZero() {
		e.latencyNanos = max(int64(rec.Sent.Sub(rec.Received)), 0)
	}
	e.client = rec.Client
	e.qtype = rec.QType
	e.rcode = rec.Rcode
	e.transport = rec.Transport
	e.source = rec.Outcome.Source
	e.policySet = rec.Outcome.PolicySet
	e.policyRule = rec.Outcome.PolicyRule
	e.upstream = rec.Outcome.Upstream
	e.qnameLen = uint8(copy(e.qname[:], rec.QName))
}
