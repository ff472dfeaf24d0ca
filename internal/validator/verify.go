package validator

import (
	"strings"
	"time"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
)

// Options are the validator's tunables; the zero value means Unbound's defaults.
type Options struct {
	// Now is the clock signatures are checked against; nil means time.Now.
	Now func() time.Time
	// SkewMin and SkewMax bound the clock skew allowed on either side of a signature's validity
	// window: a tenth of the window, clamped to [SkewMin, SkewMax], as Unbound's val-sig-skew-min
	// (1 hour) and val-sig-skew-max (24 hours) do.
	SkewMin, SkewMax time.Duration
	// MaxNSEC3Iterations is the highest NSEC3 iteration count a proof is computed for; above it
	// the answer is insecure (RFC 9276 §3.2). 0 means 150, Unbound 1.17's limit for every key
	// size (val-nsec3-keysize-iterations "1024 150 2048 150 4096 150").
	MaxNSEC3Iterations uint16
	// Negative holds the negative trust anchors in force (RFC 7646); nil means none.
	Negative *NegativeAnchors
}

const (
	defaultSkewMin       = time.Hour
	defaultSkewMax       = 24 * time.Hour
	defaultNSEC3MaxIters = 150
)

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) skewBounds() (time.Duration, time.Duration) {
	lo, hi := o.SkewMin, o.SkewMax
	if lo == 0 {
		lo = defaultSkewMin
	}
	if hi == 0 {
		hi = defaultSkewMax
	}
	return lo, hi
}

func (o Options) maxIterations() uint16 {
	if o.MaxNSEC3Iterations == 0 {
		return defaultNSEC3MaxIters
	}
	return o.MaxNSEC3Iterations
}

// SupportedAlgorithm reports whether signatures of algorithm alg can be checked: those the
// issue's algorithm list and Unbound share (RSA, ECDSA, Ed25519, and Ed448 through circl).
func SupportedAlgorithm(alg uint8) bool {
	switch alg {
	case dns.RSASHA1, dns.RSASHA1NSEC3SHA1, dns.RSASHA256, dns.RSASHA512,
		dns.ECDSAP256SHA256, dns.ECDSAP384SHA384, dns.ED25519, dns.ED448:
		return true
	}
	return false
}

// SupportedDigest reports whether DS records of digest type d can be matched: SHA-1 (as Unbound
// still accepts it), SHA-256 and SHA-384.
func SupportedDigest(d uint8) bool {
	return d == dns.SHA1 || d == dns.SHA256 || d == dns.SHA384
}

// Verified is the result of checking one RRset.
type Verified struct {
	Result
	// Wildcard is the wildcard owner the RRset was expanded from ("*.example."), when the RRSIG
	// that verified it has fewer labels than the owner name; the caller must then prove that the
	// name itself does not exist (RFC 4035 §5.3.4).
	Wildcard string
	// Expires is the end of the validity window of the signature that verified the RRset.
	Expires time.Time
	// skew is the clock skew allowed past Expires; key the key that verified it; origTTL the
	// signature's original TTL.
	skew    time.Duration
	key     *dns.DNSKEY
	origTTL uint32
}

// capTTLs lowers the TTLs of a validated RRset and its signatures to the signature's original
// TTL and to the time left before it expires (RFC 4035 §5.3.3), as Unbound does, so that no
// cache keeps the data as secure past its signature.
func (v Verified) capTTLs(rrs []dns.RR, sigs []*dns.RRSIG, now time.Time) {
	if v.State != Secure || v.Expires.IsZero() {
		return
	}
	limit := v.origTTL
	if left := v.Expires.Sub(now); left < time.Duration(limit)*time.Second {
		limit = uint32(max(left, 0) / time.Second)
	}
	for _, rr := range rrs {
		if h := rr.Header(); h.TTL > limit {
			h.TTL = limit
		}
	}
	for _, s := range sigs {
		if s.Hdr.TTL > limit {
			s.Hdr.TTL = limit
		}
	}
}

