package zone

import (
	"net/netip"
	"strconv"
	"unsafe"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
)

// The record types the master-file reader builds itself, straight into the loader's blocks. Each
// reads its rdata tokens as the library's parser reads them (scan_rr.go of codeberg.org/miekg/dns)
// and returns nil for anything it is not sure of, which sends the record to the library.

// nativeType returns the type of an upper-case type name the reader builds itself, or 0.
func nativeType(word string) uint16 {
	switch word {
	case "A":
		return dns.TypeA
	case "AAAA":
		return dns.TypeAAAA
	case "NS":
		return dns.TypeNS
	case "CNAME":
		return dns.TypeCNAME
	case "MX":
		return dns.TypeMX
	case "TXT":
		return dns.TypeTXT
	case "SOA":
		return dns.TypeSOA
	case "DS":
		return dns.TypeDS
	case "PTR":
		return dns.TypePTR
	case "DNAME":
		return dns.TypeDNAME
	case "RRSIG":
		return dns.TypeRRSIG
	case "NSEC":
		return dns.TypeNSEC
	case "DNSKEY":
		return dns.TypeDNSKEY
	}
	return 0
}

// view is the bytes of b as a string, for parsing functions that keep nothing of it.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// build makes the record of type typ from its rdata tokens, or returns nil. Its owner is left
// for the caller to set.
func (r *masterReader) build(typ uint16, ttl uint32, rd []mfToken) dns.RR {
	for _, t := range rd {
		if t.quoted && typ != dns.TypeTXT {
			return nil
		}
	}
	hdr := dns.Header{TTL: ttl, Class: dns.ClassINET}
	mem := &r.l.mem
	switch typ {
	case dns.TypeA:
		if len(rd) != 1 {
			return nil
		}
		a, err := netip.ParseAddr(view(r.bytesOf(rd[0])))
		if err != nil || !a.Is4() {
			return nil
		}
		rr := mem.a.get()
		rr.Hdr, rr.Addr = hdr, a
		return rr
	case dns.TypeAAAA:
		if len(rd) != 1 {
			return nil
		}
		a, err := netip.ParseAddr(view(r.bytesOf(rd[0])))
		if err != nil || !a.Is6() {
			return nil
		}
		rr := mem.aaaa.get()
		rr.Hdr, rr.Addr = hdr, a
		return rr
	case dns.TypeNS:
		target, ok := r.target(rd, 0)
		if !ok || len(rd) != 1 {
			return nil
		}
		rr := mem.ns.get()
		rr.Hdr, rr.Ns = hdr, target
		return rr
	case dns.TypeCNAME:
		target, ok := r.target(rd, 0)
		if !ok || len(rd) != 1 {
			return nil
		}
		rr := mem.cname.get()
		rr.Hdr, rr.Target = hdr, target
		return rr
	case dns.TypePTR:
		target, ok := r.target(rd, 0)
		if !ok || len(rd) != 1 {
			return nil
		}
		rr := &dns.PTR{Hdr: hdr}
		rr.Ptr = target
		return rr
	case dns.TypeDNAME:
		target, ok := r.target(rd, 0)
		if !ok || len(rd) != 1 {
			return nil
		}
		rr := &dns.DNAME{Hdr: hdr}
		rr.Target = target
		return rr
	case dns.TypeMX:
		if len(rd) != 2 {
			return nil
		}
		pref, err := strconv.ParseUint(view(r.bytesOf(rd[0])), 10, 16)
		target, ok := r.target(rd, 1)
		if err != nil || !ok {
			return nil
		}
		rr := mem.mx.get()
		rr.Hdr, rr.Preference, rr.Mx = hdr, uint16(pref), target
		return rr
	case dns.TypeTXT:
		return r.buildTXT(hdr, rd)
	case dns.TypeSOA:
		return r.buildSOA(hdr, rd)
	case dns.TypeDS:
		return r.buildDS(hdr, rd)
	case dns.TypeRRSIG:
		return r.buildRRSIG(hdr, rd)
	case dns.TypeNSEC:
		return r.buildNSEC(hdr, rd)
	case dns.TypeDNSKEY:
		return r.buildDNSKEY(hdr, rd)
	}
	return nil
}

