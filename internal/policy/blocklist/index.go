package blocklist

import (
	"hash/maphash"
	"math"
	"math/bits"
	"strings"

	"warden/internal/wire"
)

// Index is many lists compiled into one structure for the query path. It is read-only once built,
// so any number of goroutines may call Match at once; a list refresh compiles a new Index and the
// caller swaps it in whole.
//
// The structure is one open-addressing hash table of 8-byte slots over one string that holds every
// name. A slot keeps where its name starts in that string, its length, 16 more bits of its hash
// (so that a probe that passes a different name almost never compares bytes) and the four kinds
// of rule the lists give that name. Names are hashed in DNS wire form, so the query name of a
// packet (lower-cased, as query.Request.Lower gives it) is looked up as it is, and each enclosing
// name is a slice of it; Match returns the rule's Name as a slice of the shared string. Neither
// allocates.
//
// Why not the obvious map[string]uint8: measured on the same million names (BenchmarkCompile1M
// and BenchmarkMapAlternative1M), the map costs about 2.5 times the memory, because each key is a
// 16-byte string header plus a separate allocation for its bytes, and the map keeps its own
// slack; and it would need the wire name converted to a string for every lookup. A sorted slice
// of hashes would be as small but needs about twenty dependent memory reads per lookup, where the
// table needs one or two.
type Index struct {
	seed  maphash.Seed
	slots []slot
	names string // every name, presentation form with its trailing dot, back to back

	// anyDepth has bit d set when some name in the index has d labels (bit 63: 63 or more);
	// wildDepth the same for names with a wildcard rule. Match skips the enclosing names whose
	// length no rule has: most lists hold names of two to four labels, queries are often deeper.
	anyDepth, wildDepth uint64

	count   int // distinct names
	dropped int // entries Compile could not take
}

type slot struct {
	off   uint32 // start of the name in Index.names
	n     uint8  // length of the name in presentation form; 0 marks an empty slot
	flags uint8
	fp    uint16 // low bits of the name's hash
}

// slotSize is unsafe.Sizeof(slot{}), checked by a test.
const slotSize = 8

// The rules a name can carry, merged from every list that names it.
const (
	blockExact uint8 = 1 << iota
	blockBelow       // the name and every name below it
	allowExact
	allowBelow
)

// loadFactor is how full Compile fills the table, as a fraction n/d. At 3/4, a lookup for a name
// that is absent (the common case: most queries are for names no list holds) probes about 8.5
// slots on average with linear probing, 64 bytes, one or two cache lines; a fuller table saves
// little memory (the names themselves take more than the slots) and probes much longer.
const loadNum, loadDen = 3, 4

// Compile builds one Index from lists; nil lists are ignored. A name listed several times, in one
// list or in several, is one slot with the union of its rules. Entries whose Name is not a
// lower-case fully qualified name (Parse never makes one) are dropped and counted.
func Compile(lists ...*List) *Index {
	total, size := 0, 0
	for _, l := range lists {
		if l == nil {
			continue
		}
		total += len(l.Entries)
		for _, e := range l.Entries {
			size += len(e.Name)
		}
	}
	ix := &Index{seed: maphash.MakeSeed(), slots: make([]slot, tableSize(total))}
	var names strings.Builder
	names.Grow(int(min(uint64(size), math.MaxUint32)))
	var buf [maxWire]byte
	for _, l := range lists {
		if l == nil {
			continue
		}
		for _, e := range l.Entries {
			w, ok := entryWire(buf[:0], e.Name)
			if !ok || uint64(names.Len()+len(e.Name)) > math.MaxUint32 {
				ix.dropped++
				continue
			}
			var f uint8
			switch {
			case e.Allow && e.Wildcard:
				f = allowBelow
			case e.Allow:
				f = allowExact
			case e.Wildcard:
				f = blockBelow
			default:
				f = blockExact
			}
			s, found := ix.lookup(w, names.String())
			if !found {
				*s = slot{off: uint32(names.Len()), n: uint8(len(e.Name)), fp: uint16(maphash.Bytes(ix.seed, w))}
				names.WriteString(e.Name)
				ix.count++
			}
			s.flags |= f
			d := depthBit(w)
			ix.anyDepth |= d
			if f&(blockBelow|allowBelow) != 0 {
				ix.wildDepth |= d
			}
		}
	}
	ix.names = names.String()
	if ix.count < total/2 {
		ix.rehash() // many duplicates: do not keep a table sized for them
	}
	return ix
}

