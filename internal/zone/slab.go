package zone

import (
	"unsafe"

	"codeberg.org/miekg/dns"
)

// The objects a zone keeps (nodes, names, RRsets, common records) are allocated from blocks rather
// one by one. The parser leaves several times the zone's size in garbage, and one-by-one allocation
// interleaves the two in the same heap spans: after a collection the spans stay half empty and the
// process keeps nearly twice the memory it uses (measured: 468 MiB in use for 257 MiB live on a
// 1,000,000-record zone). Blocks keep the zone's objects together, and they grow with the zone, so
// a small zone does not pay for a large block.

const (
	slabFirst = 16
	slabMax   = 4096
)

// slab hands out pointers to elements of blocks of T.
type slab[T any] struct {
	block []T
	next  int // size of the next block
}

func (s *slab[T]) get() *T {
	if len(s.block) == 0 {
		s.next = min(max(2*s.next, slabFirst), slabMax)
		s.block = make([]T, s.next)
	}
	p := &s.block[0]
	s.block = s.block[1:]
	return p
}

// take returns n consecutive elements, as a slice of capacity n.
func (s *slab[T]) take(n int) []T {
	if len(s.block) < n {
		s.next = min(max(2*s.next, slabFirst, n), max(slabMax, n))
		s.block = make([]T, s.next)
	}
	out := s.block[:n:n]
	s.block = s.block[n:]
	return out
}

// taker hands out room for n elements: a slab, or the scratch room of the node being read.
type taker[T any] interface{ take(n int) []T }

// one returns a slice of length and capacity 1 holding v.
func one[T any, S taker[T]](s S, v T) []T {
	out := s.take(1)
	out[0] = v
	return out
}

// appendTo is append for slices that live in a slab or a scratch: when list is full it moves to
// twice the room, taken from the same place.
func appendTo[T any, S taker[T]](s S, list []T, v T) []T {
	if len(list) == cap(list) {
		grown := s.take(max(1, 2*len(list)))[:len(list)]
		copy(grown, list)
		list = grown
	}
	return append(list, v)
}

// scratch is room that is used again and again: the RRsets of the node a master file is at are
// grown here, by doubling as records come, and moved into the slabs at their final sizes when the
// file moves on to another owner (loader.closeOwner). In the slabs, the room a grown list leaves
// behind can never be freed; here it is used again for the next node. A TLD's delegation of two
// NS records and a DS would otherwise leave 64 bytes behind.
type scratch[T any] struct {
	buf  []T
	used int
}

func (s *scratch[T]) take(n int) []T {
	if s.used+n > len(s.buf) {
		// Slices already handed out keep the old buffer until the node is closed.
		s.buf, s.used = make([]T, max(2*len(s.buf), n, 64)), 0
	}
	out := s.buf[s.used : s.used+n : s.used+n]
	s.used += n
	return out
}

// reset makes the room free again, dropping what it held for the collector.
func (s *scratch[T]) reset() {
	clear(s.buf[:s.used])
	s.used = 0
}

// slabs are a loader's allocators.
type slabs struct {
	nodes slab[Node]
	sets  slab[RRset]
	rrs   slab[dns.RR]
	a     slab[dns.A]
	aaaa  slab[dns.AAAA]
	ns    slab[dns.NS]
	cname slab[dns.CNAME]
	mx    slab[dns.MX]
	txt   slab[dns.TXT]
	ds    slab[dns.DS]
	rrsig slab[dns.RRSIG]
	nsec  slab[dns.NSEC]
	types slab[uint16] // NSEC type lists
	strs  slab[string]
	text  []byte
}

// copyStr moves a string the parser allocated into the shared block.
func (s *slabs) copyStr(v string) string {
	if v == "" {
		return ""
	}
	return s.str(unsafe.Slice(unsafe.StringData(v), len(v)))
}

// str returns a string with the bytes of b, stored in a shared block. Strings never change, so the
// block's bytes are only ever appended to.
func (s *slabs) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(s.text)-len(s.text) < len(b) {
		s.text = make([]byte, 0, max(len(b), 64<<10))
	}
	start := len(s.text)
	s.text = append(s.text, b...)
	return unsafe.String(&s.text[start], len(b))
}

// record returns rr, moved into a block when it is of a common type.
func (s *slabs) record(rr dns.RR) dns.RR {
	switch x := rr.(type) {
	case *dns.A:
		c := s.a.get()
		*c = *x
		return c
	case *dns.AAAA:
		c := s.aaaa.get()
		*c = *x
		return c
	case *dns.NS:
		c := s.ns.get()
		*c = *x
		c.Ns = s.copyStr(c.Ns)
		return c
	case *dns.CNAME:
		c := s.cname.get()
		*c = *x
		c.Target = s.copyStr(c.Target)
		return c
	case *dns.MX:
		c := s.mx.get()
		*c = *x
		c.Mx = s.copyStr(c.Mx)
		return c
	case *dns.DS:
		c := s.ds.get()
		*c = *x
		c.Digest = s.copyStr(c.Digest)
		return c
	case *dns.TXT:
		c := s.txt.get()
		*c = *x
		txt := s.strs.take(len(x.Txt))
		for i, t := range x.Txt {
			txt[i] = s.copyStr(t)
		}
		c.Txt = txt
		return c
	}
	return rr
}
