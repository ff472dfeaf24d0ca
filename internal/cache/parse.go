package cache

import (
	"encoding/binary"
	"errors"
	"fmt"

	"codeberg.org/miekg/dns"
)

// ErrUncacheable wraps the reasons a well-formed response is still not stored: an rcode other than
// NOERROR or NXDOMAIN, a truncated response, a negative answer without an SOA record to bound its
// lifetime (RFC 2308 §5), or a meta query type.
var ErrUncacheable = errors.New("response is not cacheable")

// Record types the parser treats specially.
const (
	typeA     = 1
	typeSOA   = 6
	typeSIG   = 24
	typeAAAA  = 28
	typeOPT   = 41
	typeTSIG  = 250
	typeIXFR  = 251
	typeAXFR  = 252
	typeMAILB = 253
	typeMAILA = 254
	typeANY   = 255

	rcodeNoError  = 0
	rcodeNXDomain = 3

	headerLen = 12
	maxName   = 255
)

// field is one piece of rdata whose layout the cache must know to re-pack names.
type field uint8

const (
	fName    field = iota // a domain name that may be compressed (RFC 1035 types, RFC 3597 §4)
	fPlain                // a domain name written uncompressed (every later type)
	fFixed2               // 2 bytes
	fFixed4               // 4 bytes
	fFixed5               // 5 bytes
	fFixed6               // 6 bytes
	fFixed18              // 18 bytes (the fixed part of RRSIG and SIG)
	fFixed20              // 20 bytes (the SOA counters)
	fString               // one <character-string>
	fRest                 // opaque bytes up to the end of the rdata
	fHIP                  // HIP's lengths, HIT and public key (RFC 8005 §5)
	fNames                // uncompressed names up to the end of the rdata
)

// layouts lists the rdata of every type that contains domain names. Upstreams may compress those
// names (RFC 3597 §4 asks receivers to decompress them), so they are decompressed on Put and
// re-compressed against the stored message; the rdata of any other type is copied as it came.
var layouts = map[uint16][]field{
	2:   {fName},                                      // NS
	3:   {fName},                                      // MD
	4:   {fName},                                      // MF
	5:   {fName},                                      // CNAME
	6:   {fName, fName, fFixed20},                     // SOA
	7:   {fName},                                      // MB
	8:   {fName},                                      // MG
	9:   {fName},                                      // MR
	12:  {fName},                                      // PTR
	14:  {fName, fName},                               // MINFO
	15:  {fFixed2, fName},                             // MX
	17:  {fPlain, fPlain},                             // RP
	18:  {fFixed2, fPlain},                            // AFSDB
	21:  {fFixed2, fPlain},                            // RT
	24:  {fFixed18, fPlain, fRest},                    // SIG
	26:  {fFixed2, fPlain, fPlain},                    // PX
	33:  {fFixed6, fPlain},                            // SRV
	35:  {fFixed4, fString, fString, fString, fPlain}, // NAPTR
	36:  {fFixed2, fPlain},                            // KX
	39:  {fPlain},                                     // DNAME
	46:  {fFixed18, fPlain, fRest},                    // RRSIG
	47:  {fPlain, fRest},                              // NSEC
	23:  {fPlain},                                     // NSAP-PTR
	30:  {fPlain, fRest},                              // NXT
	249: {fPlain, fRest},                              // TKEY
	55:  {fHIP, fNames},                               // HIP
	58:  {fPlain, fPlain},                             // TALINK
	64:  {fFixed2, fPlain, fRest},                     // SVCB
	65:  {fFixed2, fPlain, fRest},                     // HTTPS
	66:  {fFixed5, fPlain},                            // DSYNC
	107: {fFixed2, fPlain},                            // LP
}

// ttlField is where one record's TTL sits in the stored sections. orig is the record's own TTL for
// additional records, whose lifetime does not bound the entry's; answerTTL marks the others, which
// always show the entry's remaining lifetime.
type ttlField struct {
	pos  uint16
	orig uint32
}

const answerTTL = ^uint32(0)

// packed is a validated upstream response, re-packed for storage.
type packed struct {
	name          []byte // lower-case question name
	qtype, qclass uint16
	do            bool
	rcode         uint8
	negative      bool
	ttl           uint32 // min TTL of answer and authority (negative: RFC 2308 §5 rule), unclamped
	tail          []byte // answer, authority and additional sections
	ttls          []ttlField
	an, ns, ar    uint16
	mustEnd       uint16 // end of the answer and authority sections in tail
}

// record is one resource record as read from the upstream message.
type record struct {
	off          int // where the record starts, for error messages
	owner        []byte
	typ, class   uint16
	ttl          uint32
	rdOff, rdEnd int
}

