package validator

import (
	"strings"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
)

// Denial is the NSEC or NSEC3 records of one zone's reply whose signatures have been verified;
// the proofs below use nothing else.
type Denial struct {
	Zone  string
	NSEC  []*dns.NSEC
	NSEC3 []*dns.NSEC3
}

// What a denial proves.
const (
	proveNXDomain = iota
	proveNoData
)

// NXDomain checks the proof that qname does not exist: no name between the closest encloser and
// qname exists, and no wildcard at the closest encloser (RFC 4035 §5.4, RFC 5155 §8.4).
func (o Options) NXDomain(d Denial, qname string) Result {
	if len(d.NSEC3) > 0 {
		return o.nsec3NXDomain(d, qname)
	}
	if len(d.NSEC) == 0 {
		return bogus(EDENSECMissing, "no NSEC or NSEC3 proves that %s does not exist", qname)
	}
	cov := coveringNSEC(d, qname)
	if cov == nil {
		return bogus(EDENSECMissing, "no NSEC covers %s", qname)
	}
	ce := closestEncloserNSEC(cov, qname)
	wild := "*." + ce
	if ce == "." {
		wild = "*."
	}
	if matchingNSEC(d, wild) != nil || coveringNSEC(d, wild) == nil {
		return bogus(EDENSECMissing, "no NSEC proves that %s does not exist", wild)
	}
	return secure
}

// NoData checks the proof that qname exists without the type qtype (and without a CNAME), or
// that a wildcard that would match it does so (RFC 4035 §5.4, RFC 5155 §8.5-8.7).
func (o Options) NoData(d Denial, qname string, qtype uint16) Result {
	if len(d.NSEC3) > 0 {
		return o.nsec3NoData(d, qname, qtype)
	}
	if n := matchingNSEC(d, qname); n != nil {
		if hasType(n.TypeBitMap, qtype) || hasType(n.TypeBitMap, dns.TypeCNAME) {
			return bogus(EDENSECMissing, "the NSEC of %s lists %s", qname, dnsutil.TypeToString(qtype))
		}
		if qtype != dns.TypeDS && hasType(n.TypeBitMap, dns.TypeNS) && !hasType(n.TypeBitMap, dns.TypeSOA) {
			// A parent's NSEC at a cut speaks for the delegation only (RFC 6840 §4.1).
			return bogus(EDENSECMissing, "the NSEC of %s is the parent's, at a delegation", qname)
		}
		if qtype == dns.TypeDS && hasType(n.TypeBitMap, dns.TypeSOA) && !sameName(qname, ".") {
			return bogus(EDENSECMissing, "the NSEC of %s is the child's apex, not the parent's", qname)
		}
		return secure
	}
	cov := coveringNSEC(d, qname)
	if cov == nil {
		return bogus(EDENSECMissing, "no NSEC matches or covers %s", qname)
	}
	if isBelow(qname, cov.NextDomain) && !sameName(qname, cov.NextDomain) {
		return secure // an empty non-terminal: a name below it exists, it has no data
	}
	ce := closestEncloserNSEC(cov, qname)
	wild := "*." + ce
	if ce == "." {
		wild = "*."
	}
	if w := matchingNSEC(d, wild); w != nil && !hasType(w.TypeBitMap, qtype) && !hasType(w.TypeBitMap, dns.TypeCNAME) {
		return secure
	}
	return bogus(EDENSECMissing, "no NSEC proves that %s has no %s", qname, dnsutil.TypeToString(qtype))
}

