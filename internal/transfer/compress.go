package transfer

import "warden/internal/wire"

// compressor points each name of a transfer message at the longest suffix it shares with the
// question name or with one of the few names written just before it. A zone walk writes names in
// order, node by node, so the name that shares most with the next one is nearly always among the
// last few; Knot compresses against the question name and the previous owner alone, and a
// transfer packed this way comes out no larger than Knot's. A table of every suffix in the
// message would find a little more, but costs a hash and a map probe per label of every name,
// which was half the CPU of an AXFR.
type compressor struct {
	question recentName
	// ring holds the recent names and, at next, the slot the name being written is parsed into,
	// so that remembering it copies nothing.
	ring [recentNames + 1]recentName
	next int
	used int // recent names in ring, at most recentNames
}

// recentNames is how many names besides the question the compressor remembers: enough for an
// owner, the names in its records and the owner before it.
const recentNames = 4

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
	c.next, c.used = 0, 0
}

// write appends the wire name to buf, ending it in a pointer to the longest suffix it shares with
// a remembered name, and remembers it.
func (c *compressor) write(buf, name []byte) []byte {
	if len(name) > wire.MaxNameLen {
		return append(buf, name...) // never from the Writer, which checks every name
	}
	cur := &c.ring[c.next]
	k := 0
	for off := range wire.Labels(name) {
		cur.start[k] = uint8(off)
		k++
	}
	cur.labels = k
	for i, b := range name {
		if b-'A' < 26 {
			b += 'a' - 'A'
		}
		cur.name[i] = b
	}

	cur.size = len(name)
	best, shared := c.same(cur)
	if best == nil && k > 0 {
		// No remembered name is this one, so the most it can share is all but its first label,
		// which the question (the zone's name) usually gives at once.
		if c.question.labels > 0 {
			best, shared = longer(cur, &c.question, best, shared)
		}
		for i, j := 0, c.next; i < c.used && shared < k-1; i++ {
			if j == 0 {
				j = len(c.ring)
			}
			j--
			best, shared = longer(cur, &c.ring[j], best, shared)
		}
	}

	start := len(buf)
	full := k - shared // labels written out before the pointer
	if shared == 0 {
		buf = append(buf, name...)
	} else {
		buf = append(buf, name[:cur.start[full]]...)
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
	if c.question.labels == 0 && start == 12 {
		c.question = *cur // once a message
		return buf
	}
	c.next = (c.next + 1) % len(c.ring)
	c.used = min(c.used+1, recentNames)
	return buf
}

// same returns the remembered name equal to name, with its label count, if a pointer reaches it.
func (c *compressor) same(name *recentName) (*recentName, int) {
	for i, j := 0, c.next; i < c.used; i++ {
		if j == 0 {
			j = len(c.ring)
		}
		j--
		r := &c.ring[j]
		if r.size == name.size && string(r.name[:r.size]) == string(name.name[:name.size]) && r.at[0] != 0 {
			return r, r.labels
		}
	}
	return nil, 0
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