// parse validates msg strictly and re-packs it. Errors name what is wrong and its byte offset.
func parse(msg []byte) (*packed, error) {
	if len(msg) < headerLen {
		return nil, fmt.Errorf("message of %d bytes is shorter than the header", len(msg))
	}
	flags := binary.BigEndian.Uint16(msg[2:])
	if flags&0x8000 == 0 {
		return nil, errors.New("offset 2: not a response (QR=0)")
	}
	if op := (flags >> 11) & 0xF; op != 0 {
		return nil, fmt.Errorf("offset 2: opcode %d is not QUERY", op)
	}
	qd := binary.BigEndian.Uint16(msg[4:])
	an := int(binary.BigEndian.Uint16(msg[6:]))
	ns := int(binary.BigEndian.Uint16(msg[8:]))
	ar := int(binary.BigEndian.Uint16(msg[10:]))
	if qd != 1 {
		return nil, fmt.Errorf("offset 4: %d questions, want 1", qd)
	}
	var nameBuf [maxName]byte
	off := headerLen
	qname, off, err := readName(msg, off, nameBuf[:0], false)
	if err != nil {
		return nil, fmt.Errorf("question: %w", err)
	}
	if off+4 > len(msg) {
		return nil, fmt.Errorf("offset %d: question type and class cut short", off)
	}
	p := &packed{name: lowerName(qname)}
	p.qtype = binary.BigEndian.Uint16(msg[off:])
	p.qclass = binary.BigEndian.Uint16(msg[off+2:])
	off += 4

	// The smallest record (root owner, no rdata) takes 11 bytes; counts that claim more records
	// than fit are rejected before they size anything.
	if fit := (len(msg) - off) / 11; an+ns+ar > fit {
		return nil, fmt.Errorf("offset 6: counts claim %d records, at most %d fit in the %d bytes left", an+ns+ar, fit, len(msg)-off)
	}
	recs := make([]record, 0, an+ns+ar)
	seenOPT := false
	var extRcode uint8
	for i := 0; i < an+ns+ar; i++ {
		var r record
		r.off = off
		if off >= len(msg) {
			return nil, fmt.Errorf("offset %d: record %d of %d missing", off, i+1, an+ns+ar)
		}
		var owner []byte
		owner, off, err = readName(msg, off, nil, true)
		if err != nil {
			return nil, fmt.Errorf("record %d owner: %w", i+1, err)
		}
		if off+10 > len(msg) {
			return nil, fmt.Errorf("offset %d: record %d header cut short", off, i+1)
		}
		r.owner = owner
		r.typ = binary.BigEndian.Uint16(msg[off:])
		r.class = binary.BigEndian.Uint16(msg[off+2:])
		r.ttl = binary.BigEndian.Uint32(msg[off+4:])
		rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
		r.rdOff = off + 10
		r.rdEnd = r.rdOff + rdlen
		if r.rdEnd > len(msg) {
			return nil, fmt.Errorf("offset %d: record %d rdata of %d bytes runs past the end", off+8, i+1, rdlen)
		}
		off = r.rdEnd
		switch r.typ {
		case typeOPT:
			if i < an+ns {
				return nil, fmt.Errorf("offset %d: OPT record outside the additional section", r.off)
			}
			if seenOPT {
				return nil, fmt.Errorf("offset %d: second OPT record", r.off)
			}
			if len(owner) != 1 {
				return nil, fmt.Errorf("offset %d: OPT record owner is not the root", r.off)
			}
			seenOPT = true
			extRcode = uint8(r.ttl >> 24)
			p.do = r.ttl&(1<<15) != 0
			continue
		case typeSIG:
			// SIG(0) (RFC 2931) signs the transaction, not data: the last additional record,
			// covering type 0.
			if i == an+ns+ar-1 && i >= an+ns && r.rdEnd-r.rdOff >= 2 && binary.BigEndian.Uint16(msg[r.rdOff:]) == 0 {
				continue
			}
		case typeTSIG:
			if i < an+ns || i != an+ns+ar-1 {
				return nil, fmt.Errorf("offset %d: TSIG record is not the last additional record", r.off)
			}
			continue
		}
		if err := checkRdata(msg, &r); err != nil {
			return nil, fmt.Errorf("record %d (type %d) at offset %d: %w", i+1, r.typ, r.off, err)
		}
		recs = append(recs, r)
	}
	if off != len(msg) {
		return nil, fmt.Errorf("offset %d: %d bytes after the last record", off, len(msg)-off)
	}
	// A second reading by the DNS library checks the rdata of every type it knows (lengths, the
	// syntax of SVCB parameters, type bitmaps, ...), so nothing is stored that a client cannot parse.
	m := dns.Msg{Data: msg}
	if err := m.Unpack(); err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}

	rcode := int(extRcode)<<4 | int(flags&0xF)
	if rcode != rcodeNoError && rcode != rcodeNXDomain {
		return nil, fmt.Errorf("%w: rcode %d", ErrUncacheable, rcode)
	}
	if flags&0x0200 != 0 {
		return nil, fmt.Errorf("%w: truncated (TC=1)", ErrUncacheable)
	}
	switch p.qtype {
	case typeOPT, typeTSIG, typeIXFR, typeAXFR, typeMAILA, typeMAILB, typeANY:
		return nil, fmt.Errorf("%w: meta query type %d", ErrUncacheable, p.qtype)
	}
	p.rcode = uint8(rcode)

	return p.finish(msg, recs, an, ns)
}

