package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
)

// Names in wire form: labels, each a length byte and that many bytes, ending in the root's zero
// byte; uncompressed unless said otherwise. Every package that walks one does it through here.
// Length bytes are below 64 and so never ASCII letters: a name can be lower-cased or compared
// without case byte by byte, lengths included.

// MaxNameLen is the longest wire name (RFC 1035 §2.3.4).
const MaxNameLen = 255

// Suffixes yields the offset of each label of the wire name, the root label included, so that
// name[off:] is in turn every suffix from the whole name down to the root. It stops early where a
// label would run past the end of name. name may be a string holding wire bytes (a map key).
func Suffixes[N ~string | ~[]byte](name N) iter.Seq[int] {
	return func(yield func(int) bool) {
		for off := 0; off < len(name); off += int(name[off]) + 1 {
			if off+1+int(name[off]) > len(name) || !yield(off) || name[off] == 0 {
				return
			}
		}
	}
}

// Labels yields the offset of each label of the wire name but the root; the label itself is
// name[off+1 : off+1+int(name[off])].
func Labels[N ~string | ~[]byte](name N) iter.Seq[int] {
	return func(yield func(int) bool) {
		for off := 0; off < len(name) && name[off] != 0; off += int(name[off]) + 1 {
			if off+1+int(name[off]) > len(name) || !yield(off) {
				return
			}
		}
	}
}

// LabelCount returns the number of labels of the wire name, the root not counted.
func LabelCount[N ~string | ~[]byte](name N) int {
	n := 0
	for range Labels(name) {
		n++
	}
	return n
}

// Lower appends name lower-cased (ASCII only, as DNS compares names).
func Lower(dst, name []byte) []byte {
	for _, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// EqualFold reports whether two wire names are equal without regard to ASCII case.
func EqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if c := x | 0x20; c != y|0x20 || c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// Within reports whether the wire name is zone or below it; both lower case (or compared as they
// are).
func Within[Z ~string | ~[]byte](name []byte, zone Z) bool {
	if len(name) < len(zone) || string(name[len(name)-len(zone):]) != string(zone) {
		return false
	}
	// The match must start at a label boundary.
	for off := range Suffixes(name) {
		if off == len(name)-len(zone) {
			return true
		}
	}
	return false
}

// NameString converts a wire-form name (no compression) to presentation form. Escapes are not
// written.
func NameString(name []byte) string {
	if len(name) <= 1 {
		return "."
	}
	var buf [MaxNameLen + 1]byte
	return string(AppendText(buf[:0], name))
}

// AppendText appends the presentation form of a wire-form name (no compression, no escapes) to dst,
// "." for the root.
func AppendText(dst, name []byte) []byte {
	start := len(dst)
	for off := range Labels(name) {
		dst = append(dst, name[off+1:off+1+int(name[off])]...)
		dst = append(dst, '.')
	}
	if len(dst) == start {
		dst = append(dst, '.')
	}
	return dst
}

// ErrName is wrapped by the errors about malformed names.
var ErrName = errors.New("malformed name")

// NameLen returns the length of the uncompressed wire name at the start of b (which may go on
// after it), or -1 when there is none: a compression pointer or other label type, a label running
// past the end, or more than MaxNameLen bytes.
func NameLen(b []byte) int {
	for off := 0; off < len(b) && off < MaxNameLen; {
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1
		case l > 63:
			return -1
		}
		off += l + 1
	}
	return -1
}

// CheckName reports whether n is exactly one uncompressed wire name of at most MaxNameLen bytes.
func CheckName(n []byte) error {
	switch l := NameLen(n); {
	case l < 0:
		return fmt.Errorf("%w: % x", ErrName, n)
	case l != len(n):
		return fmt.Errorf("%w: %d bytes after the root label", ErrName, len(n)-l)
	}
	return nil
}

// Errors of SkipName. They carry no offset, so that skipping a name allocates nothing even when it
// fails: the caller knows where it was.
var (
	ErrNamePastEnd = fmt.Errorf("%w: runs past the end", ErrName)
	ErrNamePointer = fmt.Errorf("%w: compression pointer outside the message", ErrName)
	ErrNameLabel   = fmt.Errorf("%w: reserved label type", ErrName)
	ErrNameLong    = fmt.Errorf("%w: longer than %d bytes", ErrName, MaxNameLen)
)

// SkipName returns the offset just past the possibly compressed name at off in msg. A pointer ends
// the name in place: none is followed; it must only point inside msg. The name must hold at most
// MaxNameLen bytes before a pointer.
func SkipName(msg []byte, off int) (int, error) {
	for n := 0; n <= MaxNameLen; {
		if off >= len(msg) {
			return 0, ErrNamePastEnd
		}
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1, nil
		case l&0xC0 == 0xC0:
			if off+2 > len(msg) || int(binary.BigEndian.Uint16(msg[off:])&0x3FFF) >= len(msg) {
				return 0, ErrNamePointer
			}
			return off + 2, nil
		case l&0xC0 != 0:
			return 0, ErrNameLabel
		}
		n += l + 1
		off += l + 1
	}
	return 0, ErrNameLong
}

// ReadName appends the name at off in msg to dst, decompressed, case as written, and returns it with
// the offset just past the name. Pointers must point backwards, which rules out loops; with
// pointers false (a question) there may be none. Errors name the offset.
func ReadName(msg []byte, off int, dst []byte, pointers bool) ([]byte, int, error) {
	next := -1
	start := off
	n := 0
	for {
		if off >= len(msg) {
			return nil, 0, fmt.Errorf("offset %d: name runs past the end", off)
		}
		l := int(msg[off])
		switch {
		case l&0xC0 == 0xC0:
			if !pointers {
				return nil, 0, fmt.Errorf("offset %d: compression pointer in the question", off)
			}
			if off+2 > len(msg) {
				return nil, 0, fmt.Errorf("offset %d: compression pointer cut short", off)
			}
			target := int(binary.BigEndian.Uint16(msg[off:]) & 0x3FFF)
			if target >= start {
				return nil, 0, fmt.Errorf("offset %d: compression pointer to %d does not point backwards", off, target)
			}
			if next < 0 {
				next = off + 2
			}
			off, start = target, target
			continue
		case l&0xC0 != 0:
			return nil, 0, fmt.Errorf("offset %d: label type 0x%02x", off, l&0xC0)
		}
		if n+l+1 > MaxNameLen {
			return nil, 0, fmt.Errorf("offset %d: name longer than %d bytes", off, MaxNameLen)
		}
		if off+1+l > len(msg) {
			return nil, 0, fmt.Errorf("offset %d: label runs past the end", off)
		}
		dst = append(dst, msg[off:off+1+l]...)
		n += l + 1
		off += 1 + l
		if l == 0 {
			break
		}
	}
	if next < 0 {
		next = off
	}
	return dst, next, nil
}