// WildcardAnswer checks that qname, answered from the wildcard wild, does not exist itself
// (RFC 4035 §5.3.4, RFC 5155 §8.8).
func (o Options) WildcardAnswer(d Denial, qname, wild string) Result {
	ce := parentName(wild)
	if len(d.NSEC3) > 0 {
		params, r := o.nsec3Params(d)
		if r.State != Secure {
			return r
		}
		nc := nextCloser(qname, ce)
		if n := coveringNSEC3(d, params, nc); n != nil {
			if n.Flags&1 != 0 {
				return insecure(0, "the NSEC3 covering %s has opt-out", nc)
			}
			return secure
		}
		return bogus(EDENSECMissing, "no NSEC3 covers %s for the wildcard answer", nc)
	}
	if cov := coveringNSEC(d, qname); cov != nil {
		return secure
	}
	return bogus(EDENSECMissing, "no NSEC proves that %s does not exist for the wildcard answer", qname)
}

// Delegation is what a proof says about a DS query for a name.
type Delegation uint8

const (
	// NoProof: the records prove nothing about the name.
	NoProof Delegation = iota
	// NotACut: the name exists (or not at all) without being a zone cut; the zone goes on.
	NotACut
	// Unsigned: the name is a cut with no DS, or opt-out covers it: below is insecure.
	Unsigned
)

// NoDS reads the proof in a denial for a DS query of name (RFC 4035 §5.2, RFC 5155 §8.6,
// §8.9): an insecure delegation, or a name that is no cut at all.
func (o Options) NoDS(d Denial, name string) (Delegation, Result) {
	if len(d.NSEC3) > 0 {
		return o.nsec3NoDS(d, name)
	}
	if n := matchingNSEC(d, name); n != nil {
		if hasType(n.TypeBitMap, dns.TypeDS) {
			return NoProof, bogus(EDENSECMissing, "the NSEC of %s lists DS", name)
		}
		if hasType(n.TypeBitMap, dns.TypeSOA) {
			return NoProof, bogus(EDENSECMissing, "the NSEC of %s is the child's apex, not the parent's", name)
		}
		if hasType(n.TypeBitMap, dns.TypeNS) {
			return Unsigned, secure
		}
		return NotACut, secure
	}
	if r := o.NXDomain(d, name); r.State == Secure {
		return NotACut, secure
	}
	if cov := coveringNSEC(d, name); cov != nil && isBelow(name, cov.NextDomain) {
		return NotACut, secure // an empty non-terminal
	}
	return NoProof, bogus(EDENSECMissing, "no NSEC proves the absence of DS at %s", name)
}

func matchingNSEC(d Denial, name string) *dns.NSEC {
	for _, n := range d.NSEC {
		if sameName(n.Hdr.Name, name) {
			return n
		}
	}
	return nil
}

// coveringNSEC returns an NSEC of the zone whose span holds name. An NSEC from above a
// delegation (NS without SOA) or at a DNAME cannot deny names below its owner (RFC 6840 §4.1).
func coveringNSEC(d Denial, name string) *dns.NSEC {
	for _, n := range d.NSEC {
		if !isBelow(d.Zone, n.Hdr.Name) || !covers(n.Hdr.Name, n.NextDomain, name) {
			continue
		}
		if isBelow(n.Hdr.Name, name) && (hasType(n.TypeBitMap, dns.TypeDNAME) ||
			(hasType(n.TypeBitMap, dns.TypeNS) && !hasType(n.TypeBitMap, dns.TypeSOA))) {
			continue
		}
		return n
	}
	return nil
}

// closestEncloserNSEC is the longest ancestor of qname that the covering NSEC shows to exist:
// the deeper of its common ancestors with the NSEC's owner and next name.
func closestEncloserNSEC(n *dns.NSEC, qname string) string {
	a, b := commonAncestor(n.Hdr.Name, qname), commonAncestor(n.NextDomain, qname)
	if countLabels(a) >= countLabels(b) {
		return a
	}
	return b
}

func commonAncestor(a, b string) string {
	a, b = strings.ToLower(a), strings.ToLower(b)
	for !isBelow(a, b) {
		a = parentName(a)
	}
	return a
}

// nextCloser is the name one label longer than the closest encloser ce on the way to qname.
func nextCloser(qname, ce string) string {
	n := strings.ToLower(qname)
	for countLabels(n) > countLabels(ce)+1 {
		n = parentName(n)
	}
	return n
}