// target returns the absolute name token i stands for, with its case; a name outside the zone
// as a string shared with every other record naming it (a TLD's thousands of delegations name the
// same few hundred servers).
func (r *masterReader) target(rd []mfToken, i int) (string, bool) {
	if i >= len(rd) {
		return "", false
	}
	name, ok := absName(r.nameBuf[:0], r.bytesOf(rd[i]), r.origin)
	r.nameBuf = name
	if !ok {
		return "", false
	}
	if r.l.inZone(name) {
		return r.l.mem.str(name), true // a name of the zone is seldom named by many records
	}
	return r.l.intern(name), true
}

// buildTXT reads character strings, quoted or not, of at most 255 bytes without escapes (the
// library splits longer ones).
func (r *masterReader) buildTXT(hdr dns.Header, rd []mfToken) dns.RR {
	if len(rd) == 0 {
		return nil
	}
	for _, t := range rd {
		if t.end-t.start > 255 {
			return nil
		}
	}
	mem := &r.l.mem
	rr := mem.txt.get()
	rr.Hdr = hdr
	rr.Txt = mem.strs.take(len(rd))
	for i, t := range rd {
		rr.Txt[i] = mem.str(r.bytesOf(t))
	}
	return rr
}

// buildSOA reads MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM; all but the serial may be
// written with units, as TTLs are.
func (r *masterReader) buildSOA(hdr dns.Header, rd []mfToken) dns.RR {
	if len(rd) != 7 {
		return nil
	}
	rr := &dns.SOA{Hdr: hdr}
	var ok bool
	if rr.Ns, ok = r.target(rd, 0); !ok {
		return nil
	}
	if rr.Mbox, ok = r.target(rd, 1); !ok {
		return nil
	}
	var v [5]uint32
	for i := range v {
		b := r.bytesOf(rd[2+i])
		n, err := strconv.ParseUint(view(b), 10, 32)
		switch {
		case err == nil:
			v[i] = uint32(n)
		case i == 0:
			return nil
		default:
			if v[i], ok = stringToTTL(b); !ok {
				return nil
			}
		}
	}
	rr.Serial, rr.Refresh, rr.Retry, rr.Expire, rr.Minttl = v[0], v[1], v[2], v[3], v[4]
	return rr
}

// buildDS reads KEYTAG ALGORITHM DIGESTTYPE DIGEST, the digest possibly split into several
// tokens, joined as the library joins them. An algorithm by name is left to the library.
func (r *masterReader) buildDS(hdr dns.Header, rd []mfToken) dns.RR {
	if len(rd) < 4 {
		return nil
	}
	tag, alg, dt, ok := r.keyNumbers(rd)
	if !ok {
		return nil
	}
	digest := r.joined(rd[3:])
	mem := &r.l.mem
	rr := mem.ds.get()
	rr.Hdr = hdr
	rr.KeyTag, rr.Algorithm, rr.DigestType, rr.Digest = uint16(tag), uint8(alg), uint8(dt), mem.str(digest)
	return rr
}

