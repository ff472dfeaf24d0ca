package signer

import (
	"fmt"
	"strings"
	"time"

	"codeberg.org/miekg/dns"
)

// Denial is how the zone proves that names and types do not exist.
type Denial uint8

const (
	NSEC Denial = iota
	NSEC3
)

func (d Denial) String() string {
	if d == NSEC3 {
		return "nsec3"
	}
	return "nsec"
}

// Policy says how a zone is signed. The zero value of a duration means Knot's default (see the
// package comment); Defaults fills them in.
type Policy struct {
	Algorithm         uint8 // dns.ECDSAP256SHA256, dns.ED25519 or dns.RSASHA256
	Denial            Denial
	SingleTypeSigning bool
	RRSIGLifetime     time.Duration
	// RRSIGRefresh is how long before it expires a signature is replaced; 0: the propagation
	// delay plus the zone's largest TTL, worked out per zone.
	RRSIGRefresh     time.Duration
	ZSKLifetime      time.Duration
	KSKLifetime      time.Duration // 0: unlimited
	PropagationDelay time.Duration
	// DNSKEYTTL is the TTL of DNSKEY, CDS and CDNSKEY; 0: the SOA's TTL.
	DNSKEYTTL uint32
	// ParentDSTTL is the TTL of the zone's DS at its parent: how long, after the parent holds a
	// new KSK's DS, validators may still hold the old one. 0: DefaultParentDSTTL.
	ParentDSTTL time.Duration
}

// The defaults of Knot's default policy.
const (
	DefaultRRSIGLifetime    = 14 * 24 * time.Hour
	DefaultZSKLifetime      = 30 * 24 * time.Hour
	DefaultPropagationDelay = time.Hour
	// DefaultParentDSTTL is the DS TTL of most top-level domains.
	DefaultParentDSTTL = 24 * time.Hour
	// InceptionOffset puts a signature's inception this far in the past, as Knot does, so that a
	// validator whose clock is behind ours still accepts it.
	InceptionOffset = 90 * time.Minute
	// rsaBits is the size of new RSA keys (Knot's ksk-size and zsk-size for RSA).
	rsaBits = 2048
)

// Defaults returns p with every unset duration set to Knot's default.
func (p Policy) Defaults() Policy {
	if p.Algorithm == 0 {
		p.Algorithm = dns.ECDSAP256SHA256
	}
	if p.RRSIGLifetime == 0 {
		p.RRSIGLifetime = DefaultRRSIGLifetime
	}
	if p.ZSKLifetime == 0 {
		p.ZSKLifetime = DefaultZSKLifetime
	}
	if p.PropagationDelay == 0 {
		p.PropagationDelay = DefaultPropagationDelay
	}
	if p.ParentDSTTL == 0 {
		p.ParentDSTTL = DefaultParentDSTTL
	}
	return p
}

// Algorithms are the algorithms keys are made with, by the names the configuration uses.
var Algorithms = map[string]uint8{
	"ecdsap256sha256": dns.ECDSAP256SHA256,
	"ed25519":         dns.ED25519,
	"rsasha256":       dns.RSASHA256,
}

// ParseAlgorithm reads an algorithm name of Algorithms, in any case.
func ParseAlgorithm(s string) (uint8, error) {
	if a, ok := Algorithms[strings.ToLower(s)]; ok {
		return a, nil
	}
	return 0, fmt.Errorf("%q is not one of ecdsap256sha256, ed25519, rsasha256", s)
}

// keyBits is the size Generate wants for alg.
func keyBits(alg uint8) int {
	if alg == dns.RSASHA256 {
		return rsaBits
	}
	return 256
}

// refresh is how long before expiry a signature of z is replaced: the policy's, or the
// propagation delay plus the zone's largest TTL.
func (p Policy) refresh(maxTTL uint32) time.Duration {
	if p.RRSIGRefresh > 0 {
		return p.RRSIGRefresh
	}
	return p.PropagationDelay + time.Duration(maxTTL)*time.Second
}

// Check reports what makes p unusable: a refresh window that the lifetime cannot hold.
func (p Policy) Check() error {
	if _, ok := algorithmNames[p.Algorithm]; !ok {
		return fmt.Errorf("algorithm %d is not supported", p.Algorithm)
	}
	if p.RRSIGRefresh > 0 && p.RRSIGRefresh >= p.RRSIGLifetime {
		return fmt.Errorf("rrsig_refresh %s is not shorter than rrsig_lifetime %s: every signature would be due for refresh as soon as it is made", p.RRSIGRefresh, p.RRSIGLifetime)
	}
	return nil
}

var algorithmNames = map[uint8]string{
	dns.ECDSAP256SHA256: "ecdsap256sha256",
	dns.ED25519:         "ed25519",
	dns.RSASHA256:       "rsasha256",
}
