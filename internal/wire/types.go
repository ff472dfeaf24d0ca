package wire

import (
	"encoding/binary"
	"errors"

	"codeberg.org/miekg/dns"
)

// errShort is a message that ends inside a record.
var errShort = errors.New("message ends inside a record")

// Unpack parses a DNS message with the DNS library, then gives back their type to the records of
// types the library does not know: miekg/dns v0.6.0 unpacks them in RFC 3597 form but as TYPE0,
// so a resolver would not match them to the question, a forwarder would pass them on as TYPE0 and
// a transfer would lose them. Every message Warden reads from the network and looks into record
// by record is read through here.
func Unpack(data []byte) (*dns.Msg, error) {
	m := &dns.Msg{Data: data}
	if err := m.Unpack(); err != nil {
		return nil, err
	}
	if err := restoreUnknownTypes(m); err != nil {
		return nil, err
	}
	return m, nil
}

// restoreUnknownTypes sets the type of m's unknown records from m.Data, the bytes m was unpacked
// from.
func restoreUnknownTypes(m *dns.Msg) error {
	if !hasUnknown(m.Answer) && !hasUnknown(m.Ns) && !hasUnknown(m.Extra) {
		return nil
	}
	d := m.Data
	if len(d) < 12 {
		return errShort
	}
	qd := int(binary.BigEndian.Uint16(d[4:]))
	counts := [3]int{int(binary.BigEndian.Uint16(d[6:])), int(binary.BigEndian.Uint16(d[8:])), int(binary.BigEndian.Uint16(d[10:]))}
	off := 12
	for range qd {
		var err error
		if off, err = SkipName(d, off); err != nil {
			return err
		}
		off += 4
	}
	var types [3][]uint16
	for s, n := range counts {
		for range n {
			var err error
			if off, err = SkipName(d, off); err != nil {
				return err
			}
			if off+10 > len(d) {
				return errShort
			}
			typ := binary.BigEndian.Uint16(d[off:])
			off += 10 + int(binary.BigEndian.Uint16(d[off+8:]))
			if off > len(d) {
				return errShort
			}
			// OPT and TSIG go to the library's pseudo section, not to Extra.
			if s == 2 && (typ == dns.TypeOPT || typ == dns.TypeTSIG) {
				continue
			}
			types[s] = append(types[s], typ)
		}
	}
	for s, rrs := range [3][]dns.RR{m.Answer, m.Ns, m.Extra} {
		if len(types[s]) != len(rrs) {
			continue // not the sections these bytes hold: leave them as they are
		}
		for i, rr := range rrs {
			if u, ok := rr.(*dns.RFC3597); ok && u.RRType == 0 {
				u.RRType = types[s][i]
			}
		}
	}
	return nil
}

func hasUnknown(rrs []dns.RR) bool {
	for _, rr := range rrs {
		if u, ok := rr.(*dns.RFC3597); ok && u.RRType == 0 {
			return true
		}
	}
	return false
}
