package config

import (
	"fmt"
	"strings"
	"time"
)

// DNSSECConfig is a zone's `dnssec:` block: whether Warden signs the zone, where its keys live,
// and the signing policy. Zero durations and TTLs take the defaults of Knot's default policy
// (internal/signer says which and why).
type DNSSECConfig struct {
	// Sign makes Warden sign the zone online; keys are made on first start.
	Sign bool `yaml:"sign"`
	// KeyDir holds the zone's keys in BIND's format; absolute once parsed (a relative path is
	// taken from the config file's directory; default keys/ beside it). One directory may serve
	// many zones.
	KeyDir string `yaml:"key_dir"`
	// Algorithm is ecdsap256sha256 (default), ed25519 or rsasha256.
	Algorithm string `yaml:"algorithm"`
	// Denial is nsec (default) or nsec3 (RFC 9276: no extra iterations, no salt, no opt-out).
	Denial            string        `yaml:"denial"`
	SingleTypeSigning bool          `yaml:"single_type_signing"`
	RRSIGLifetime     time.Duration `yaml:"rrsig_lifetime"`
	RRSIGRefresh      time.Duration `yaml:"rrsig_refresh"`
	ZSKLifetime       time.Duration `yaml:"zsk_lifetime"`
	KSKLifetime       time.Duration `yaml:"ksk_lifetime"`
	PropagationDelay  time.Duration `yaml:"propagation_delay"`
	// DNSKEYTTL is the TTL of DNSKEY, CDS and CDNSKEY, in seconds; 0: the SOA's TTL.
	DNSKEYTTL uint32 `yaml:"dnskey_ttl"`
}

// DNSSECAlgorithms are the names Algorithm takes.
var DNSSECAlgorithms = []string{"ecdsap256sha256", "ed25519", "rsasha256"}

// validate checks the block; key is its path ("[2].dnssec").
func (d DNSSECConfig) validate(key string, p *problems) {
	if d.Algorithm != "" && !contains(DNSSECAlgorithms, strings.ToLower(d.Algorithm)) {
		p.add(key+".algorithm", "%s is not one of %s", quote(d.Algorithm), strings.Join(DNSSECAlgorithms, ", "))
	}
	if d.Denial != "" && d.Denial != "nsec" && d.Denial != "nsec3" {
		p.add(key+".denial", "%s is not nsec or nsec3", quote(d.Denial))
	}
	for _, dur := range []struct {
		name string
		v    time.Duration
	}{{"rrsig_lifetime", d.RRSIGLifetime}, {"rrsig_refresh", d.RRSIGRefresh}, {"zsk_lifetime", d.ZSKLifetime}, {"ksk_lifetime", d.KSKLifetime}, {"propagation_delay", d.PropagationDelay}} {
		if dur.v < 0 {
			p.add(key+"."+dur.name, "%s is negative", dur.v)
		}
	}
	lifetime := d.RRSIGLifetime
	if lifetime == 0 {
		lifetime = 14 * 24 * time.Hour
	}
	if lifetime > 0 && lifetime < time.Hour {
		// Below an hour, the 90 minutes of inception in the past are most of a signature's life,
		// and a refresh would never catch up.
		p.add(key+".rrsig_lifetime", "%s is shorter than an hour", lifetime)
	}
	if d.RRSIGRefresh > 0 && d.RRSIGRefresh >= lifetime {
		p.add(key+".rrsig_refresh", "%s is not shorter than rrsig_lifetime %s: every signature would be due as soon as it is made", d.RRSIGRefresh, lifetime)
	}
	if !d.Sign && d != (DNSSECConfig{KeyDir: d.KeyDir}) {
		p.add(key+".sign", "policy keys are set but sign is false; set sign: true to sign the zone")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// String sums the policy up for messages.
func (d DNSSECConfig) String() string {
	return fmt.Sprintf("sign=%v key_dir=%s algorithm=%s denial=%s", d.Sign, d.KeyDir, d.Algorithm, d.Denial)
}
