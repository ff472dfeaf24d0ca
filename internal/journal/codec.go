package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/rdata"

	"warden/internal/wire"
	"warden/internal/zone"
)

// The file is a header and then entries, one per diff, oldest first:
//
//	header: magic (8 bytes) | origin length (2) | origin, wire form | CRC32C of the bytes before (4)
//	entry:  payload length (4) | CRC32C of the length (4) | CRC32C of the payload (4) | payload
//	payload: from serial (4) | to serial (4) | removed count (4) | added count (4) |
//	         From SOA | removed records | To SOA | added records
//
// Records are in DNS wire form without compression, so a record type Warden does not know is kept
// byte for byte. The length has its own checksum so that a damaged length is told apart from an
// entry cut short by a crash: only the second is a torn tail.
const (
	magic          = "WRDNJNL\x01"
	entryHeaderLen = 12
	payloadFixed   = 16
	// maxRecords bounds the record counts an entry may claim, so a damaged count cannot make the
	// reader allocate without limit; a diff of a whole large zone stays far below it.
	maxRecords = 1 << 26
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// encodeHeader returns the file header for origin (lower-case, fully qualified).
func encodeHeader(origin string) ([]byte, error) {
	name, err := wire.AppendName(nil, origin)
	if err != nil {
		return nil, err
	}
	b := append([]byte(magic), 0, 0)
	binary.BigEndian.PutUint16(b[len(magic):], uint16(len(name)))
	b = append(b, name...)
	return binary.BigEndian.AppendUint32(b, checksum(b)), nil
}

// headerError is what is wrong with a file header, and at which byte.
type headerError struct {
	off int64
	msg string
}

func (e *headerError) Error() string { return fmt.Sprintf("offset %d: %s", e.off, e.msg) }

// decodeHeader checks the header at the start of b and returns its length and origin.
func decodeHeader(b []byte) (int, string, error) {
	if len(b) < len(magic) || string(b[:len(magic)]) != magic {
		return 0, "", &headerError{0, "not a Warden journal (no journal magic)"}
	}
	if len(b) < len(magic)+2 {
		return 0, "", &headerError{int64(len(magic)), "header cut short"}
	}
	n := int(binary.BigEndian.Uint16(b[len(magic):]))
	end := len(magic) + 2 + n
	if n < 1 || n > 255 || len(b) < end+4 {
		return 0, "", &headerError{int64(len(magic)), "header cut short or origin length out of range"}
	}
	if got, want := binary.BigEndian.Uint32(b[end:]), checksum(b[:end]); got != want {
		return 0, "", &headerError{int64(end), "header checksum mismatch"}
	}
	name := b[len(magic)+2 : end]
	if wire.NameLen(name) != len(name) {
		return 0, "", &headerError{int64(len(magic) + 2), "origin is not a domain name"}
	}
	return end + 4, strings.ToLower(wire.NameString(name)), nil
}

// encodeEntry returns d as one entry, header included.
func encodeEntry(d zone.Diff) ([]byte, error) {
	b := make([]byte, entryHeaderLen+payloadFixed, entryHeaderLen+payloadFixed+64*(2+len(d.Removed)+len(d.Added)))
	p := b[entryHeaderLen:]
	binary.BigEndian.PutUint32(p[0:], d.From.Serial)
	binary.BigEndian.PutUint32(p[4:], d.To.Serial)
	binary.BigEndian.PutUint32(p[8:], uint32(len(d.Removed)))
	binary.BigEndian.PutUint32(p[12:], uint32(len(d.Added)))
	var pk packer
	var err error
	for _, rrs := range [][]dns.RR{{d.From}, d.Removed, {d.To}, d.Added} {
		if b, err = pk.pack(b, rrs); err != nil {
			return nil, err
		}
	}
	payload := b[entryHeaderLen:]
	binary.BigEndian.PutUint32(b[0:], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[4:], checksum(b[0:4]))
	binary.BigEndian.PutUint32(b[8:], checksum(payload))
	return b, nil
}

// fillerLen is the rdata length of the record packer puts first in each message. It makes every
// later record start past the 14-bit reach of compression pointers, so the message library, which
// compresses whenever it can, writes each name whole.
const fillerLen = 16384

var filler = &dns.RFC3597{
	Hdr:     dns.Header{Name: ".", Class: dns.ClassINET},
	RFC3597: rdata.RFC3597{RRType: 65534, Data: strings.Repeat("00", fillerLen)},
}

// packChunk is how many records go into one message: enough that the filler costs little, few
// enough that a message stays a few hundred kilobytes.
const packChunk = 512

// packer packs records into uncompressed wire form.
type packer struct{ msg dns.Msg }

// pack appends the wire form of rrs to dst.
func (p *packer) pack(dst []byte, rrs []dns.RR) ([]byte, error) {
	const skip = 12 + 1 + 10 + fillerLen // message header, the filler's root owner, fixed fields, rdata
	for len(rrs) > 0 {
		n := min(len(rrs), packChunk)
		p.msg.Answer = append(append(p.msg.Answer[:0], filler), rrs[:n]...)
		p.msg.Data = p.msg.Data[:0]
		if err := p.msg.Pack(); err != nil {
			return nil, fmt.Errorf("pack records (%s …): %w", rrs[0], err)
		}
		if len(p.msg.Data) < skip {
			return nil, errors.New("pack records: message shorter than its filler")
		}
		dst = append(dst, p.msg.Data[skip:]...)
		rrs = rrs[n:]
	}
	p.msg.Answer = p.msg.Answer[:0]
	return dst, nil
}

// decodePayload reads one entry's payload.
func decodePayload(p []byte) (zone.Diff, error) {
	if len(p) < payloadFixed {
		return zone.Diff{}, errors.New("entry shorter than its fixed fields")
	}
	from, to := binary.BigEndian.Uint32(p[0:]), binary.BigEndian.Uint32(p[4:])
	nRemoved, nAdded := binary.BigEndian.Uint32(p[8:]), binary.BigEndian.Uint32(p[12:])
	// Every record takes at least 11 bytes, which bounds the counts before anything is allocated.
	if nRemoved > maxRecords || nAdded > maxRecords || (uint64(nRemoved)+uint64(nAdded)+2)*11 > uint64(len(p)) {
		return zone.Diff{}, fmt.Errorf("record counts %d and %d do not fit the entry's %d bytes", nRemoved, nAdded, len(p))
	}
	r := recordReader{buf: p, off: payloadFixed}
	var d zone.Diff
	var err error
	if d.From, err = r.soa(from); err != nil {
		return zone.Diff{}, err
	}
	if d.Removed, err = r.records(int(nRemoved)); err != nil {
		return zone.Diff{}, err
	}
	if d.To, err = r.soa(to); err != nil {
		return zone.Diff{}, err
	}
	if d.Added, err = r.records(int(nAdded)); err != nil {
		return zone.Diff{}, err
	}
	if r.off != len(p) {
		return zone.Diff{}, fmt.Errorf("%d bytes after the last record", len(p)-r.off)
	}
	return d, nil
}

// recordReader reads records one after another from an entry's payload.
type recordReader struct {
	buf []byte
	off int
}

func (r *recordReader) records(n int) ([]dns.RR, error) {
	out := make([]dns.RR, 0, n)
	for range n {
		rr, err := r.next()
		if err != nil {
			return nil, err
		}
		if dns.RRToType(rr) == dns.TypeSOA {
			return nil, fmt.Errorf("payload byte %d: SOA record among the changes", r.off)
		}
		out = append(out, rr)
	}
	return out, nil
}

func (r *recordReader) soa(serial uint32) (*dns.SOA, error) {
	at := r.off
	rr, err := r.next()
	if err != nil {
		return nil, err
	}
	soa, ok := rr.(*dns.SOA)
	if !ok || soa.Serial != serial {
		return nil, fmt.Errorf("payload byte %d: want the SOA of serial %d, found %s", at, serial, rr)
	}
	return soa, nil
}

// next reads one uncompressed record.
func (r *recordReader) next() (dns.RR, error) {
	start := r.off
	rest := r.buf[start:]
	n := wire.NameLen(rest)
	if n < 0 {
		return nil, fmt.Errorf("payload byte %d: bad owner name", start)
	}
	if len(rest) < n+10 {
		return nil, fmt.Errorf("payload byte %d: record cut short", start)
	}
	typ := binary.BigEndian.Uint16(rest[n:])
	end := n + 10 + int(binary.BigEndian.Uint16(rest[n+8:]))
	if len(rest) < end {
		return nil, fmt.Errorf("payload byte %d: record data cut short", start)
	}
	// A message of one answer around the record lets the message library do the unpacking.
	msg := make([]byte, 12, 12+end)
	binary.BigEndian.PutUint16(msg[6:], 1)
	msg = append(msg, rest[:end]...)
	m, err := wire.Unpack(msg)
	if err != nil {
		return nil, fmt.Errorf("payload byte %d: %w", start, err)
	}
	if len(m.Answer) != 1 || dns.RRToType(m.Answer[0]) != typ {
		return nil, fmt.Errorf("payload byte %d: not one record of type %d", start, typ)
	}
	rr := m.Answer[0]
	r.off += end
	return rr, nil
}
