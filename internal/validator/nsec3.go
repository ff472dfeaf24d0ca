package validator

import (
	"strings"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
)

// nsec3Params are the hash parameters every NSEC3 of one proof shares (RFC 5155 §8.2).
type nsec3Params struct {
	salt       string
	iterations uint16
}

// nsec3Params picks the parameters of the denial's NSEC3 records: those with an unknown hash are
// ignored (RFC 5155 §8.1); an iteration count above the limit makes the answer insecure (RFC
// 9276 §3.2).
func (o Options) nsec3Params(d Denial) (nsec3Params, Result) {
	for _, n := range d.NSEC3 {
		if n.Hash != dns.SHA1 {
			continue
		}
		if n.Iterations > o.maxIterations() {
			return nsec3Params{}, insecure(0, "NSEC3 with %d iterations, above %d", n.Iterations, o.maxIterations())
		}
		return nsec3Params{salt: n.Salt, iterations: n.Iterations}, secure
	}
	return nsec3Params{}, insecure(0, "no NSEC3 with a known hash algorithm")
}

func hashName(p nsec3Params, name string) string {
	return strings.ToLower(dnsutil.NSEC3Name(strings.ToLower(name), p.salt, p.iterations))
}

// usable reports whether n belongs to the proof: known hash, the same parameters, directly under
// the zone.
func (p nsec3Params) usable(d Denial, n *dns.NSEC3) bool {
	return n.Hash == dns.SHA1 && n.Iterations == p.iterations && strings.EqualFold(n.Salt, p.salt) &&
		sameName(parentName(n.Hdr.Name), d.Zone)
}

func ownerHash(n *dns.NSEC3) string {
	h, _, _ := strings.Cut(n.Hdr.Name, ".")
	return strings.ToLower(h)
}

func matchingNSEC3(d Denial, p nsec3Params, name string) *dns.NSEC3 {
	h := hashName(p, name)
	for _, n := range d.NSEC3 {
		if p.usable(d, n) && ownerHash(n) == h {
			return n
		}
	}
	return nil
}

func coveringNSEC3(d Denial, p nsec3Params, name string) *dns.NSEC3 {
	h := hashName(p, name)
	for _, n := range d.NSEC3 {
		if !p.usable(d, n) {
			continue
		}
		owner, next := ownerHash(n), strings.ToLower(n.NextDomain)
		if owner < next && owner < h && h < next || owner >= next && (h > owner || h < next) {
			return n
		}
	}
	return nil
}

// encloserProof is the closest encloser proof of RFC 5155 §8.3: the closest encloser ce, which
// an NSEC3 matches, and the NSEC3 covering the next closer name.
type encloserProof struct {
	ce       string
	ceNSEC3  *dns.NSEC3
	ncCover  *dns.NSEC3
	proofErr Result
}

func closestEncloserNSEC3(d Denial, p nsec3Params, qname string) encloserProof {
	qname = strings.ToLower(qname)
	for ce := qname; ; ce = parentName(ce) {
		if !isBelow(d.Zone, ce) {
			break
		}
		m := matchingNSEC3(d, p, ce)
		if m != nil && ce != qname {
			if hasType(m.TypeBitMap, dns.TypeDNAME) || hasType(m.TypeBitMap, dns.TypeNS) && !hasType(m.TypeBitMap, dns.TypeSOA) {
				return encloserProof{proofErr: bogus(EDENSECMissing, "the closest encloser %s is a delegation or DNAME", ce)}
			}
			nc := nextCloser(qname, ce)
			cov := coveringNSEC3(d, p, nc)
			if cov == nil {
				return encloserProof{proofErr: bogus(EDENSECMissing, "no NSEC3 covers the next closer name %s", nc)}
			}
			return encloserProof{ce: ce, ceNSEC3: m, ncCover: cov, proofErr: secure}
		}
		if ce == "." {
			break
		}
	}
	return encloserProof{proofErr: bogus(EDENSECMissing, "no NSEC3 closest encloser proof for %s", qname)}
}