// VerifyRRset checks rrset (one owner, type and class) against the signatures that cover it,
// with keys, the DNSKEYs already trusted for the zone that signed it. One signature that verifies
// within its window suffices (RFC 4035 §5.3.3). The records are not changed.
func (o Options) VerifyRRset(rrset []dns.RR, sigs []*dns.RRSIG, keys []*dns.DNSKEY) Verified {
	if len(rrset) == 0 {
		return Verified{Result: bogus(EDEBogus, "empty RRset")}
	}
	owner := rrset[0].Header().Name
	typ := dns.RRToType(rrset[0])
	if len(sigs) == 0 {
		return Verified{Result: bogus(EDERRSIGsMissing, "no RRSIG for %s %s", owner, dnsutil.TypeToString(typ))}
	}
	now := o.now()
	fail := bogus(EDEDNSKEYMissing, "no DNSKEY matches the RRSIGs of %s %s", owner, dnsutil.TypeToString(typ))
	failRank := 0
	note := func(r Result, rank int) {
		if rank > failRank {
			fail, failRank = r, rank
		}
	}
	ownerLabels := countLabels(owner)
	for _, sig := range sigs {
		if sig.TypeCovered != typ || !isBelow(sig.SignerName, owner) ||
			int(sig.Labels) > ownerLabels {
			note(bogus(EDEBogus, "RRSIG of %s does not fit the RRset", owner), 1)
			continue
		}
		if !SupportedAlgorithm(sig.Algorithm) {
			continue
		}
		inception, expiration := window(sig, now)
		skew := o.skew(expiration.Sub(inception))
		if now.Add(skew).Before(inception) {
			note(bogus(EDESignatureNotYetValid, "RRSIG of %s %s not valid before %s", owner, dnsutil.TypeToString(typ), inception.UTC().Format(time.RFC3339)), 3)
			continue
		}
		if now.Add(-skew).After(expiration) {
			note(bogus(EDESignatureExpired, "RRSIG of %s %s expired %s", owner, dnsutil.TypeToString(typ), expiration.UTC().Format(time.RFC3339)), 3)
			continue
		}
		for _, k := range keys {
			if k.Algorithm != sig.Algorithm || k.KeyTag() != sig.KeyTag || !strings.EqualFold(k.Hdr.Name, sig.SignerName) {
				continue
			}
			if err := verifyCopy(sig, k, rrset); err != nil {
				note(bogus(EDEBogus, "RRSIG of %s %s by key %d does not verify: %v", owner, dnsutil.TypeToString(typ), sig.KeyTag, err), 2)
				continue
			}
			v := Verified{Result: secure, Expires: expiration, skew: skew, key: k, origTTL: sig.OrigTTL}
			if int(sig.Labels) < ownerLabels {
				v.Wildcard = wildcardOf(owner, int(sig.Labels))
			}
			return v
		}
	}
	return Verified{Result: fail}
}

// verifyCopy checks sig on copies of rrset: building the signed data sets their owners and TTLs.
func verifyCopy(sig *dns.RRSIG, key *dns.DNSKEY, rrset []dns.RR) error {
	set := make([]dns.RR, len(rrset))
	for i, rr := range rrset {
		set[i] = rr.Clone()
		set[i].Header().Name = strings.ToLower(rr.Header().Name)
	}
	return verifySignature(sig, key, set)
}

// skew is the clock skew allowed for a signature valid for span, as Unbound computes it.
func (o Options) skew(span time.Duration) time.Duration {
	lo, hi := o.skewBounds()
	return min(max(span/10, lo), hi)
}

// window returns a signature's validity window, its 32-bit times read by RFC 1982 serial
// arithmetic around now (RFC 4034 §3.1.5).
func window(sig *dns.RRSIG, now time.Time) (time.Time, time.Time) {
	at := func(t uint32) time.Time {
		n := now.Unix()
		d := int64(int32(t - uint32(n)))
		return time.Unix(n+d, 0)
	}
	return at(sig.Inception), at(sig.Expiration)
}

// wildcardOf returns the wildcard name a signature of the given label count was made over.
func wildcardOf(owner string, labels int) string {
	name := strings.ToLower(owner)
	for range countLabels(name) - labels {
		name = parentName(name)
	}
	if name == "." {
		return "*."
	}
	return "*." + name
}
