package zone

import (
	"bytes"
	"crypto/sha1"
	"encoding/base32"
	"encoding/hex"
	"slices"
	"strings"
	"unsafe"

	"codeberg.org/miekg/dns"
)

// A zone is signed when its apex holds a DNSKEY RRset and a signature over its SOA: that is what a
// validator needs to start from, and what Knot checks before it adds signatures to answers. Zone
// files with stray RRSIGs but no keys are served as unsigned zones, their records as plain data.
//
// For a signed zone the loader files the DNSSEC records where answers need them: each RRSIG beside
// the RRset it covers (Node.Sigs), the NSEC owners in canonical order, and the NSEC3 owners in a
// chain of their own, ordered by hash. NSEC3 owners are names of the zone file but not of the name
// tree (RFC 5155 §7.1: a query for one is answered as for any name that does not exist), so their
// nodes are marked Hashed and lookups pass them by. Unsigned zones skip all of it.

// dnssecIndex is what a signed zone adds to its tree.
type dnssecIndex struct {
	// nsec lists the owners of NSEC records in canonical order (RFC 4034 §6.1); nsecKeys holds
	// their sort keys, as canonicalKey makes them.
	nsec     []*Node
	nsecKeys [][]byte
	// nsec3 lists the NSEC3 owners by their first label, the hash in lower-case base32hex, whose
	// byte order is the order of the hashes.
	nsec3 []*Node
	// param is the apex NSEC3PARAM record; nil in an NSEC zone.
	param *dns.NSEC3PARAM
	salt  []byte
}

// Signed says whether the zone is signed (see above); only then do answers to DO=1 queries carry
// signatures and proofs.
func (z *Zone) Signed() bool { return z.dnssec != nil }

// UsesNSEC3 says whether the signed zone denies names with NSEC3 (its apex has an NSEC3PARAM).
func (z *Zone) UsesNSEC3() bool { return z.dnssec != nil && z.dnssec.param != nil }

// Sigs returns the RRSIG records at the node that cover its records of type t, nil in an unsigned
// zone or when there are none.
func (n *Node) Sigs(t uint16) []dns.RR {
	for i := range n.Sets {
		if n.Sets[i].Type == t {
			if n.sigs != nil && i < len(*n.sigs) {
				return (*n.sigs)[i]
			}
			return nil
		}
	}
	return nil
}

// LowestSigs returns the signatures of the node's RRset of the lowest type that has any, the
// answer Knot gives to a question for type RRSIG: the signatures of one RRset, not all.
func (n *Node) LowestSigs() []dns.RR {
	var best []dns.RR
	var bestType uint16
	if n.sigs == nil {
		return nil
	}
	for i, sigs := range *n.sigs {
		if len(sigs) > 0 && (best == nil || n.Sets[i].Type < bestType) {
			best, bestType = sigs, n.Sets[i].Type
		}
	}
	return best
}

// CoverNSEC returns the NSEC owner that comes last in canonical order among those at or before
// the lower-case wire name (the last of all when name sorts before every owner: the chain wraps).
// Its NSEC record is the one that proves name absent when name is not itself an owner.
func (z *Zone) CoverNSEC(name []byte) *Node {
	d := z.dnssec
	if d == nil || len(d.nsec) == 0 {
		return nil
	}
	var buf [maxCanonical]byte
	key := appendCanonicalKey(buf[:0], unsafe.String(unsafe.SliceData(name), len(name)))
	// A search by hand: the generic ones make the key escape, and this runs for every query
	// for a name that does not exist.
	lo, hi := 0, len(d.nsecKeys) // the first key above name is in [lo, hi]
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if bytes.Compare(d.nsecKeys[mid], key) <= 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return d.nsec[len(d.nsec)-1]
	}
	return d.nsec[lo-1]
}

// MatchNSEC3 returns the NSEC3 owner whose hash is that of the lower-case wire name, or nil.
func (z *Zone) MatchNSEC3(name []byte) *Node {
	n, exact := z.nsec3At(name)
	if !exact {
		return nil
	}
	return n
}

// CoverNSEC3 returns the NSEC3 owner whose record covers the hash of the lower-case wire name
// (RFC 5155 §7.2.1), or the one that matches it.
func (z *Zone) CoverNSEC3(name []byte) *Node {
	n, _ := z.nsec3At(name)
	return n
}

func (z *Zone) nsec3At(name []byte) (*Node, bool) {
	d := z.dnssec
	if d == nil || d.param == nil || len(d.nsec3) == 0 {
		return nil, false
	}
	var hash [32]byte
	h := nsec3Hash(hash[:0], name, d.param.Iterations, d.salt)
	hs := unsafe.String(unsafe.SliceData(h), len(h))
	lo, hi := 0, len(d.nsec3) // the first hash above h is in [lo, hi]
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if firstLabel(d.nsec3[mid].Key) <= hs {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return d.nsec3[len(d.nsec3)-1], false
	}
	return d.nsec3[lo-1], firstLabel(d.nsec3[lo-1].Key) == hs
}