func tableSize(n int) int { return max(8, n*loadDen/loadNum+1) }

// rehash rebuilds the table at the size its distinct names need.
func (ix *Index) rehash() {
	old := ix.slots
	ix.slots = make([]slot, tableSize(ix.count))
	var buf [maxWire]byte
	for _, o := range old {
		if o.n == 0 {
			continue
		}
		w, _ := entryWire(buf[:0], ix.names[o.off:o.off+uint32(o.n)])
		s, _ := ix.lookup(w, ix.names)
		*s = o
	}
}

// lookup finds the slot of wire name w, or the empty slot where it belongs. names is the name
// store, passed in because Compile calls it while the store is still growing.
func (ix *Index) lookup(w []byte, names string) (s *slot, found bool) {
	h := maphash.Bytes(ix.seed, w)
	fp := uint16(h)
	hi, _ := bits.Mul64(h, uint64(len(ix.slots))) // h scaled to [0, len): no power-of-two table
	for i := int(hi); ; {
		s := &ix.slots[i]
		if s.n == 0 {
			return s, false
		}
		if s.fp == fp && int(s.n)+1 == len(w) && equalWireText(w, names[s.off:s.off+uint32(s.n)]) {
			return s, true
		}
		if i++; i == len(ix.slots) {
			i = 0
		}
	}
}

// Match reports whether name is blocked, and by which rule. name is a domain name in presentation
// form, with or without its trailing dot, in any case; "\." and "\DDD" escapes are understood.
//
// The rules, as AdGuard Home applies Adblock rules: an exception (Allow) for name itself, or a
// wildcard exception for a name above it, wins over every block, and then rule is the exception
// (blocked is false, rule.Allow is true). Otherwise the most specific block wins: a rule for name
// itself (exact before wildcard) before a wildcard rule for its parent, and so on up. When nothing
// matches, rule is the zero Entry.
func (ix *Index) Match(name string) (blocked bool, rule Entry) {
	var buf [maxWire]byte
	w, ok := textWire(buf[:0], name)
	if !ok {
		return false, Entry{}
	}
	return ix.MatchWire(w)
}

// MatchWire is Match for a name in uncompressed DNS wire form, lower-cased: what
// query.Request.Lower returns. A malformed name matches nothing.
func (ix *Index) MatchWire(w []byte) (blocked bool, rule Entry) {
	if ix == nil || ix.count == 0 {
		return false, Entry{}
	}
	n := wire.NameLen(w)
	if n < 0 {
		return false, Entry{}
	}
	w = w[:n]
	var starts [maxWire / 2]uint8 // where each label starts
	labels := 0
	for off := range wire.Labels(w) {
		starts[labels] = uint8(off)
		labels++
	}
	for i := range labels {
		depth := labels - i
		mask := ix.wildDepth
		if i == 0 {
			mask = ix.anyDepth
		}
		if mask&(1<<min(depth, 63)) == 0 {
			continue
		}
		s, found := ix.lookup(w[starts[i]:], ix.names)
		if !found {
			continue
		}
		name := ix.names[s.off : s.off+uint32(s.n)]
		f := s.flags
		if i == 0 {
			switch {
			case f&allowExact != 0:
				return false, Entry{Name: name, Allow: true}
			case f&allowBelow != 0:
				return false, Entry{Name: name, Wildcard: true, Allow: true}
			case f&blockExact != 0:
				blocked, rule = true, Entry{Name: name}
			case f&blockBelow != 0:
				blocked, rule = true, Entry{Name: name, Wildcard: true}
			}
			continue
		}
		if f&allowBelow != 0 {
			return false, Entry{Name: name, Wildcard: true, Allow: true}
		}
		if !blocked && f&blockBelow != 0 {
			blocked, rule = true, Entry{Name: name, Wildcard: true}
		}
	}
	return blocked, rule
}

