package dnstap

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
)

// ring is a queue of variable-length entries in one preallocated byte slice, with one writer
// (a UDP worker, or whoever holds the shared recorder's lock) and one reader (the Writer's
// goroutine). Entries never wrap: one that does not fit before the end is preceded by a pad
// marker and starts again at offset 0. Positions only grow; their difference is what is queued.
type ring struct {
	buf  []byte
	mask uint64
	// head is the end of the last entry published, written by the producer only; tail is the
	// start of the first entry not yet read, written by the reader only.
	head, tail atomic.Uint64
	// queued and dropped count entries, for metrics; written by the producer only.
	queued, dropped atomic.Uint64
}

// lenSize is the length prefix of each entry; entries are padded to a multiple of it, so that
// the room left before the end of buf always holds a pad marker.
const lenSize = 4

// padMark in an entry's length says the rest of buf up to its end is unused.
const padMark = ^uint32(0)

// newRing makes a ring of at least size bytes (rounded up to a power of two).
func newRing(size int) *ring {
	n := uint64(1) << bits.Len64(uint64(size-1))
	return &ring{buf: make([]byte, n), mask: n - 1}
}

// reserve returns room for an entry of n bytes and the head to publish once it is written, or
// nil when the ring is too full (the entry is then counted as dropped). Only the producer calls it.
func (r *ring) reserve(n int) ([]byte, uint64) {
	size := uint64(len(r.buf))
	need := uint64(lenSize+n+lenSize-1) &^ (lenSize - 1)
	// An entry over a quarter of the ring would leave too little room for the rest.
	if need > size/4 {
		r.drop()
		return nil, 0
	}
	head, tail := r.head.Load(), r.tail.Load()
	free := size - (head - tail)
	off := head & r.mask
	if off+need > size {
		pad := size - off
		if free < pad+need {
			r.drop()
			return nil, 0
		}
		binary.LittleEndian.PutUint32(r.buf[off:], padMark)
		head += pad
		off = 0
	} else if free < need {
		r.drop()
		return nil, 0
	}
	binary.LittleEndian.PutUint32(r.buf[off:], uint32(n))
	return r.buf[off+lenSize : off+lenSize+uint64(n)], head + need
}

// publish makes the entries reserved up to head visible to the reader.
func (r *ring) publish(head uint64) {
	r.head.Store(head)
	r.queued.Store(r.queued.Load() + 1)
}

func (r *ring) drop() { r.dropped.Store(r.dropped.Load() + 1) }

// peek returns the oldest entry and the tail that releases it, or nil when the ring is empty.
// Only the reader calls it; the entry stays valid until release.
func (r *ring) peek() ([]byte, uint64) {
	b, next := r.next(r.tail.Load())
	if b == nil {
		return nil, 0
	}
	return b, next
}

// next returns the entry at pos and the position after it, or nil and pos when pos is the head.
// pos is the tail or a position next returned since: the reader may look at many entries
// before it releases them all at once. Only the reader calls it.
func (r *ring) next(pos uint64) ([]byte, uint64) {
	head := r.head.Load()
	size := uint64(len(r.buf))
	for pos != head {
		off := pos & r.mask
		n := binary.LittleEndian.Uint32(r.buf[off:])
		if n == padMark {
			pos += size - off
			continue
		}
		need := uint64(lenSize+uint64(n)+lenSize-1) &^ (lenSize - 1)
		return r.buf[off+lenSize : off+lenSize+uint64(n)], pos + need
	}
	return nil, pos
}

// release gives the room of the entries before tail back to the producer.
func (r *ring) release(tail uint64) { r.tail.Store(tail) }

// pending is the number of bytes queued; any goroutine may ask.
func (r *ring) pending() uint64 { return r.head.Load() - r.tail.Load() }
