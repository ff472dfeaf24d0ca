package validator

import (
	"strings"

	"codeberg.org/miekg/dns"
)

// digestPreference ranks DS digest types: only the DS records of the strongest supported type
// present are used, so that a weak digest cannot stand in for a strong one (RFC 4509 §3, as
// Unbound chooses its favourite DS algorithm).
func digestPreference(d uint8) int {
	switch d {
	case dns.SHA384:
		return 3
	case dns.SHA256:
		return 2
	case dns.SHA1:
		return 1
	}
	return 0
}

// TrustKeys validates a zone's DNSKEY RRset against what vouches for it: the DS RRset from the
// parent (already validated) or the trust anchor's DS and DNSKEY records. It returns the zone's
// keys that may verify its data, or the reason none may: Insecure when no DS record has a
// supported algorithm and digest (RFC 4035 §5.2, RFC 6840 §5.2), Bogus when none of the
// vouched-for keys signs the DNSKEY RRset.
func (o Options) TrustKeys(zone string, dnskeys []*dns.DNSKEY, sigs []*dns.RRSIG, ds []*dns.DS, anchorKeys []*dns.DNSKEY) (Result, []*dns.DNSKEY) {
	best := 0
	unsupportedAlg, unsupportedDigest := false, false
	for _, d := range ds {
		switch {
		case !SupportedAlgorithm(d.Algorithm):
			unsupportedAlg = true
		case !SupportedDigest(d.DigestType):
			unsupportedDigest = true
		default:
			best = max(best, digestPreference(d.DigestType))
		}
	}
	usableAnchorKeys := 0
	for _, k := range anchorKeys {
		if SupportedAlgorithm(k.Algorithm) {
			usableAnchorKeys++
		}
	}
	if best == 0 && usableAnchorKeys == 0 {
		if unsupportedAlg {
			return insecure(EDEUnsupportedAlgorithm, "%s: no DS record with a supported algorithm", zone), nil
		}
		if unsupportedDigest {
			return insecure(EDEUnsupportedDigest, "%s: no DS record with a supported digest type", zone), nil
		}
		return bogus(EDEDNSKEYMissing, "%s: nothing to validate its DNSKEY RRset against", zone), nil
	}
	if len(dnskeys) == 0 {
		return bogus(EDEDNSKEYMissing, "%s: no DNSKEY RRset", zone), nil
	}
	var vouched []*dns.DNSKEY
	for _, k := range dnskeys {
		if !zoneKey(k) {
			continue
		}
		if matchesDS(k, ds, best) || matchesKey(k, anchorKeys) {
			vouched = append(vouched, k)
		}
	}
	if len(vouched) == 0 {
		return bogus(EDEDNSKEYMissing, "%s: no DNSKEY matches the DS records", zone), nil
	}
	set := make([]dns.RR, len(dnskeys))
	for i, k := range dnskeys {
		set[i] = k
	}
	if v := o.VerifyRRset(set, sigs, vouched); v.State != Secure {
		v.Why = zone + " DNSKEY: " + v.Why
		return v.Result, nil
	}
	var trusted []*dns.DNSKEY
	for _, k := range dnskeys {
		if zoneKey(k) {
			trusted = append(trusted, k)
		}
	}
	return secure, trusted
}

// zoneKey reports whether k may verify zone data: the zone key bit set, protocol 3 (RFC 4034
// §2.1.1, §2.1.2) and not revoked (RFC 5011 §3).
func zoneKey(k *dns.DNSKEY) bool {
	return k.Flags&dns.FlagZONE != 0 && k.Flags&dns.FlagREVOKE == 0 && k.Protocol == 3
}

func matchesDS(k *dns.DNSKEY, ds []*dns.DS, preference int) bool {
	tag := k.KeyTag()
	for _, d := range ds {
		if d.KeyTag != tag || d.Algorithm != k.Algorithm || digestPreference(d.DigestType) != preference || !SupportedAlgorithm(d.Algorithm) {
			continue
		}
		lower := k.Clone().(*dns.DNSKEY)
		lower.Hdr.Name = strings.ToLower(lower.Hdr.Name)
		if made := lower.ToDS(d.DigestType); made != nil && strings.EqualFold(made.Digest, d.Digest) {
			return true
		}
	}
	return false
}

func matchesKey(k *dns.DNSKEY, anchors []*dns.DNSKEY) bool {
	for _, a := range anchors {
		if a.Algorithm == k.Algorithm && a.Protocol == k.Protocol && a.Flags&^dns.FlagREVOKE == k.Flags&^dns.FlagREVOKE &&
			strings.TrimSpace(a.PublicKey) == strings.TrimSpace(k.PublicKey) && SupportedAlgorithm(a.Algorithm) {
			return true
		}
	}
	return false
}
