package validator

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// NTA is a negative trust anchor (RFC 7646): below Domain, until Expiry, answers are treated as
// insecure whatever their signatures say, so that an operator can keep a zone whose DNSSEC is
// broken resolvable while its owner mends it.
type NTA struct {
	Domain string    `json:"domain"`
	Expiry time.Time `json:"expiry"`
	// FromConfig marks the anchors the configuration lists: a reload replaces them, and leaves
	// the ones added by hand.
	FromConfig bool `json:"from_config"`
}

// NegativeAnchors is the set of negative trust anchors in force, shared by every chain of a
// server and changed while it runs. It is safe for concurrent use.
type NegativeAnchors struct {
	mu     sync.RWMutex
	byName map[string]NTA
	// version counts the changes, so that what was decided under an older set (an answer
	// remembered as bogus) can be told apart.
	version atomic.Uint64
}

// maxNTAs bounds the set; an operator needs a handful.
const maxNTAs = 1000

// NewNegativeAnchors returns an empty set.
func NewNegativeAnchors() *NegativeAnchors {
	return &NegativeAnchors{byName: map[string]NTA{}}
}

// Add puts a negative trust anchor for domain in force until expiry, replacing one for the same
// domain.
func (n *NegativeAnchors) Add(domain string, expiry time.Time, fromConfig bool) error {
	name, err := ntaName(domain)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.byName[name]; !ok && len(n.byName) >= maxNTAs {
		return fmt.Errorf("negative trust anchor %s: already %d in force", name, maxNTAs)
	}
	n.byName[name] = NTA{Domain: name, Expiry: expiry, FromConfig: fromConfig}
	n.version.Add(1)
	return nil
}

// Remove takes the anchor for domain away and reports whether there was one.
func (n *NegativeAnchors) Remove(domain string) (bool, error) {
	name, err := ntaName(domain)
	if err != nil {
		return false, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.byName[name]
	delete(n.byName, name)
	n.version.Add(1)
	return ok, nil
}

// SetConfigured replaces the anchors that came from the configuration with list.
func (n *NegativeAnchors) SetConfigured(list []NTA) error {
	next := map[string]NTA{}
	for _, a := range list {
		name, err := ntaName(a.Domain)
		if err != nil {
			return err
		}
		next[name] = NTA{Domain: name, Expiry: a.Expiry, FromConfig: true}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for name, a := range n.byName {
		if !a.FromConfig {
			next[name] = a // one added by hand wins over the file's
		}
	}
	if len(next) > maxNTAs {
		return fmt.Errorf("negative trust anchors: %d, more than %d", len(next), maxNTAs)
	}
	n.byName = next
	n.version.Add(1)
	return nil
}

// List returns the anchors not yet expired at now, in canonical order of their domains.
func (n *NegativeAnchors) List(now time.Time) []NTA {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]NTA, 0, len(n.byName))
	for _, a := range n.byName {
		if now.Before(a.Expiry) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return compareNames(out[i].Domain, out[j].Domain) < 0 })
	return out
}

// Covers returns the anchor in force at now at or above name.
func (n *NegativeAnchors) Covers(name string, now time.Time) (NTA, bool) {
	if n == nil {
		return NTA{}, false
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if len(n.byName) == 0 {
		return NTA{}, false
	}
	for x := strings.ToLower(name); ; x = parentName(x) {
		if a, ok := n.byName[x]; ok && now.Before(a.Expiry) {
			return a, true
		}
		if x == "." {
			return NTA{}, false
		}
	}
}

// Version changes whenever the set does.
func (n *NegativeAnchors) Version() uint64 {
	if n == nil {
		return 0
	}
	return n.version.Load()
}

// NTADomain returns domain as the set keeps it (lower case, fully qualified), or why it is not a
// domain name.
func NTADomain(domain string) (string, error) { return ntaName(domain) }

func ntaName(domain string) (string, error) {
	name := strings.ToLower(strings.TrimSpace(domain))
	if name == "" {
		return "", fmt.Errorf("negative trust anchor: empty domain")
	}
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	if name != "." {
		for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
			if l == "" || len(l) > 63 {
				return "", fmt.Errorf("negative trust anchor %q: not a domain name", domain)
			}
		}
	}
	if len(name) > 254 {
		return "", fmt.Errorf("negative trust anchor %q: name too long", domain)
	}
	return name, nil
}