// firstLabel returns the first label of a wire name, without its length byte.
func firstLabel(key string) string {
	if key == "" || key[0] == 0 {
		return ""
	}
	return key[1 : 1+int(key[0])]
}

var base32Hex = base32.HexEncoding.WithPadding(base32.NoPadding)

// nsec3Hash appends the hashed owner label of RFC 5155 §5 for the lower-case wire name, in
// lower-case base32hex (32 bytes). SHA-1 is the only hash algorithm defined. It works in buffers on
// the stack, since a wildcard answer looks its proof up for every query.
func nsec3Hash(dst, name []byte, iterations uint16, salt []byte) []byte {
	var in [255 + 255]byte
	n := copy(in[:], name)
	n += copy(in[n:], salt)
	sum := sha1.Sum(in[:n])
	for range iterations {
		n = copy(in[:], sum[:])
		n += copy(in[n:], salt)
		sum = sha1.Sum(in[:n])
	}
	var enc [32]byte
	base32Hex.Encode(enc[:], sum[:])
	for i, c := range enc {
		if c >= 'A' && c <= 'Z' {
			enc[i] = c + 'a' - 'A'
		}
	}
	return append(dst, enc[:]...)
}

// indexDNSSEC files the DNSSEC records of a signed zone (see the top of this file). It runs once
// every record is in and the tree is checked.
func (l *loader) indexDNSSEC() {
	z := l.z
	if !z.Apex.Has(dns.TypeDNSKEY) || !coversType(z.Apex.RRset(dns.TypeRRSIG), dns.TypeSOA) {
		return
	}
	d := &dnssecIndex{}
	if p := z.Apex.RRset(dns.TypeNSEC3PARAM); len(p) > 0 {
		d.param, _ = p[0].(*dns.NSEC3PARAM)
		if d.param != nil && d.param.Salt != "-" && d.param.Salt != "" {
			salt, err := hex.DecodeString(d.param.Salt)
			if err != nil {
				l.problem(&l.warns, p[0], "%s NSEC3PARAM: salt %q is not hex; NSEC3 proofs are left out", z.Origin, d.param.Salt)
				d.param = nil
			} else {
				d.salt = salt
			}
		}
	}
	for _, n := range z.order {
		l.attachSigs(n)
		if n.Parent == z.Apex && n.Has(dns.TypeNSEC3) && onlyNSEC3(n) {
			n.Hashed = true
			d.nsec3 = append(d.nsec3, n)
			continue
		}
		if n.Has(dns.TypeNSEC) {
			d.nsec = append(d.nsec, n)
		}
	}
	keys := make([][]byte, len(d.nsec))
	for i, n := range d.nsec {
		keys[i] = canonicalKey(n.Key)
	}
	order := make([]int, len(d.nsec))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(keys[a], keys[b]) })
	d.nsecKeys = make([][]byte, len(order))
	sorted := make([]*Node, len(order))
	for i, j := range order {
		d.nsecKeys[i], sorted[i] = keys[j], d.nsec[j]
	}
	d.nsec = sorted
	slices.SortFunc(d.nsec3, func(a, b *Node) int { return strings.Compare(firstLabel(a.Key), firstLabel(b.Key)) })
	z.dnssec = d
}

// attachSigs sorts the node's RRSIG records by the type they cover into n.sigs.
func (l *loader) attachSigs(n *Node) {
	rrsigs := n.RRset(dns.TypeRRSIG)
	if rrsigs == nil {
		return
	}
	sigs := make([][]dns.RR, len(n.Sets))
	n.sigs = &sigs
	for _, rr := range rrsigs {
		sig, ok := rr.(*dns.RRSIG)
		if !ok {
			continue
		}
		for i := range n.Sets {
			if n.Sets[i].Type == sig.TypeCovered {
				sigs[i] = append(sigs[i], rr)
				break
			}
		}
	}
}

func coversType(rrsigs []dns.RR, t uint16) bool {
	for _, rr := range rrsigs {
		if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered == t {
			return true
		}
	}
	return false
}

// onlyNSEC3 says whether the node holds nothing but NSEC3 records and their signatures.
func onlyNSEC3(n *Node) bool {
	for _, s := range n.Sets {
		switch s.Type {
		case dns.TypeNSEC3:
		case dns.TypeRRSIG:
			for _, rr := range s.RRs {
				if sig, ok := rr.(*dns.RRSIG); !ok || sig.TypeCovered != dns.TypeNSEC3 {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}
