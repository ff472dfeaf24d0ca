package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// PolicyConfig is the response policy: RPZ zones and blocklists applied to recursive queries, in
// precedence order: every RPZ zone in its order (an earlier zone decides before a later one, as in
// BIND's response-policy statement), then every blocklist in its order.
type PolicyConfig struct {
	RPZ        []RPZConfig       `yaml:"rpz"`
	Blocklists []BlocklistConfig `yaml:"blocklists"`
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
	// Primaries, when set, make the policy zone a transferred one, as BIND's `type secondary`
	// response-policy zones: refreshed from the first primary that answers (IXFR, else AXFR) on
	// its SOA timers and on NOTIFY, kept in File (default: in the storage directory), and put in
	// force after the same check as any policy change. It is not served to queries.
	Primaries []netip.AddrPort `yaml:"primaries"`
	// Key names the TSIG key its transfers and NOTIFY are signed with.
	Key string `yaml:"key"`
}

// IsTransferred says whether the policy zone comes from primaries rather than a file of its own.
func (r RPZConfig) IsTransferred() bool { return len(r.Primaries) > 0 }

var overrides = map[string]bool{"": true, "given": true, "disabled": true, "nxdomain": true,
	"nodata": true, "passthru": true, "drop": true, "tcp-only": true, "cname": true}

// BlocklistConfig is one blocklist: a hosts file, a list of names or Adblock rules, from a file or
// a URL, whose names all get one action.
type BlocklistConfig struct {
	// Name identifies the list in logs, metrics and reports: letters, digits, '.', '_' and '-'.
	Name string `yaml:"name"`
	// Source is an http:// or https:// URL, or a file: an absolute path once parsed (relative
	// paths start at the config file's directory).
	Source string `yaml:"source"`
	// Format is auto (the default: detected from the list's first 64 KiB), hosts, domains or
	// adblock.
	Format string `yaml:"format"`
	// Refresh is how often the list is fetched again. 0 means the default: 24h for a URL, and
	// reload.watch_interval for a file (which is read again only when it changed).
	Refresh time.Duration `yaml:"refresh"`
	// Action is what a listed name is answered: nxdomain (the default), nodata, or null (A 0.0.0.0
	// and AAAA ::, NODATA for other types, as Pi-hole and AdGuard Home answer).
	Action string `yaml:"action"`
	// Shadow evaluates and counts the list's names without applying them.
	Shadow bool `yaml:"shadow"`
	// Clients limits the list to queries from these networks; empty means every client.
	Clients []netip.Prefix `yaml:"clients"`
}

// IsURL says whether the list comes from an http(s) URL rather than a file.
func (b BlocklistConfig) IsURL() bool { return isListURL(b.Source) }

func isListURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// minURLRefresh is the shortest refresh of a list fetched over HTTP: list publishers update a few
// times a day at most, and some block clients that ask more often. Tests lower it.
var minURLRefresh = time.Minute

// minFileRefresh keeps a typo from turning a file list's refresh into a busy loop of stat calls.
const minFileRefresh = 100 * time.Millisecond

var (
	listFormats = map[string]bool{"": true, "auto": true, "hosts": true, "domains": true, "adblock": true}
	listActions = map[string]bool{"": true, "nxdomain": true, "nodata": true, "null": true}
)

// validListName says whether s may name a blocklist.
func validListName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Validate checks each zone's origin, file and options, and that no origin is listed twice; then
// each blocklist's name (unique, and no policy zone's), source, format, refresh and action.
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
		switch {
		case z.IsTransferred():
			// The file is where the transferred copy is kept; it need not exist yet.
			for j, a := range z.Primaries {
				if !a.IsValid() || a.Port() == 0 {
					p.add(fmt.Sprintf("%s.primaries[%d]", key, j), "want an IP address and port, as 192.0.2.1:53")
				}
			}
		case z.File == "":
			p.add(key+".file", "required")
		default:
			if err := readable(z.File); err != nil {
				p.add(key+".file", "%v", err)
			}
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
	pc.validateBlocklists(&p, first)
	return p.err()
}

// validateBlocklists checks the blocklists; rpz maps the policy zones' origins to their index.
func (pc PolicyConfig) validateBlocklists(p *problems, rpz map[string]int) {
	seen := map[string]int{}
	for i, b := range pc.Blocklists {
		key := fmt.Sprintf("blocklists[%d]", i)
		switch j, dup := seen[b.Name]; {
		case b.Name == "":
			p.add(key+".name", "required")
		case !validListName(b.Name):
			p.add(key+".name", "%s: want letters, digits, '.', '_' and '-' only (at most 64)", quote(b.Name))
		case dup:
			p.add(key+".name", "blocklist %s is already blocklists[%d]", quote(b.Name), j)
		default:
			seen[b.Name] = i
			if j, ok := rpz[canonicalName(b.Name)]; ok {
				p.add(key+".name", "%s is the name of policy zone rpz[%d]", quote(b.Name), j)
			}
		}
		switch {
		case b.Source == "":
			p.add(key+".source", "required")
		case b.IsURL():
			if u, err := url.Parse(b.Source); err != nil {
				p.add(key+".source", "%s: %v", quote(b.Source), err)
			} else if u.Host == "" || u.User != nil {
				p.add(key+".source", "%s: want an http(s) URL with a host and no user name", quote(b.Source))
			}
		case strings.Contains(b.Source, "://"):
			p.add(key+".source", "%s: want a file or an http:// or https:// URL", quote(b.Source))
		default:
			if err := readable(b.Source); err != nil {
				p.add(key+".source", "%v", err)
			}
		}
		if !listFormats[b.Format] {
			p.add(key+".format", "%s: want auto, hosts, domains or adblock", quote(b.Format))
		}
		if !listActions[b.Action] {
			p.add(key+".action", "%s: want nxdomain, nodata or null", quote(b.Action))
		}
		switch {
		case b.Refresh < 0:
			p.add(key+".refresh", "%s: want a positive duration, or 0 for the default", b.Refresh)
		case b.Refresh > 0 && b.IsURL() && b.Refresh < minURLRefresh:
			p.add(key+".refresh", "%s: a URL is fetched at most every %s", b.Refresh, minURLRefresh)
		case b.Refresh > 0 && b.Refresh < minFileRefresh:
			p.add(key+".refresh", "%s: want at least %s", b.Refresh, minFileRefresh)
		}
		for j, c := range b.Clients {
			if !c.IsValid() {
				p.add(fmt.Sprintf("%s.clients[%d]", key, j), "not a network such as 10.0.0.0/8")
			}
		}
	}
}
