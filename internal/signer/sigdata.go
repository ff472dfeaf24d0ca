package signer

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"slices"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
)

// The signed data of an RRSIG (RFC 4034 §3.1.8.1) is built here, into buffers a worker keeps
// from one RRset to the next, rather than by the library's RRSIG.Sign: that one clones and
// re-packs every record through a message for each key, allocates a buffer of 4 KiB per call,
// and silently signs a truncated RRset when the set does not fit in that buffer.

// rrsetSigner is one signing worker's state. It is not safe for use by two goroutines.
type rrsetSigner struct {
	j     *job
	owner []byte // the RRset's owner in canonical (lower-case) wire form
	rdata []byte // the canonical RDATA of the set's records, back to back
	ends  []int  // where each record's RDATA ends in rdata
	order []int  // the records by canonical RDATA order (RFC 4034 §6.3)
	body  []byte // the records' part of the signed data, in canonical order
	data  []byte // the whole signed data, for algorithms that hash it themselves
	sum   []byte
	h     hash.Hash
	sig   [64]byte // an ECDSA P-256 signature as r || s
	// sigs is a block the next RRSIGs are taken from: one allocation for many records, which
	// live as long as the zone does anyway.
	sigs []dns.RRSIG
}

const sigBlock = 256

func (s *rrsetSigner) newRRSIG() *dns.RRSIG {
	if len(s.sigs) == 0 {
		s.sigs = make([]dns.RRSIG, sigBlock)
	}
	sig := &s.sigs[0]
	s.sigs = s.sigs[1:]
	return sig
}

func newRRsetSigner(j *job) *rrsetSigner {
	return &rrsetSigner{j: j, h: sha256.New()}
}

// signingKey is a key of a job with what every signature of it repeats, worked out once.
type signingKey struct {
	key *Key
	tag uint16
	alg uint8
}

func signingKeys(keys []*Key) []signingKey {
	out := make([]signingKey, len(keys))
	for i, k := range keys {
		out[i] = signingKey{key: k, tag: k.Tag(), alg: k.DNSKEY.Algorithm}
	}
	return out
}

// sign appends the signatures of one RRset to out, one per key.
func (s *rrsetSigner) sign(out []dns.RR, rrs []dns.RR, keys []signingKey) ([]dns.RR, error) {
	h0 := rrs[0].Header()
	t := dns.RRToType(rrs[0])
	if err := s.prepare(rrs, t); err != nil {
		return out, err
	}
	labels := uint8(wire.LabelCount(s.owner))
	if len(s.owner) > 1 && s.owner[0] == 1 && s.owner[1] == '*' {
		labels-- // a wildcard's own label is not counted (RFC 4034 §3.1.3)
	}
	for _, k := range keys {
		sig := s.newRRSIG()
		sig.Hdr = dns.Header{Name: h0.Name, Class: dns.ClassINET, TTL: h0.TTL}
		sig.TypeCovered, sig.Algorithm, sig.Labels, sig.OrigTTL = t, k.alg, labels, h0.TTL
		sig.Expiration, sig.Inception, sig.KeyTag, sig.SignerName = s.j.expire, s.j.incept, k.tag, s.j.origin
		raw, err := s.signature(sig, k)
		if err != nil {
			return out, fmt.Errorf("with key %d: %w", k.tag, err)
		}
		sig.Signature = base64.StdEncoding.EncodeToString(raw)
		out = append(out, sig)
	}
	return out, nil
}

// prepare builds the records' part of the signed data: each record in canonical form (RFC 4034
// §6.2) with the set's TTL, in canonical order, duplicates once.
func (s *rrsetSigner) prepare(rrs []dns.RR, t uint16) error {
	h0 := rrs[0].Header()
	var err error
	if s.owner, err = wire.AppendName(s.owner[:0], h0.Name); err != nil {
		return err
	}
	lowerInPlace(s.owner)
	s.rdata, s.ends, s.order = s.rdata[:0], s.ends[:0], s.order[:0]
	for i, rr := range rrs {
		if s.rdata, err = appendCanonicalRdata(s.rdata, rr); err != nil {
			return fmt.Errorf("%s %s: %w", h0.Name, dns.TypeToString[t], err)
		}
		if len(s.rdata)-s.start(i) > 0xFFFF {
			return fmt.Errorf("%s %s: RDATA longer than 65535 bytes", h0.Name, dns.TypeToString[t])
		}
		s.ends = append(s.ends, len(s.rdata))
		s.order = append(s.order, i)
	}
	slices.SortFunc(s.order, func(a, b int) int { return bytes.Compare(s.rdataOf(a), s.rdataOf(b)) })
	s.body = s.body[:0]
	var fixed [10]byte
	binary.BigEndian.PutUint16(fixed[0:], t)
	binary.BigEndian.PutUint16(fixed[2:], dns.ClassINET)
	binary.BigEndian.PutUint32(fixed[4:], h0.TTL)
	for n, i := range s.order {
		rd := s.rdataOf(i)
		if n > 0 && bytes.Equal(rd, s.rdataOf(s.order[n-1])) {
			continue
		}
		binary.BigEndian.PutUint16(fixed[8:], uint16(len(rd)))
		s.body = append(append(append(s.body, s.owner...), fixed[:]...), rd...)
	}
	return nil
}

