package tsig

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"warden/internal/wire"
)

// TypeTSIG and ClassANY are the record type and class of a TSIG record (RFC 8945 §4.2).
const (
	TypeTSIG = 250
	ClassANY = 255
	// headerLen is the DNS message header: ID, flags and four section counts.
	headerLen = 12
)

// Record is the TSIG record of a message as read from the wire.
type Record struct {
	KeyName    string // lower-case presentation form
	Algorithm  string // lower-case presentation form
	TimeSigned uint64 // seconds since the epoch (48 bits)
	Fudge      uint16
	MAC        []byte
	OrigID     uint16
	Error      uint16
	Other      []byte
}

// errNoTSIG says a message carries no TSIG record.
var errNoTSIG = errors.New("no tsig record")

// findTSIG walks msg to its last additional record and returns the offset where that record
// starts and the TSIG record it holds, errNoTSIG when the last record is something else (or there
// is none), or an error naming what is malformed. A TSIG anywhere but last is malformed (RFC 8945
// §5.1), and so are bytes after the last record.
func findTSIG(msg []byte) (int, Record, error) {
	if len(msg) < headerLen {
		return 0, Record{}, fmt.Errorf("message of %d bytes is shorter than a header", len(msg))
	}
	qd := int(binary.BigEndian.Uint16(msg[4:]))
	rrs := int(binary.BigEndian.Uint16(msg[6:])) + int(binary.BigEndian.Uint16(msg[8:])) + int(binary.BigEndian.Uint16(msg[10:]))
	off := headerLen
	var err error
	for i := range qd {
		if off, err = wire.SkipName(msg, off); err != nil {
			return 0, Record{}, fmt.Errorf("question %d: %w", i+1, err)
		}
		if off += 4; off > len(msg) {
			return 0, Record{}, fmt.Errorf("question %d: truncated at byte %d", i+1, len(msg))
		}
	}
	last, lastType := -1, uint16(0)
	for i := range rrs {
		start := off
		if off, err = wire.SkipName(msg, off); err != nil {
			return 0, Record{}, fmt.Errorf("record %d: %w", i+1, err)
		}
		if off+10 > len(msg) {
			return 0, Record{}, fmt.Errorf("record %d: truncated at byte %d", i+1, len(msg))
		}
		typ := binary.BigEndian.Uint16(msg[off:])
		if typ == TypeTSIG && i != rrs-1 {
			return 0, Record{}, fmt.Errorf("record %d: TSIG is not the last record", i+1)
		}
		off += 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
		if off > len(msg) {
			return 0, Record{}, fmt.Errorf("record %d: rdata runs past the end at byte %d", i+1, len(msg))
		}
		last, lastType = start, typ
	}
	if off != len(msg) {
		return 0, Record{}, fmt.Errorf("%d bytes after the last record", len(msg)-off)
	}
	if last < 0 || lastType != TypeTSIG {
		return 0, Record{}, errNoTSIG
	}
	if binary.BigEndian.Uint16(msg[10:]) == 0 {
		return 0, Record{}, errors.New("TSIG record outside the additional section")
	}
	rec, err := parseTSIG(msg, last)
	if err != nil {
		return 0, Record{}, fmt.Errorf("TSIG record at byte %d: %w", last, err)
	}
	return last, rec, nil
}

