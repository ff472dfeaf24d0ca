package update

import (
	"encoding/binary"
	"reflect"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/rdata"
)

// rdlengths holds whether each prerequisite and each update record came with empty RDATA. RFC 2136
// turns on RDLENGTH being zero (§2.4, §2.5), and the parsed records do not keep it: an A record
// with no RDATA parses to an A record with a zero address field.
type rdlengths struct {
	prereq, update []bool
}

// emptyRdata finds which records of m have RDLENGTH zero. It reads the lengths from the message's
// wire form when m holds the bytes it was parsed from; a message built in code has none, and then a
// record counts as empty when its RDATA fields all hold their zero values, which is what the
// parser makes of RDLENGTH zero.
func emptyRdata(m *dns.Msg) rdlengths {
	if r, ok := wireRdlengths(m); ok {
		return r
	}
	r := rdlengths{prereq: make([]bool, len(m.Answer)), update: make([]bool, len(m.Ns))}
	for i, rr := range m.Answer {
		r.prereq[i] = zeroRdata(rr)
	}
	for i, rr := range m.Ns {
		r.update[i] = zeroRdata(rr)
	}
	return r
}

// wireRdlengths walks m.Data. It reports false when the bytes do not match the parsed sections (no
// bytes, other counts, a record that runs past the end), so that stale bytes are never trusted.
func wireRdlengths(m *dns.Msg) (rdlengths, bool) {
	d := m.Data
	if len(d) < 12 {
		return rdlengths{}, false
	}
	qd := int(binary.BigEndian.Uint16(d[4:]))
	an := int(binary.BigEndian.Uint16(d[6:]))
	ns := int(binary.BigEndian.Uint16(d[8:]))
	if qd != len(m.Question) || an != len(m.Answer) || ns != len(m.Ns) {
		return rdlengths{}, false
	}
	off := 12
	for range qd {
		off = skipName(d, off)
		if off < 0 || off+4 > len(d) {
			return rdlengths{}, false
		}
		off += 4
	}
	var r rdlengths
	var ok bool
	if r.prereq, off, ok = recordLengths(d, off, an); !ok {
		return rdlengths{}, false
	}
	if r.update, _, ok = recordLengths(d, off, ns); !ok {
		return rdlengths{}, false
	}
	return r, true
}

// recordLengths reads count records from off and says for each whether its RDLENGTH is zero.
func recordLengths(d []byte, off, count int) ([]bool, int, bool) {
	empty := make([]bool, count)
	for i := range count {
		off = skipName(d, off)
		if off < 0 || off+10 > len(d) {
			return nil, 0, false
		}
		n := int(binary.BigEndian.Uint16(d[off+8:]))
		off += 10 + n
		if off > len(d) {
			return nil, 0, false
		}
		empty[i] = n == 0
	}
	return empty, off, true
}

// skipName returns the offset after the (possibly compressed) name at off, or -1.
func skipName(d []byte, off int) int {
	for off < len(d) {
		l := int(d[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xC0 == 0xC0:
			if off+2 > len(d) {
				return -1
			}
			return off + 2
		case l&0xC0 != 0:
			return -1
		}
		off += 1 + l
	}
	return -1
}

// zeroRdata says whether rr's RDATA fields all hold their zero values.
func zeroRdata(rr dns.RR) bool {
	t := dns.RRToType(rr)
	var fresh dns.RR
	if newRR, ok := dns.TypeToRR[t]; ok {
		fresh = newRR()
	} else {
		fresh = &dns.RFC3597{RFC3597: rdata.RFC3597{RRType: t}}
	}
	*fresh.Header() = *rr.Header()
	return reflect.DeepEqual(rr, fresh)
}
