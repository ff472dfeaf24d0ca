package update

import (
	"encoding/binary"
	"reflect"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/rdata"

	"warden/internal/wire"
)

// record is one prerequisite or update record with what the parsed form loses: whether RDLENGTH
// was zero, which RFC 2136 turns on (§2.4, §2.5) but which a parsed A record with no RDATA hides
// behind a zero address, and the type of a record of a type miekg/dns does not know, which it
// parses as type 0.
type record struct {
	rr    dns.RR
	typ   uint16
	empty bool
}

// sections returns the prerequisite and update records of m. It reads RDLENGTH and the types from
// the wire form when m holds the bytes it was parsed from; a message built in code has none, and
// then a record counts as empty when its RDATA fields all hold their zero values, which is what the
// parser makes of RDLENGTH zero.
func sections(m *dns.Msg) (prereqs, updates []record) {
	prereqs = make([]record, len(m.Answer))
	updates = make([]record, len(m.Ns))
	pw, uw, ok := wireFacts(m)
	for i, rr := range m.Answer {
		prereqs[i] = recordOf(rr, pw, i, ok)
	}
	for i, rr := range m.Ns {
		updates[i] = recordOf(rr, uw, i, ok)
	}
	return prereqs, updates
}

func recordOf(rr dns.RR, facts []wireFact, i int, ok bool) record {
	if ok {
		return record{rr: rr, typ: facts[i].typ, empty: facts[i].empty}
	}
	return record{rr: rr, typ: rrType(rr), empty: zeroRdata(rr)}
}

// wireFact is what the wire form says of one record.
type wireFact struct {
	typ   uint16
	empty bool
}

// wireFacts walks m.Data. It reports false when the bytes do not match the parsed sections (no
// bytes, other counts, a record that runs past the end, another type than the parsed record's), so
// that stale bytes are never trusted.
func wireFacts(m *dns.Msg) (prereqs, updates []wireFact, ok bool) {
	d := m.Data
	if len(d) < 12 {
		return nil, nil, false
	}
	qd := int(binary.BigEndian.Uint16(d[4:]))
	an := int(binary.BigEndian.Uint16(d[6:]))
	ns := int(binary.BigEndian.Uint16(d[8:]))
	if qd != len(m.Question) || an != len(m.Answer) || ns != len(m.Ns) {
		return nil, nil, false
	}
	off := 12
	for range qd {
		off = skipName(d, off)
		if off < 0 || off+4 > len(d) {
			return nil, nil, false
		}
		off += 4
	}
	if prereqs, off, ok = readFacts(d, off, m.Answer); !ok {
		return nil, nil, false
	}
	if updates, _, ok = readFacts(d, off, m.Ns); !ok {
		return nil, nil, false
	}
	return prereqs, updates, true
}

// readFacts reads the records from off that were parsed into rrs.
func readFacts(d []byte, off int, rrs []dns.RR) ([]wireFact, int, bool) {
	facts := make([]wireFact, len(rrs))
	for i, rr := range rrs {
		off = skipName(d, off)
		if off < 0 || off+10 > len(d) {
			return nil, 0, false
		}
		typ := binary.BigEndian.Uint16(d[off:])
		n := int(binary.BigEndian.Uint16(d[off+8:]))
		off += 10 + n
		if off > len(d) {
			return nil, 0, false
		}
		if t := rrType(rr); t != typ && t != 0 {
			return nil, 0, false
		}
		facts[i] = wireFact{typ: typ, empty: n == 0}
	}
	return facts, off, true
}

// zeroRdata says whether rr's RDATA fields all hold their zero values.
func zeroRdata(rr dns.RR) bool {
	t := rrType(rr)
	var fresh dns.RR
	if newRR, ok := dns.TypeToRR[t]; ok {
		fresh = newRR()
	} else {
		fresh = &dns.RFC3597{RFC3597: rdata.RFC3597{RRType: t}}
	}
	*fresh.Header() = *rr.Header()
	return reflect.DeepEqual(rr, fresh)
}

// normalise returns a copy of r's record as zone data: owner lower-case, class IN, and the type
// of an unknown-type record restored.
func normalise(r record, name string) dns.RR {
	c := r.rr.Clone()
	h := c.Header()
	h.Name = name
	h.Class = dns.ClassINET
	if u, ok := c.(*dns.RFC3597); ok {
		u.RRType = r.typ
	}
	return c
}

// skipName returns the offset after the (possibly compressed) name at off, or -1.
func skipName(d []byte, off int) int {
	next, err := wire.SkipName(d, off)
	if err != nil {
		return -1
	}
	return next
}
