package transfer

import (
	"fmt"

	"warden/internal/wire"
)

// compressor points each name of a transfer message at the longest suffix it shares with the
// question name or with one of the few names written just before it. A zone walk writes names in
// order, node by node, so the name inside the zone that shares most with the next one is nearly
// always among the last few; Knot compresses against the question name and the previous owner
// alone. Names outside the zone (the servers of delegations, mail exchangers elsewhere) repeat
// across the zone rather than in order, so a few more of them are kept apart, where the names
// inside the zone do not push them out. A table of every suffix in the message would find a
// little more, but costs a hash and a map probe per label of every name, which was half the CPU of
// an AXFR.
type compressor struct {
	question recentName
	inside   recentRing[[insideNames + 1]recentName]
	outside  recentRing[[outsideNames + 1]recentName]
}

// insideNames and outsideNames are how many names inside and outside the question's zone the
// compressor remembers: inside, enough for an owner, the names in its records and the owner
// before it.
const (
	insideNames  = 4
	outsideNames = 8
)

// recentRing holds recent names and, at next, the slot the next name is parsed into, so that
// remembering it copies nothing.
type recentRing[A [insideNames + 1]recentName | [outsideNames + 1]recentName] struct {
	slots A
	next  int
	used  int // names remembered, at most len(slots)-1
}

func (r *recentRing[A]) scratch() *recentName { return &r.slots[r.next] }

// keep remembers the name in the scratch slot.
func (r *recentRing[A]) keep() {
	r.next = (r.next + 1) % len(r.slots)
	r.used = min(r.used+1, len(r.slots)-1)
}

// same returns the remembered name equal to name, with its label count, if a pointer reaches it.
func (r *recentRing[A]) same(name *recentName) (*recentName, int) {
	for i, j := 0, r.next; i < r.used; i++ {
		if j == 0 {
			j = len(r.slots)
		}
		j--
		s := &r.slots[j]
		if s.size == name.size && string(s.name[:s.size]) == string(name.name[:name.size]) && s.at[0] != 0 {
			return s, s.labels
		}
	}
	return nil, 0
}

// longest returns the remembered name sharing the most trailing labels with name, if that is more
// than shared, else best and shared; it stops at all labels but name's first, the most a name that
// same did not find can share.
func (r *recentRing[A]) longest(name, best *recentName, shared int) (*recentName, int) {
	for i, j := 0, r.next; i < r.used && shared < name.labels-1; i++ {
		if j == 0 {
			j = len(r.slots)
		}
		j--
		best, shared = longer(name, &r.slots[j], best, shared)
	}
	return best, shared
}

// recentName is a name already in the message: its lower-case uncompressed form, where each of
// its labels starts in that form, and the message offset of the suffix from each label on (0 where
// that suffix lies beyond what a pointer can reach).
type recentName struct {
	// size and the first bytes of name share a cache line: most comparisons end there.
	size   int // bytes of name in use
	labels int
	name   [wire.MaxNameLen]byte
	start  [maxLabels]uint8
	at     [maxLabels]uint16
}

// maxLabels is the most labels a 255-byte name can have.
const maxLabels = 128

// label returns label i of r, length byte included.
func (r *recentName) label(i int) []byte {
	s := int(r.start[i])
	return r.name[s : s+1+int(r.name[s])]
}

func (c *compressor) reset() {
	c.question.labels = 0
	c.inside.next, c.inside.used = 0, 0
	c.outside.next, c.outside.used = 0, 0
}

// write appends the wire name to buf, ending it in a pointer to the longest suffix it shares with
// a remembered name, and remembers it.
func (c *compressor) write(buf, name []byte) []byte {
	if len(name) > wire.MaxNameLen {
		return append(buf, name...) // never from the Writer, which checks every name
	}
	cur := c.inside.scratch()
	k := 0
	for off := range wire.Labels(name) {
		cur.start[k] = uint8(off)
		k++
	}
	cur.labels, cur.size = k, len(name)
	for i, b := range name {
		if b-'A' < 26 {
			b += 'a' - 'A'
		}
		cur.name[i] = b
	}
	return c.place(buf, cur, name, "")
}

