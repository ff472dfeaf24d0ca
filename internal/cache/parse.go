package cache

import (
	"encoding/binary"
	"errors"
	"fmt"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
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

// packed is a validated upstream response, re-packed for storage.
type packed struct {
	name          []byte // lower-case question name
	qtype, qclass uint16
	do            bool
	secure        bool
	rcode         uint8
	ttl           uint32 // lifetime before the cache's clamps (negative: RFC 2308 §5 rule)
	negative      bool
	t             wire.Template // its slices are the builder's
}

// record is one resource record as read from the upstream message.
type record struct {
	off          int // where the record starts, for error messages
	owner        []byte
	typ, class   uint16
	ttl          uint32
	rdOff, rdEnd int
}

// parse validates msg strictly and re-packs it with b. Errors name what is wrong and its byte offset.
func parse(msg []byte, b *wire.Builder) (*packed, error) {
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
	var nameBuf [wire.MaxNameLen]byte
	off := headerLen
	qname, off, err := wire.ReadName(msg, off, nameBuf[:0], false)
	if err != nil {
		return nil, fmt.Errorf("question: %w", err)
	}
	if off+4 > len(msg) {
		return nil, fmt.Errorf("offset %d: question type and class cut short", off)
	}
	p := &packed{name: wire.Lower(make([]byte, 0, len(qname)), qname)}
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
		owner, off, err = wire.ReadName(msg, off, nil, true)
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
	if meta(p.qtype) {
		return nil, fmt.Errorf("%w: meta query type %d", ErrUncacheable, p.qtype)
	}
	p.rcode = uint8(rcode)

	return p.finish(msg, recs, an, ns, b)
}

// meta says whether qtype asks for something other than an RRset: no answer to it is cached.
func meta(qtype uint16) bool {
	switch qtype {
	case typeOPT, typeTSIG, typeIXFR, typeAXFR, typeMAILA, typeMAILB, typeANY:
		return true
	}
	return false
}

// finish computes the lifetime and re-packs the records. an and ns are the header counts; OPT and
// TSIG records, dropped from recs, can only have been in the additional section.
func (p *packed) finish(msg []byte, recs []record, an, ns int, b *wire.Builder) (*packed, error) {
	p.negative = p.rcode == rcodeNXDomain || an == 0
	life := newLifetime(p.negative)
	for i, r := range recs[:min(an+ns, len(recs))] {
		var minimum uint32
		if r.typ == typeSOA {
			minimum = binary.BigEndian.Uint32(msg[r.rdEnd-4:])
		}
		life.add(i >= an, r.typ, r.ttl, minimum)
	}
	var err error
	if p.ttl, err = life.result(); err != nil {
		return nil, err
	}

	b.ResetStored(p.name)
	b.SetRcode(p.rcode, false)
	b.SetRA()
	for i, r := range recs {
		s := wire.Additional
		if i < an {
			s = wire.Answer
		} else if i < an+ns {
			s = wire.Authority
		}
		if err := b.AddWire(s, r.owner, r.typ, r.class, r.ttl); err != nil {
			return nil, fmt.Errorf("record %d at offset %d: %w", i+1, r.off, err)
		}
		if layout, ok := layouts[r.typ]; ok {
			if _, err := walkRdata(msg, &r, layout, func(f field, data []byte) {
				switch f {
				case fName:
					b.RdataName(data, true)
				case fPlain:
					b.RdataName(data, false)
				default:
					b.RdataBytes(data)
				}
			}); err != nil {
				return nil, fmt.Errorf("record %d at offset %d: %w", i+1, r.off, err)
			}
		} else {
			b.RdataBytes(msg[r.rdOff:r.rdEnd])
		}
		if err := b.EndRecord(); err != nil {
			return nil, fmt.Errorf("record %d at offset %d: %w", i+1, r.off, err)
		}
	}
	p.t = b.Finish()
	return p, nil
}

// lifetime computes how long an answer lives from its answer and authority records: the smallest
// TTL, and for a negative answer (NXDOMAIN, NODATA) the SOA's min(TTL, MINIMUM) (RFC 2308 §5).
type lifetime struct {
	negative, sawSOA bool
	min              uint64
}

func newLifetime(negative bool) lifetime { return lifetime{negative: negative, min: 1 << 32} }

// add counts one record; minimum is the MINIMUM field of an SOA record.
func (l *lifetime) add(authority bool, typ uint16, ttl, minimum uint32) {
	if ttl > 1<<31-1 {
		ttl = 0 // RFC 2181 §8: a TTL with the top bit set means zero
	}
	if l.negative && authority && typ == typeSOA {
		l.sawSOA = true
		ttl = min(ttl, minimum)
	}
	l.min = min(l.min, uint64(ttl))
}

func (l *lifetime) result() (uint32, error) {
	if l.negative && !l.sawSOA {
		// RFC 2308 §5: without an SOA there is no bound on how long the denial holds. A referral
		// or a lame reply lands here too; neither answers the question.
		return 0, fmt.Errorf("%w: no answer and no SOA in the authority section", ErrUncacheable)
	}
	if l.min == 1<<32 {
		return 0, nil
	}
	return uint32(l.min), nil
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
	var buf [wire.MaxNameLen]byte
	for _, f := range layout {
		var size int
		switch f {
		case fName, fPlain:
			name, next, err := wire.ReadName(msg[:r.rdEnd], off, buf[:0], true)
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
				name, next, err := wire.ReadName(msg[:r.rdEnd], off, buf[:0], true)
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
