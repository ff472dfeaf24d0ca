package config

import (
	"fmt"
	"net/netip"
	"reflect"
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
	// ParentDSTTL is the TTL of the zone's DS at its parent, which a KSK rollover waits out
	// after the new DS is seen; 0: one day.
	ParentDSTTL time.Duration `yaml:"parent_ds_ttl"`
	// ParentDSCheck are servers of the parent zone asked for the zone's DS while a new KSK
	// waits for it, as Knot's ksk-submission does: once every one of them answers with the new
	// key's DS, the rollover goes on as after `warden ctl zone ds-seen`. Empty: only ds-seen.
	ParentDSCheck []netip.AddrPort `yaml:"parent_ds_check"`
	// ParentDSCheckInterval is how often they are asked; 0: an hour, as Knot's check-interval.
	ParentDSCheckInterval time.Duration `yaml:"parent_ds_check_interval"`
}

// Equal says whether d and o are the same block.
func (d DNSSECConfig) Equal(o DNSSECConfig) bool { return reflect.DeepEqual(d, o) }

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
	}{{"rrsig_lifetime", d.RRSIGLifetime}, {"rrsig_refresh", d.RRSIGRefresh}, {"zsk_lifetime", d.ZSKLifetime}, {"ksk_lifetime", d.KSKLifetime}, {"propagation_delay", d.PropagationDelay}, {"parent_ds_ttl", d.ParentDSTTL}, {"parent_ds_check_interval", d.ParentDSCheckInterval}} {
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
	d.validateLifetimes(key, p)
	if !d.Sign && !d.Equal(DNSSECConfig{KeyDir: d.KeyDir}) {
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

// validateLifetimes refuses key lifetimes shorter than the rollover they start: the next
// rollover would be due before the last is over. What the zone's own TTLs add is checked when
// the zone is signed; here only what the block says is known.
func (d DNSSECConfig) validateLifetimes(key string, p *problems) {
	prop := d.PropagationDelay
	if prop == 0 {
		prop = time.Hour
	}
	keyTTL := time.Duration(d.DNSKEYTTL) * time.Second
	if need := 2*prop + keyTTL; d.ZSKLifetime > 0 && !d.SingleTypeSigning && d.ZSKLifetime <= need {
		p.add(key+".zsk_lifetime", "%s is not longer than a ZSK rollover takes, at least %s (twice propagation_delay %s, plus dnskey_ttl)", d.ZSKLifetime, need, prop)
	}
	dsTTL := d.ParentDSTTL
	if dsTTL == 0 {
		dsTTL = 24 * time.Hour
	}
	if need := 2*prop + keyTTL + dsTTL; d.KSKLifetime > 0 && d.KSKLifetime <= need {
		p.add(key+".ksk_lifetime", "%s is not longer than a KSK rollover takes, at least %s (twice propagation_delay %s, plus dnskey_ttl and parent_ds_ttl %s)", d.KSKLifetime, need, prop, dsTTL)
	}
}
