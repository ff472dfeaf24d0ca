package config

import (
	"net/netip"
	"os"
	"strconv"
	"time"

	"warden/internal/upstream"
	"warden/internal/validator"
)

// ResolverConfig makes Warden a recursive resolver for the names its zones do not hold. Recursion is
// on only when RootHints is set, so a server started with zones alone stays purely authoritative.
type ResolverConfig struct {
	// RootHints is where iteration starts: "iana" for the built-in hints of the real root, or a
	// root hints file (relative paths from the config file's directory). Empty: no recursion.
	RootHints string `yaml:"root_hints"`
	// TrustAnchor turns DNSSEC validation on: "iana" for the built-in root keys, or a file of DS
	// or DNSKEY records in zone-file form (relative paths from the config file's directory).
	// Empty: validation with the built-in root keys when RootHints is "iana", none otherwise
	// (a private or lab root, or forwarding, has no anchor to start from).
	TrustAnchor string `yaml:"trust_anchor"`
	// NegativeTrustAnchors are domains under which DNSSEC failures are ignored until their
	// expiry (RFC 7646), while their owners mend them; `warden ctl nta` adds more at run time.
	NegativeTrustAnchors []NTAConfig `yaml:"negative_trust_anchors"`
	// ServerPort is the port authoritative servers are asked on: 53, or the port of a mini
	// internet on loopback (`warden lab --port`), whose root hints cannot carry one.
	ServerPort int `yaml:"server_port"`
	// Allow lists the client networks that may ask for recursion; the rest get REFUSED, so that
	// no install is an open resolver. Empty means loopback and the private ranges.
	Allow []netip.Prefix `yaml:"allow"`
	// Timeout bounds the work for one client question.
	Timeout time.Duration `yaml:"timeout"`
	// MaxConcurrent bounds the client questions being resolved at once; more are answered
	// SERVFAIL rather than queued without limit.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxQueries bounds the queries sent for one client question, name-server look-ups included.
	MaxQueries int `yaml:"max_queries"`
	// MaxReferrals bounds the delegations followed for one question.
	MaxReferrals int `yaml:"max_referrals"`
	// MaxCNAMEs bounds the CNAME links followed across replies.
	MaxCNAMEs int `yaml:"max_cnames"`
	// MaxNSLookups bounds the name-server names without glue looked up per delegation, against
	// delegations to many made-up names (NXNSAttack).
	MaxNSLookups int `yaml:"max_ns_lookups"`
	// MaxZoneQueries bounds the queries in flight to one zone's servers over all questions; past
	// it, SERVFAIL. 0 means no bound. Queries in flight in total are bounded by MaxConcurrent,
	// since each question has one query out at a time.
	MaxZoneQueries int `yaml:"max_zone_queries"`
	// QNameMinimisation tells each server only as much of the name as it needs (RFC 9156, relaxed).
	QNameMinimisation bool `yaml:"qname_minimisation"`
	// CacheBytes bounds the answer cache's memory.
	CacheBytes int64 `yaml:"cache_bytes"`
	// MinTTL and MaxTTL clamp how long an answer is kept (a floor and a ceiling on record TTLs).
	MinTTL time.Duration `yaml:"min_ttl"`
	MaxTTL time.Duration `yaml:"max_ttl"`
	// StaleTTL is how long past expiry an answer may still be served when resolution fails
	// (RFC 8767); 0 turns serving stale off.
	StaleTTL time.Duration `yaml:"stale_ttl"`
	// Forward sends the questions under a zone to upstream resolvers instead of resolving them;
	// the longest matching zone wins, and zone "." forwards everything.
	Forward []ForwardConfig `yaml:"forward"`
	// HoldOn watches plain UDP exchanges with authoritative servers for a second, different reply
	// to the same query (on-path injection), holding a reply that comes well before the server's
	// usual round trip until about that round trip. Each forwarded zone has its own switch.
	HoldOn Switch `yaml:"hold_on"`
	// SpecialUseOff lists special-use zones (localhost., test., onion., private reverse zones and
	// the like) that are resolved as any other name instead of answered locally.
	SpecialUseOff []string `yaml:"special_use_off"`
}

// ForwardConfig is one forwarded zone.
type ForwardConfig struct {
	Zone string `yaml:"zone"`
	// Upstreams are tried in order of their measured round-trip time; the scheme picks the
	// transport: "127.0.0.1:53" (UDP, TCP on truncation), "tcp://", "tls://IP:853#name",
	// "https://IP/dns-query#name".
	Upstreams []string `yaml:"upstreams"`
	// HoldOn is the resolver's hold_on for the plain UDP exchanges with these upstreams (DoT, DoH
	// and TCP cannot be injected into this way); nil (left out) means on.
	HoldOn *Switch `yaml:"hold_on"`
}

// NTAConfig is one negative trust anchor: the domain, and when it stops (RFC 3339, as
// 2026-12-31T00:00:00Z), so that none is forgotten in force.
type NTAConfig struct {
	Domain string `yaml:"domain"`
	Expiry string `yaml:"expiry"`
}