func wildcardAt(ce string) string {
	if ce == "." {
		return "*."
	}
	return "*." + ce
}

func (o Options) nsec3NXDomain(d Denial, qname string) Result {
	p, r := o.nsec3Params(d)
	if r.State != Secure {
		return r
	}
	pr := closestEncloserNSEC3(d, p, qname)
	if pr.proofErr.State != Secure {
		return pr.proofErr
	}
	if coveringNSEC3(d, p, wildcardAt(pr.ce)) == nil {
		return bogus(EDENSECMissing, "no NSEC3 covers the wildcard %s", wildcardAt(pr.ce))
	}
	if pr.ncCover.Flags&1 != 0 {
		// An opt-out span may hide an unsigned delegation at the name (RFC 5155 §6), as
		// Unbound treats such a proof.
		return insecure(0, "the NSEC3 covering the next closer name of %s has opt-out", qname)
	}
	return secure
}

func (o Options) nsec3NoData(d Denial, qname string, qtype uint16) Result {
	p, r := o.nsec3Params(d)
	if r.State != Secure {
		return r
	}
	if m := matchingNSEC3(d, p, qname); m != nil {
		if hasType(m.TypeBitMap, qtype) || hasType(m.TypeBitMap, dns.TypeCNAME) {
			return bogus(EDENSECMissing, "the NSEC3 of %s lists %s", qname, dnsutil.TypeToString(qtype))
		}
		if qtype != dns.TypeDS && hasType(m.TypeBitMap, dns.TypeNS) && !hasType(m.TypeBitMap, dns.TypeSOA) {
			return bogus(EDENSECMissing, "the NSEC3 of %s is the parent's, at a delegation", qname)
		}
		if qtype == dns.TypeDS && hasType(m.TypeBitMap, dns.TypeSOA) && !sameName(qname, ".") {
			return bogus(EDENSECMissing, "the NSEC3 of %s is the child's apex, not the parent's", qname)
		}
		return secure
	}
	pr := closestEncloserNSEC3(d, p, qname)
	if pr.proofErr.State != Secure {
		return pr.proofErr
	}
	if w := matchingNSEC3(d, p, wildcardAt(pr.ce)); w != nil {
		if hasType(w.TypeBitMap, qtype) || hasType(w.TypeBitMap, dns.TypeCNAME) {
			return bogus(EDENSECMissing, "the NSEC3 of %s lists %s", wildcardAt(pr.ce), dnsutil.TypeToString(qtype))
		}
		return secure
	}
	if qtype == dns.TypeDS && pr.ncCover.Flags&1 != 0 {
		return insecure(0, "opt-out covers %s", qname)
	}
	return bogus(EDENSECMissing, "no NSEC3 proves that %s has no %s", qname, dnsutil.TypeToString(qtype))
}

func (o Options) nsec3NoDS(d Denial, name string) (Delegation, Result) {
	p, r := o.nsec3Params(d)
	if r.State != Secure {
		return Unsigned, r
	}
	if m := matchingNSEC3(d, p, name); m != nil {
		switch {
		case hasType(m.TypeBitMap, dns.TypeDS):
			return NoProof, bogus(EDENSECMissing, "the NSEC3 of %s lists DS", name)
		case hasType(m.TypeBitMap, dns.TypeSOA):
			return NoProof, bogus(EDENSECMissing, "the NSEC3 of %s is the child's apex, not the parent's", name)
		case hasType(m.TypeBitMap, dns.TypeNS):
			return Unsigned, secure
		}
		return NotACut, secure
	}
	pr := closestEncloserNSEC3(d, p, name)
	if pr.proofErr.State != Secure {
		return NoProof, pr.proofErr
	}
	if pr.ncCover.Flags&1 != 0 {
		return Unsigned, insecure(0, "opt-out covers %s", name)
	}
	// An empty non-terminal has a matching NSEC3 of its own (RFC 5155 §7.1); a name covered
	// without opt-out does not exist.
	return NotACut, secure
}