func (s *rrsetSigner) start(i int) int {
	if i == 0 {
		return 0
	}
	return s.ends[i-1]
}

func (s *rrsetSigner) rdataOf(i int) []byte { return s.rdata[s.start(i):s.ends[i]] }

// signature signs the RRSIG's fields and the prepared records with key k and returns the
// signature in the form the RRSIG carries (RFC 5702, RFC 6605, RFC 8080).
func (s *rrsetSigner) signature(sig *dns.RRSIG, k signingKey) ([]byte, error) {
	head := rrsigHead(sig)
	signer := k.key.Signer
	switch k.alg {
	case dns.ED25519:
		s.data = append(append(append(s.data[:0], head[:]...), s.j.signerWire...), s.body...)
		return signer.Sign(nil, s.data, crypto.Hash(0))
	case dns.ECDSAP256SHA256, dns.RSASHA256:
		s.h.Reset()
		s.h.Write(head[:])
		s.h.Write(s.j.signerWire)
		s.h.Write(s.body)
		s.sum = s.h.Sum(s.sum[:0])
		raw, err := signer.Sign(rand.Reader, s.sum, crypto.SHA256)
		if err != nil || k.alg == dns.RSASHA256 {
			return raw, err
		}
		return s.sig[:], derToRaw(s.sig[:], raw)
	}
	return nil, fmt.Errorf("algorithm %d is not supported", k.alg)
}

// rrsigHead is the RRSIG's RDATA up to the signer's name, the first part of the signed data.
func rrsigHead(sig *dns.RRSIG) [18]byte {
	var head [18]byte
	binary.BigEndian.PutUint16(head[0:], sig.TypeCovered)
	head[2], head[3] = sig.Algorithm, sig.Labels
	binary.BigEndian.PutUint32(head[4:], sig.OrigTTL)
	binary.BigEndian.PutUint32(head[8:], sig.Expiration)
	binary.BigEndian.PutUint32(head[12:], sig.Inception)
	binary.BigEndian.PutUint16(head[16:], sig.KeyTag)
	return head
}

// SignedData is the data sig's signature covers (RFC 4034 §3.1.8.1): sig's fields up to the
// signer's name, the signer's name, then rrs in canonical form and order, duplicates once. The
// records must carry the owner and TTL the signature was made over: the wildcard owner for an
// expanded answer, the original TTL. The validator checks algorithms the DNS library cannot
// verify over these bytes, the same encoder that makes Warden's own signatures.
func SignedData(sig *dns.RRSIG, rrs []dns.RR) ([]byte, error) {
	if len(rrs) == 0 {
		return nil, errors.New("no records to sign")
	}
	var s rrsetSigner
	if err := s.prepare(rrs, sig.TypeCovered); err != nil {
		return nil, err
	}
	head := rrsigHead(sig)
	out := append(make([]byte, 0, len(head)+len(sig.SignerName)+2+len(s.body)), head[:]...)
	out, err := appendLowerName(out, sig.SignerName)
	if err != nil {
		return nil, err
	}
	return append(out, s.body...), nil
}

var errBadDER = errors.New("ECDSA signature is not a DER sequence of two integers")

// derToRaw turns the DER form Go's ECDSA signer gives, SEQUENCE { INTEGER r, INTEGER s }, into
// r || s, each left-padded to half of out (RFC 6605 §4).
func derToRaw(out, der []byte) error {
	if len(der) < 2 || der[0] != 0x30 || int(der[1]) != len(der)-2 || der[1] >= 0x80 {
		return errBadDER
	}
	rest := der[2:]
	half := len(out) / 2
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || int(rest[1]) > len(rest)-2 {
			return errBadDER
		}
		v := rest[2 : 2+int(rest[1])]
		rest = rest[2+int(rest[1]):]
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > half {
			return errBadDER
		}
		part := out[i*half : (i+1)*half]
		clear(part)
		copy(part[half-len(v):], v)
	}
	if len(rest) != 0 {
		return errBadDER
	}
	return nil
}

func upperInPlace(b []byte) {
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
}

// lowerNames returns a copy of rr, of a rare type RFC 4034 §6.2 lists, with its names in lower
// case. None of them has two names the library could compress one against the other, but
// MINFO, which wire.Rdata writes itself.
func lowerNames(rr dns.RR) dns.RR {
	c := rr.Clone()
	switch x := c.(type) {
	case *dns.MINFO:
		x.Rmail, x.Email = asciiLower(x.Rmail), asciiLower(x.Email)
	case *dns.RP:
		x.Mbox, x.Txt = asciiLower(x.Mbox), asciiLower(x.Txt)
	case *dns.AFSDB:
		x.Hostname = asciiLower(x.Hostname)
	case *dns.RT:
		x.Host = asciiLower(x.Host)
	case *dns.PX:
		x.Map822, x.Mapx400 = asciiLower(x.Map822), asciiLower(x.Mapx400)
	case *dns.NAPTR:
		x.Replacement = asciiLower(x.Replacement)
	case *dns.KX:
		x.Exchanger = asciiLower(x.Exchanger)
	case *dns.MB:
		x.Mb = asciiLower(x.Mb)
	case *dns.MG:
		x.Mg = asciiLower(x.Mg)
	case *dns.MR:
		x.Mr = asciiLower(x.Mr)
	case *dns.MD:
		x.Md = asciiLower(x.Md)
	case *dns.MF:
		x.Mf = asciiLower(x.Mf)
	}
	return c
}