// writeText is write for a name in presentation form (without escapes, as wire.AppendName takes
// it), read straight into the compressor's form: converting it first and reading the labels of the
// result again cost a fifth of an AXFR.
func (c *compressor) writeText(buf []byte, name string) ([]byte, error) {
	if name == "" || name[len(name)-1] != '.' {
		return buf, fmt.Errorf("name %q is not fully qualified", name)
	}
	cur := c.inside.scratch()
	k, n := 0, 0
	if name != "." {
		from := 0
		for i := 0; i < len(name); i++ {
			if name[i] != '.' {
				continue
			}
			switch l := i - from; {
			case l == 0:
				return buf, fmt.Errorf("name %q: %w", name, wire.ErrEmptyLabel)
			case l > 63:
				return buf, fmt.Errorf("name %q: %w (%d)", name, wire.ErrLongLabel, l)
			case n+1+l+1 > wire.MaxNameLen:
				return buf, fmt.Errorf("name %q: %w", name, wire.ErrLongName)
			}
			cur.start[k] = uint8(n)
			k++
			cur.name[n] = byte(i - from)
			n++
			for _, b := range []byte(name[from:i]) {
				if b-'A' < 26 {
					b += 'a' - 'A'
				}
				cur.name[n] = b
				n++
			}
			from = i + 1
		}
	}
	cur.name[n] = 0
	cur.labels, cur.size = k, n+1
	return c.place(buf, cur, nil, name), nil
}

// place writes the name parsed into cur, as wireName or, when that is nil, as text: the labels
// no remembered name holds, in the case they came in, then a pointer.
func (c *compressor) place(buf []byte, cur *recentName, wireName []byte, text string) []byte {
	k := cur.labels
	if k == 0 {
		return append(buf, 0) // the root: a pointer would be longer
	}
	var best *recentName
	shared := 0
	if c.question.labels > 0 {
		best, shared = longer(cur, &c.question, nil, 0)
	}
	inside := shared == c.question.labels
	if !inside {
		out := c.outside.scratch()
		*out = *cur
		cur = out
	}
	if s, n := c.sameIn(inside, cur); s != nil {
		best, shared = s, n
	} else {
		if inside {
			best, shared = c.inside.longest(cur, best, shared)
		} else {
			best, shared = c.outside.longest(cur, best, shared)
		}
	}

	start := len(buf)
	full := k - shared // labels written out before the pointer
	switch {
	case wireName != nil && shared == 0:
		buf = append(buf, wireName...)
	case wireName != nil:
		buf = append(buf, wireName[:cur.start[full]]...)
	default:
		// A label's text starts in the presentation form where its length byte is in the wire form.
		for i := range full {
			s := int(cur.start[i])
			buf = append(buf, cur.name[s])
			buf = append(buf, text[s:s+int(cur.name[s])]...)
		}
		if shared == 0 {
			buf = append(buf, 0)
		}
	}
	if shared > 0 {
		p := best.at[best.labels-shared]
		buf = append(buf, 0xC0|byte(p>>8), byte(p))
	}
	if full == 0 {
		return buf // a remembered name says all this one would
	}
	for i := range full {
		cur.at[i] = 0
		if pos := start + int(cur.start[i]); pos < 0x3FFF {
			cur.at[i] = uint16(pos)
		}
	}
	for i := full; i < k; i++ {
		cur.at[i] = best.at[best.labels-(k-i)]
	}
	switch {
	case c.question.labels == 0 && start == 12:
		c.question = *cur // once a message
	case inside:
		c.inside.keep()
	default:
		c.outside.keep()
	}
	return buf
}

func (c *compressor) sameIn(inside bool, name *recentName) (*recentName, int) {
	if inside {
		return c.inside.same(name)
	}
	return c.outside.same(name)
}

// longer compares name with r and returns r and the number of trailing labels they share when that
// is more than shared (and a pointer reaches the shared suffix of r), else best and shared.
func longer(name, r *recentName, best *recentName, shared int) (*recentName, int) {
	j := 0
	for j < name.labels && j < r.labels && string(name.label(name.labels-1-j)) == string(r.label(r.labels-1-j)) {
		j++
	}
	for j > shared && r.at[r.labels-j] == 0 {
		j--
	}
	if j > shared {
		return r, j
	}
	return best, shared
}