// Len returns the number of distinct names in the index.
func (ix *Index) Len() int { return ix.count }

// Dropped returns how many entries Compile could not take: names that were not lower-case and
// fully qualified, or past 4 GiB of names.
func (ix *Index) Dropped() int { return ix.dropped }

// Bytes estimates the memory the index holds: its table and its names.
func (ix *Index) Bytes() int64 {
	return int64(len(ix.slots))*slotSize + int64(len(ix.names)) + 64
}

// maxWire is the longest name in wire form (RFC 1035 §2.3.4).
const maxWire = 255

// depthBit returns the bit of anyDepth and wildDepth for a wire name.
func depthBit(w []byte) uint64 { return 1 << min(wire.LabelCount(w), 63) }

// entryWire converts an Entry's Name to wire form, checking that it is what Parse makes: labels
// of 1 to 63 characters from [a-z0-9_-], a trailing dot, at most 253 characters in all.
func entryWire(dst []byte, name string) ([]byte, bool) {
	if len(name) < 2 || len(name) > maxNameLen+1 || name[len(name)-1] != '.' {
		return dst, false
	}
	start := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			l := i - start
			if l == 0 || l > maxLabelLen {
				return dst, false
			}
			dst = append(dst, byte(l))
			dst = append(dst, name[start:i]...)
			start = i + 1
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return dst, false
		}
	}
	return append(dst, 0), true
}

// textWire converts a name in presentation form to lower-case wire form, as Match takes it.
func textWire(dst []byte, name string) ([]byte, bool) {
	if name == "" || name == "." {
		return append(dst, 0), name != ""
	}
	lenAt := len(dst)
	dst = append(dst, 0)
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.':
			l := len(dst) - lenAt - 1
			if l == 0 || l > maxLabelLen {
				return dst, false
			}
			dst[lenAt] = byte(l)
			if i == len(name)-1 {
				dst = append(dst, 0) // the final dot: the root label
				return dst, len(dst) <= maxWire
			}
			lenAt = len(dst)
			dst = append(dst, 0)
			continue
		case c == '\\':
			if i+3 < len(name) && isDigit(name[i+1]) && isDigit(name[i+2]) && isDigit(name[i+3]) {
				v := int(name[i+1]-'0')*100 + int(name[i+2]-'0')*10 + int(name[i+3]-'0')
				if v > 255 {
					return dst, false
				}
				c, i = byte(v), i+3
			} else if i+1 < len(name) {
				c, i = name[i+1], i+1
			} else {
				return dst, false
			}
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if len(dst) >= maxWire {
			return dst, false
		}
		dst = append(dst, c)
	}
	// No trailing dot: close the last label and add the root.
	l := len(dst) - lenAt - 1
	if l == 0 || l > maxLabelLen {
		return dst, false
	}
	dst[lenAt] = byte(l)
	dst = append(dst, 0)
	return dst, len(dst) <= maxWire
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// equalWireText reports whether wire name w is the presentation name t, which holds only the
// characters entryWire allows (so no label of t contains a dot).
func equalWireText(w []byte, t string) bool {
	j := 0
	for off := range wire.Labels(w) {
		l := int(w[off])
		if j+l >= len(t) || t[j+l] != '.' || string(w[off+1:off+1+l]) != t[j:j+l] {
			return false
		}
		j += l + 1
	}
	return j == len(t) && wire.NameLen(w) == len(w)
}
