package wire

import (
	"encoding/binary"
	"errors"

	"codeberg.org/miekg/dns"
)

// errShort is a message that ends inside a record.
var errShort = errors.New("message ends inside a record")

// RestoreUnknownTypes gives back their type to the answer records of m that the library unpacked
// as unknown (RFC 3597) but without it: miekg/dns v0.6.0 parses a record of a type it does not know
// as TYPE0, so a zone transferred with such records would lose them. The types are read from
// m.Data, which must be the bytes m was unpacked from.
func RestoreUnknownTypes(m *dns.Msg) error {
	var idx []int
	for i, rr := range m.Answer {
		if u, ok := rr.(*dns.RFC3597); ok && u.RRType == 0 {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	d := m.Data
	if len(d) < 12 {
		return errShort
	}
	qd := int(binary.BigEndian.Uint16(d[4:]))
	off := 12
	for range qd {
		var err error
		if off, err = skipWireName(d, off); err != nil {
			return err
		}
		off += 4
	}
	types := make([]uint16, 0, len(m.Answer))
	for range m.Answer {
		var err error
		if off, err = skipWireName(d, off); err != nil {
			return err
		}
		if off+10 > len(d) {
			return errShort
		}
		types = append(types, binary.BigEndian.Uint16(d[off:]))
		off += 10 + int(binary.BigEndian.Uint16(d[off+8:]))
		if off > len(d) {
			return errShort
		}
	}
	for _, i := range idx {
		m.Answer[i].(*dns.RFC3597).RRType = types[i]
	}
	return nil
}

// skipWireName steps over a possibly compressed name at off.
func skipWireName(d []byte, off int) (int, error) {
	for {
		if off >= len(d) {
			return 0, errShort
		}
		c := int(d[off])
		switch {
		case c == 0:
			return off + 1, nil
		case c&0xC0 == 0xC0:
			return off + 2, nil
		case c&0xC0 != 0:
			return 0, errors.New("bad label type")
		}
		off += c + 1
	}
}