// NTAs returns the negative trust anchors of the configuration; Validate has checked them.
func (r ResolverConfig) NTAs() []validator.NTA {
	out := make([]validator.NTA, 0, len(r.NegativeTrustAnchors))
	for _, n := range r.NegativeTrustAnchors {
		exp, err := time.Parse(time.RFC3339, n.Expiry)
		if err != nil {
			continue
		}
		out = append(out, validator.NTA{Domain: n.Domain, Expiry: exp, FromConfig: true})
	}
	return out
}

// HoldOnOn says whether Hold-On watches this zone's plain UDP upstreams: on unless set off.
func (f ForwardConfig) HoldOnOn() bool { return f.HoldOn == nil || bool(*f.HoldOn) }

// DefaultAllow is who may ask for recursion when Allow is empty: this host and private networks.
var DefaultAllow = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// Enabled says whether recursion (iterating or forwarding) is configured.
func (r ResolverConfig) Enabled() bool { return r.RootHints != "" || len(r.Forward) > 0 }

// Anchor returns the trust anchor validation starts from: TrustAnchor, or "iana" when
// iterating from the real root; empty when nothing is validated.
func (r ResolverConfig) Anchor() string {
	if r.TrustAnchor != "" {
		return r.TrustAnchor
	}
	if r.RootHints == "iana" {
		return validator.IANA
	}
	return ""
}

// AllowedNets returns Allow, or DefaultAllow when it is empty.
func (r ResolverConfig) AllowedNets() []netip.Prefix {
	if len(r.Allow) == 0 {
		return DefaultAllow
	}
	return r.Allow
}

// Validate checks the hints file exists and the bounds are sane.
func (r ResolverConfig) Validate() error {
	var p problems
	if r.RootHints != "" && r.RootHints != "iana" {
		if fi, err := os.Stat(r.RootHints); err != nil {
			p.add("root_hints", "%v", err)
		} else if !fi.Mode().IsRegular() {
			p.add("root_hints", "%s is not a regular file", r.RootHints)
		}
	}
	if r.TrustAnchor != "" && r.TrustAnchor != validator.IANA {
		if _, err := validator.LoadAnchors(r.TrustAnchor); err != nil {
			p.add("trust_anchor", "%v", err)
		}
	}
	for i, n := range r.NegativeTrustAnchors {
		key := "negative_trust_anchors[" + strconv.Itoa(i) + "]"
		if !validName(n.Domain) {
			p.add(key+".domain", "%q is not a valid domain name", n.Domain)
		}
		if _, err := time.Parse(time.RFC3339, n.Expiry); err != nil {
			p.add(key+".expiry", "%q is not a time such as 2026-12-31T00:00:00Z", n.Expiry)
		}
	}
	if r.ServerPort < 1 || r.ServerPort > 65535 {
		p.add("server_port", "%d is not a port (1 to 65535)", r.ServerPort)
	}
	for i, a := range r.Allow {
		if !a.IsValid() {
			p.add("allow", "entry %d is not a network such as 192.168.0.0/16", i)
		}
	}
	seen := map[string]bool{}
	for i, f := range r.Forward {
		key := "forward[" + strconv.Itoa(i) + "]"
		if !validName(f.Zone) {
			p.add(key+".zone", "%q is not a valid domain name", f.Zone)
		} else if seen[f.Zone] {
			p.add(key+".zone", "%s is forwarded twice", f.Zone)
		}
		seen[f.Zone] = true
		if len(f.Upstreams) == 0 {
			p.add(key+".upstreams", "at least one upstream is required")
		}
		for j, u := range f.Upstreams {
			if _, err := upstream.ParseAddr(u); err != nil {
				p.add(key+".upstreams["+strconv.Itoa(j)+"]", "%v", err)
			}
		}
	}
	if r.Timeout <= 0 {
		p.add("timeout", "%s: must be positive", r.Timeout)
	}
	if r.MaxConcurrent < 1 {
		p.add("max_concurrent", "%d: must be at least 1", r.MaxConcurrent)
	}
	for _, b := range []struct {
		key      string
		val, min int
	}{
		{"max_queries", r.MaxQueries, 1}, {"max_referrals", r.MaxReferrals, 1},
		{"max_cnames", r.MaxCNAMEs, 0}, {"max_ns_lookups", r.MaxNSLookups, 0}, {"max_zone_queries", r.MaxZoneQueries, 0},
	} {
		if b.val < b.min {
			p.add(b.key, "%d: must be at least %d", b.val, b.min)
		}
	}
	if r.MinTTL < 0 || r.MaxTTL <= 0 || r.MinTTL > r.MaxTTL {
		p.add("min_ttl", "%s to %s is not a range of TTLs (min_ttl at least 0, max_ttl above it)", r.MinTTL, r.MaxTTL)
	}
	if r.StaleTTL < 0 {
		p.add("stale_ttl", "%s: must not be negative (0 turns serving stale off)", r.StaleTTL)
	}
	if r.CacheBytes < 1<<20 {
		p.add("cache_bytes", "%d: must be at least 1 MiB", r.CacheBytes)
	}
	return p.err()
}