// finish computes the lifetime and re-packs the records. an and ns are the header counts; OPT and
// TSIG records, dropped from recs, can only have been in the additional section.
func (p *packed) finish(msg []byte, recs []record, an, ns int) (*packed, error) {
	p.negative = p.rcode == rcodeNXDomain || an == 0
	minTTL := uint64(1) << 32
	sawSOA := false
	for i, r := range recs[:min(an+ns, len(recs))] {
		ttl := r.ttl
		if ttl > 1<<31-1 {
			ttl = 0 // RFC 2181 §8: a TTL with the top bit set means zero
		}
		if p.negative && i >= an && r.typ == typeSOA {
			sawSOA = true
			// RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM).
			minimum := binary.BigEndian.Uint32(msg[r.rdEnd-4:])
			ttl = min(ttl, minimum)
		}
		minTTL = min(minTTL, uint64(ttl))
	}
	if p.negative && !sawSOA {
		// RFC 2308 §5: without an SOA there is no bound on how long the denial holds. A referral
		// or a lame reply lands here too; neither answers the question.
		return nil, fmt.Errorf("%w: no answer and no SOA in the authority section", ErrUncacheable)
	}
	if minTTL == 1<<32 {
		minTTL = 0
	}
	p.ttl = uint32(minTTL)

	pk := newPacker(p.name)
	for i, r := range recs {
		switch {
		case i < an:
			p.an++
		case i < an+ns:
			p.ns++
		default:
			if p.ar == 0 {
				p.mustEnd = uint16(len(pk.tail))
			}
			pk.additional = true
			p.ar++
		}
		orig := answerTTL
		if pk.additional {
			orig = r.ttl
			if orig > 1<<31-1 {
				orig = 0 // RFC 2181 §8
			}
		}
		if err := pk.record(msg, &r, orig); err != nil {
			return nil, fmt.Errorf("record %d at offset %d: %w", i+1, r.off, err)
		}
	}
	if p.ar == 0 {
		p.mustEnd = uint16(len(pk.tail))
	}
	p.tail, p.ttls = pk.tail, pk.ttls
	return p, nil
}