// parseTSIG reads the TSIG record that starts at off and ends the message.
func parseTSIG(msg []byte, off int) (Record, error) {
	var rec Record
	var err error
	if rec.KeyName, off, err = readName(msg, off); err != nil {
		return rec, fmt.Errorf("key name: %w", err)
	}
	if class := binary.BigEndian.Uint16(msg[off+2:]); class != ClassANY {
		return rec, fmt.Errorf("class %d, want ANY", class)
	}
	if ttl := binary.BigEndian.Uint32(msg[off+4:]); ttl != 0 {
		return rec, fmt.Errorf("TTL %d, want 0", ttl)
	}
	end := off + 10 + int(binary.BigEndian.Uint16(msg[off+8:]))
	rd := msg[:end]
	off += 10
	if rec.Algorithm, off, err = readName(rd, off); err != nil {
		return rec, fmt.Errorf("algorithm: %w", err)
	}
	if off+10 > end {
		return rec, errors.New("rdata too short for time, fudge and MAC size")
	}
	rec.TimeSigned = uint64(binary.BigEndian.Uint16(rd[off:]))<<32 | uint64(binary.BigEndian.Uint32(rd[off+2:]))
	rec.Fudge = binary.BigEndian.Uint16(rd[off+6:])
	macLen := int(binary.BigEndian.Uint16(rd[off+8:]))
	off += 10
	if off+macLen+6 > end {
		return rec, fmt.Errorf("MAC of %d bytes runs past the rdata", macLen)
	}
	rec.MAC = rd[off : off+macLen : off+macLen]
	off += macLen
	rec.OrigID = binary.BigEndian.Uint16(rd[off:])
	rec.Error = binary.BigEndian.Uint16(rd[off+2:])
	otherLen := int(binary.BigEndian.Uint16(rd[off+4:]))
	off += 6
	if off+otherLen != end {
		return rec, fmt.Errorf("other data of %d bytes does not fill the rest of the rdata (%d bytes)", otherLen, end-off)
	}
	rec.Other = rd[off:end:end]
	return rec, nil
}

// appendTSIG appends rec as the record ending the message and counts it in ARCOUNT. Names are
// written uncompressed in canonical (lower-case) form, as RFC 8945 §4.2 asks.
func appendTSIG(msg []byte, rec Record) ([]byte, error) {
	out := make([]byte, len(msg), len(msg)+len(rec.KeyName)+len(rec.Algorithm)+30+len(rec.MAC)+len(rec.Other))
	copy(out, msg)
	return appendRecord(out, rec)
}

// appendRecord is appendTSIG in place: the record goes into msg's spare capacity, if it has
// enough.
func appendRecord(out []byte, rec Record) ([]byte, error) {
	out, err := appendName(out, rec.KeyName)
	if err != nil {
		return nil, err
	}
	out = binary.BigEndian.AppendUint16(out, TypeTSIG)
	out = binary.BigEndian.AppendUint16(out, ClassANY)
	out = binary.BigEndian.AppendUint32(out, 0)
	lenAt := len(out)
	out = append(out, 0, 0)
	if out, err = appendName(out, rec.Algorithm); err != nil {
		return nil, err
	}
	out = appendUint48(out, rec.TimeSigned)
	out = binary.BigEndian.AppendUint16(out, rec.Fudge)
	out = binary.BigEndian.AppendUint16(out, uint16(len(rec.MAC)))
	out = append(out, rec.MAC...)
	out = binary.BigEndian.AppendUint16(out, rec.OrigID)
	out = binary.BigEndian.AppendUint16(out, rec.Error)
	out = binary.BigEndian.AppendUint16(out, uint16(len(rec.Other)))
	out = append(out, rec.Other...)
	binary.BigEndian.PutUint16(out[lenAt:], uint16(len(out)-lenAt-2))
	ar := binary.BigEndian.Uint16(out[10:])
	if ar == 0xFFFF {
		return nil, errors.New("additional section is full")
	}
	binary.BigEndian.PutUint16(out[10:], ar+1)
	return out, nil
}

func appendUint48(b []byte, v uint64) []byte {
	return append(b, byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// strip returns msg without its last record (the TSIG starting at tsigAt), with ARCOUNT lowered
// and the ID set back to origID: the message as it was before it was signed.
func strip(msg []byte, tsigAt int, origID uint16) []byte {
	out := make([]byte, tsigAt)
	copy(out, msg[:tsigAt])
	binary.BigEndian.PutUint16(out[0:], origID)
	binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])-1)
	return out
}

// readName reads the name at off, following compression pointers (backwards only), as lower-case
// presentation form, and returns the offset after it.
func readName(msg []byte, off int) (string, int, error) {
	var buf [wire.MaxNameLen]byte
	name, next, err := wire.ReadName(msg, off, buf[:0], true)
	if err != nil {
		return "", 0, err
	}
	return strings.ToLower(wire.NameString(name)), next, nil
}

// appendName appends a lower-case presentation name in uncompressed wire form.
func appendName(dst []byte, name string) ([]byte, error) { return wire.AppendName(dst, fqdn(name)) }