// buildRRSIG reads TYPE ALGORITHM LABELS ORIGTTL EXPIRATION INCEPTION KEYTAG SIGNER SIGNATURE, the
// signature possibly split into several tokens (signed zones are written so), joined as the
// library joins them. A covered type as TYPEn or an algorithm by name is left to the library.
func (r *masterReader) buildRRSIG(hdr dns.Header, rd []mfToken) dns.RR {
	if len(rd) < 9 {
		return nil
	}
	covered, ok := typeByName(r.bytesOf(rd[0]))
	if !ok {
		return nil
	}
	var n [4]uint64
	for i, bits := range [4]int{8, 8, 32, 16} {
		tok := rd[1+i]
		if i == 3 {
			tok = rd[6] // the key tag, after the two times
		}
		v, err := strconv.ParseUint(view(r.bytesOf(tok)), 10, bits)
		if err != nil {
			return nil
		}
		n[i] = v
	}
	var times [2]uint32
	for i := range times {
		b := view(r.bytesOf(rd[4+i]))
		t, err := dnsutil.StringToTime(b)
		if err != nil {
			v, err := strconv.ParseUint(b, 10, 32)
			if err != nil {
				return nil
			}
			t = uint32(v)
		}
		times[i] = t
	}
	signer, ok := r.target(rd, 7)
	if !ok {
		return nil
	}
	sig := r.joined(rd[8:])
	mem := &r.l.mem
	rr := mem.rrsig.get()
	rr.Hdr = hdr
	rr.TypeCovered, rr.Algorithm, rr.Labels, rr.OrigTTL = covered, uint8(n[0]), uint8(n[1]), uint32(n[2])
	rr.Expiration, rr.Inception, rr.KeyTag = times[0], times[1], uint16(n[3])
	rr.SignerName, rr.Signature = signer, mem.str(sig)
	return rr
}

// typeByName returns the type a mnemonic names, in any case ("nsec3param"), as the library's
// table has it.
func typeByName(b []byte) (uint16, bool) {
	var buf [16]byte
	if len(b) > len(buf) {
		return 0, false
	}
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	t, ok := dns.StringToType[string(buf[:len(b)])]
	return t, ok
}

// buildNSEC reads NEXT TYPE..., the types kept in the order written, as the library keeps them.
func (r *masterReader) buildNSEC(hdr dns.Header, rd []mfToken) dns.RR {
	next, ok := r.target(rd, 0)
	if !ok {
		return nil
	}
	mem := &r.l.mem
	types := mem.types.take(len(rd) - 1)
	for i, t := range rd[1:] {
		b := r.bytesOf(t)
		typ, ok := typeByName(b)
		if !ok {
			// The library reads any other word as TYPEn, taking the number after its first
			// four characters whatever they are.
			if len(b) < 5 {
				return nil
			}
			v, err := strconv.ParseUint(view(b[4:]), 10, 16)
			if err != nil {
				return nil
			}
			typ = uint16(v)
		}
		types[i] = typ
	}
	rr := mem.nsec.get()
	rr.Hdr = hdr
	rr.NextDomain, rr.TypeBitMap = next, types
	return rr
}

// buildDNSKEY reads FLAGS PROTOCOL ALGORITHM KEY, the key possibly split into several tokens.
func (r *masterReader) buildDNSKEY(hdr dns.Header, rd []mfToken) dns.RR {
	if len(rd) < 4 {
		return nil
	}
	flags, proto, alg, ok := r.keyNumbers(rd)
	if !ok {
		return nil
	}
	key := r.joined(rd[3:])
	rr := &dns.DNSKEY{Hdr: hdr}
	rr.Flags, rr.Protocol, rr.Algorithm, rr.PublicKey = uint16(flags), uint8(proto), uint8(alg), r.l.mem.str(key)
	return rr
}

// keyNumbers reads the three numbers DS and DNSKEY begin with (a 16-bit one, then two of 8
// bits: key tag, algorithm and digest type; flags, protocol and algorithm).
func (r *masterReader) keyNumbers(rd []mfToken) (a, b, c uint64, ok bool) {
	a, err1 := strconv.ParseUint(view(r.bytesOf(rd[0])), 10, 16)
	b, err2 := strconv.ParseUint(view(r.bytesOf(rd[1])), 10, 8)
	c, err3 := strconv.ParseUint(view(r.bytesOf(rd[2])), 10, 8)
	return a, b, c, err1 == nil && err2 == nil && err3 == nil
}

// joined gives the tokens' bytes run together, as the library joins a digest, key or signature
// written in several pieces; the result lives in the reader's scratch buffer until the next call.
func (r *masterReader) joined(ts []mfToken) []byte {
	b := r.textBuf[:0]
	for _, t := range ts {
		b = append(b, r.bytesOf(t)...)
	}
	r.textBuf = b
	return b
}