// asciiLower lower-cases the ASCII letters of a name only, as DNS compares names.
func asciiLower(name string) string {
	b := []byte(name)
	lowerInPlace(b)
	return string(b)
}

func lowerInPlace(b []byte) {
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// appendLowerName appends a presentation-form name in canonical wire form: uncompressed and
// lower-cased (RFC 4034 §6.2).
func appendLowerName(dst []byte, name string) ([]byte, error) {
	start := len(dst)
	dst, err := wire.AppendName(dst, name)
	if err != nil {
		return dst, err
	}
	lowerInPlace(dst[start:])
	return dst, nil
}

// appendCanonicalRdata appends rr's RDATA in canonical form: names uncompressed, and lower-cased
// in the types RFC 4034 §6.2 lists as amended by RFC 6840 §5.1 (so not in NSEC). The types a
// zone holds most of are written here without allocating; the rest are packed by the library.
func appendCanonicalRdata(dst []byte, rr dns.RR) ([]byte, error) {
	switch x := rr.(type) {
	case *dns.A:
		a := x.Addr.As4()
		return append(dst, a[:]...), nil
	case *dns.AAAA:
		a := x.Addr.As16()
		return append(dst, a[:]...), nil
	case *dns.NS:
		return appendLowerName(dst, x.Ns)
	case *dns.CNAME:
		return appendLowerName(dst, x.Target)
	case *dns.PTR:
		return appendLowerName(dst, x.Ptr)
	case *dns.DNAME:
		return appendLowerName(dst, x.Target)
	case *dns.MX:
		return appendLowerName(binary.BigEndian.AppendUint16(dst, x.Preference), x.Mx)
	case *dns.SRV:
		dst = binary.BigEndian.AppendUint16(dst, x.Priority)
		dst = binary.BigEndian.AppendUint16(dst, x.Weight)
		return appendLowerName(binary.BigEndian.AppendUint16(dst, x.Port), x.Target)
	case *dns.SOA:
		dst, err := appendLowerName(dst, x.Ns)
		if err != nil {
			return dst, err
		}
		if dst, err = appendLowerName(dst, x.Mbox); err != nil {
			return dst, err
		}
		for _, v := range [...]uint32{x.Serial, x.Refresh, x.Retry, x.Expire, x.Minttl} {
			dst = binary.BigEndian.AppendUint32(dst, v)
		}
		return dst, nil
	case *dns.NSEC:
		if !slices.IsSorted(x.TypeBitMap) {
			break
		}
		dst, err := wire.AppendName(dst, x.NextDomain)
		if err != nil {
			return dst, err
		}
		return appendBitmap(dst, x.TypeBitMap), nil
	case *dns.NSEC3:
		var text, next [32]byte
		if x.Salt != "" || x.SaltLength != 0 || len(x.NextDomain) != len(text) || !slices.IsSorted(x.TypeBitMap) {
			break // not one the signer makes (a salt, a longer hash): left to the library
		}
		copy(text[:], x.NextDomain)
		upperInPlace(text[:]) // base32hex's alphabet is upper-case; zone files may hold either
		n, err := b32.Decode(next[:], text[:])
		if err != nil {
			return dst, fmt.Errorf("NSEC3 next hashed owner %q: %w", x.NextDomain, err)
		}
		dst = append(dst, x.Hash, x.Flags)
		dst = binary.BigEndian.AppendUint16(dst, x.Iterations)
		dst = append(dst, 0, byte(n))
		dst = append(dst, next[:n]...)
		return appendBitmap(dst, x.TypeBitMap), nil
	case *dns.MINFO, *dns.RP, *dns.AFSDB, *dns.RT, *dns.PX, *dns.NAPTR, *dns.KX, *dns.MB, *dns.MG, *dns.MR, *dns.MD, *dns.MF:
		rr = lowerNames(rr)
	}
	rd, err := wire.Rdata(rr)
	if err != nil {
		return dst, err
	}
	return append(dst, rd...), nil
}

// appendBitmap appends a type bitmap (RFC 4034 §4.1.2) of sorted types.
func appendBitmap(dst []byte, types []uint16) []byte {
	for i := 0; i < len(types); {
		window := types[i] >> 8
		var bits [32]byte
		used := 0
		for ; i < len(types) && types[i]>>8 == window; i++ {
			low := types[i] & 0xFF
			bits[low/8] |= 0x80 >> (low % 8)
			used = int(low/8) + 1
		}
		dst = append(dst, byte(window), byte(used))
		dst = append(dst, bits[:used]...)
	}
	return dst
}