// readName reads a name at off into dst and returns it with the offset just past it. Pointers must
// point backwards (which rules out loops); the question name may not use them at all.
func readName(msg []byte, off int, dst []byte, pointers bool) ([]byte, int, error) {
	next := -1
	start := off
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
		if len(dst)+l+1 > maxName {
			return nil, 0, fmt.Errorf("offset %d: name longer than %d bytes", off, maxName)
		}
		if off+1+l > len(msg) {
			return nil, 0, fmt.Errorf("offset %d: label runs past the end", off)
		}
		dst = append(dst, msg[off:off+1+l]...)
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

// checkRdata checks the rdata of the types whose layout the cache relies on.
func checkRdata(msg []byte, r *record) error {
	n := r.rdEnd - r.rdOff
	switch r.typ {
	case typeA:
		if n != 4 {
			return fmt.Errorf("A rdata of %d bytes, want 4", n)
		}
		return nil
	case typeAAAA:
		if n != 16 {
			return fmt.Errorf("AAAA rdata of %d bytes, want 16", n)
		}
		return nil
	}
	layout, ok := layouts[r.typ]
	if !ok {
		return nil
	}
	_, err := walkRdata(msg, r, layout, nil)
	return err
}

// walkRdata steps through rdata by layout; emit, when not nil, receives each field.
func walkRdata(msg []byte, r *record, layout []field, emit func(f field, data []byte)) (int, error) {
	off := r.rdOff
	var buf [maxName]byte
	for _, f := range layout {
		var size int
		switch f {
		case fName, fPlain:
			name, next, err := readName(msg[:r.rdEnd], off, buf[:0], true)
			if err != nil {
				return 0, fmt.Errorf("rdata name: %w", err)
			}
			off = next
			if emit != nil {
				emit(f, name)
			}
			continue
		case fFixed2:
			size = 2
		case fFixed4:
			size = 4
		case fFixed5:
			size = 5
		case fFixed6:
			size = 6
		case fFixed18:
			size = 18
		case fFixed20:
			size = 20
		case fString:
			if off >= r.rdEnd {
				return 0, fmt.Errorf("offset %d: character-string missing", off)
			}
			size = 1 + int(msg[off])
		case fRest:
			size = r.rdEnd - off
		case fHIP:
			if off+4 > r.rdEnd {
				return 0, fmt.Errorf("offset %d: HIP lengths cut short", off)
			}
			size = 4 + int(msg[off]) + int(binary.BigEndian.Uint16(msg[off+2:]))
		case fNames:
			for off < r.rdEnd {
				name, next, err := readName(msg[:r.rdEnd], off, buf[:0], true)
				if err != nil {
					return 0, fmt.Errorf("rdata name: %w", err)
				}
				off = next
				if emit != nil {
					emit(fPlain, name)
				}
			}
			continue
		}
		if off+size > r.rdEnd {
			return 0, fmt.Errorf("offset %d: rdata cut short", off)
		}
		if emit != nil {
			emit(f, msg[off:off+size])
		}
		off += size
	}
	if off != r.rdEnd {
		return 0, fmt.Errorf("offset %d: %d bytes of rdata left over", off, r.rdEnd-off)
	}
	return off, nil
}

func lowerName(name []byte) []byte {
	out := make([]byte, len(name))
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// packer writes records for a stored entry. The question in front of the stored sections is always
// the entry's own name (a hit needs the same name, only its letter case may differ), so the question
// has a fixed length and pointers into it or into the sections are plain message offsets; no
// relocation is needed on a hit, unlike wire.Template, which serves many names.
type packer struct {
	qend       int
	tail       []byte
	ttls       []ttlField
	dict       map[string]uint16 // lower-case wire suffix -> message offset of its first copy
	additional bool
}

func newPacker(qname []byte) *packer {
	pk := &packer{qend: headerLen + len(qname) + 4, dict: make(map[string]uint16, 8)}
	for off := 0; off < len(qname) && qname[off] != 0; off += int(qname[off]) + 1 {
		pk.dict[string(qname[off:])] = uint16(headerLen + off)
	}
	return pk
}

func (pk *packer) record(msg []byte, r *record, orig uint32) error {
	pk.name(r.owner, true)
	var fixed [8]byte
	binary.BigEndian.PutUint16(fixed[0:], r.typ)
	binary.BigEndian.PutUint16(fixed[2:], r.class)
	binary.BigEndian.PutUint32(fixed[4:], r.ttl)
	if len(pk.tail)+4 > 0xFFFF {
		return errors.New("sections exceed the DNS message size")
	}
	pk.ttls = append(pk.ttls, ttlField{pos: uint16(len(pk.tail) + 4), orig: orig})
	pk.tail = append(pk.tail, fixed[:]...)
	lenAt := len(pk.tail)
	pk.tail = append(pk.tail, 0, 0)
	if layout, ok := layouts[r.typ]; ok {
		if _, err := walkRdata(msg, r, layout, func(f field, data []byte) {
			switch f {
			case fName:
				pk.name(data, true)
			case fPlain:
				pk.name(data, false)
			default:
				pk.tail = append(pk.tail, data...)
			}
		}); err != nil {
			return err
		}
	} else {
		pk.tail = append(pk.tail, msg[r.rdOff:r.rdEnd]...)
	}
	rdlen := len(pk.tail) - lenAt - 2
	if rdlen > 0xFFFF || pk.qend+len(pk.tail) > 0xFFFF {
		return errors.New("sections exceed the DNS message size")
	}
	binary.BigEndian.PutUint16(pk.tail[lenAt:], uint16(rdlen))
	return nil
}

// name writes a wire name (decompressed, case as received), compressed when compress is set. Names in
// the additional section are never pointer targets, so a hit may drop that section whole.
func (pk *packer) name(name []byte, compress bool) {
	var low [maxName]byte
	lower := low[:len(name)]
	for i, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	for off := 0; off < len(name); off += int(name[off]) + 1 {
		if name[off] == 0 {
			pk.tail = append(pk.tail, 0)
			return
		}
		if compress {
			if at, ok := pk.dict[string(lower[off:])]; ok {
				pk.tail = binary.BigEndian.AppendUint16(pk.tail, 0xC000|at)
				return
			}
		}
		if at := pk.qend + len(pk.tail); !pk.additional && at < 0x3FFF {
			if _, seen := pk.dict[string(lower[off:])]; !seen {
				pk.dict[string(lower[off:])] = uint16(at)
			}
		}
		pk.tail = append(pk.tail, name[off:off+int(name[off])+1]...)
	}
}
