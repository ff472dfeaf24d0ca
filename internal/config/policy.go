package config

import (
	"fmt"
	"net/netip"
	"time"
)

// PolicyConfig is the response policy: RPZ zones applied to recursive queries, in precedence order
// (an earlier zone decides before a later one, as in BIND's response-policy statement).
type PolicyConfig struct {
	RPZ []RPZConfig `yaml:"rpz"`
	// Safety is the check before a live change and the circuit breaker.
	Safety SafetyConfig `yaml:"safety"`
}

// RPZConfig is one response policy zone.
type RPZConfig struct {
	// Origin is the policy zone's name ("rpz.local."), fully qualified and lower-case once parsed.
	Origin string `yaml:"origin"`
	// File is the zone file, an absolute path once parsed (relative paths start at the config
	// file's directory).
	File string `yaml:"file"`
	// Override replaces the zone's own actions: given (default), disabled, nxdomain, nodata,
	// passthru, drop, tcp-only or cname (then CNAME is the target).
	Override string `yaml:"override"`
	CNAME    string `yaml:"cname"`
	// MaxPolicyTTL caps the TTL of policy answers; 0 leaves the zone's TTLs as written.
	MaxPolicyTTL time.Duration `yaml:"max_policy_ttl"`
	// BreakDNSSEC lets the zone rewrite signed answers to DO=1 queries.
	BreakDNSSEC bool `yaml:"break_dnssec"`
	// Shadow evaluates and counts the zone's rules without applying them.
	Shadow bool `yaml:"shadow"`
	// Clients limits the zone to queries from these networks; empty means every client.
	Clients []netip.Prefix `yaml:"clients"`
}

var overrides = map[string]bool{"": true, "given": true, "disabled": true, "nxdomain": true,
	"nodata": true, "passthru": true, "drop": true, "tcp-only": true, "cname": true}

// Validate checks each zone's origin, file and options, and that no origin is listed twice.
func (pc PolicyConfig) Validate() error {
	var p problems
	first := map[string]int{}
	for i, z := range pc.RPZ {
		key := fmt.Sprintf("rpz[%d]", i)
		switch {
		case z.Origin == "":
			p.add(key+".origin", "required")
		case !validName(canonicalName(z.Origin)) || z.Origin == ".":
			p.add(key+".origin", "%s is not a valid policy zone name", quote(z.Origin))
		case z.Origin != canonicalName(z.Origin):
			p.add(key+".origin", "%s is not fully qualified and lower-case; write %s", quote(z.Origin), quote(canonicalName(z.Origin)))
		default:
			if j, dup := first[z.Origin]; dup {
				p.add(key+".origin", "policy zone %s is already rpz[%d]", quote(z.Origin), j)
			} else {
				first[z.Origin] = i
			}
		}
		if z.File == "" {
			p.add(key+".file", "required")
		} else if err := readable(z.File); err != nil {
			p.add(key+".file", "%v", err)
		}
		if !overrides[z.Override] {
			p.add(key+".override", "%s: want given, disabled, nxdomain, nodata, passthru, drop, tcp-only or cname", quote(z.Override))
		}
		if z.Override == "cname" && !validName(canonicalName(z.CNAME)) {
			p.add(key+".cname", "%s: override cname needs a target domain name", quote(z.CNAME))
		}
		if z.Override != "cname" && z.CNAME != "" {
			p.add(key+".cname", "set only with override: cname")
		}
		if z.MaxPolicyTTL < 0 || z.MaxPolicyTTL%time.Second != 0 || z.MaxPolicyTTL > 1<<31*time.Second {
			p.add(key+".max_policy_ttl", "%s: want whole seconds from 0 (no cap) up", z.MaxPolicyTTL)
		}
		for j, c := range z.Clients {
			if !c.IsValid() {
				p.add(fmt.Sprintf("%s.clients[%d]", key, j), "not a network such as 10.0.0.0/8")
			}
		}
	}
	return p.err()
}
