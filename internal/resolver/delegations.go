package resolver

import (
	"strings"
	"sync"
	"time"
)

// Delegations remembers the zone cuts resolutions have followed, with their name servers and the
// addresses found for them, until the NS records' TTL runs out. A new question starts at the
// closest cut known for its name instead of at the root, so a warm resolver asks one server for a
// new name in a known zone, as Unbound's infrastructure cache lets it.
//
// Only delegations taken from scrubbed referrals are stored: a server can hand out cuts below its
// own zone and nothing else, so a store for a zone never comes from outside that zone's parent.
type Delegations struct {
	now        func() time.Time
	maxEntries int
	maxTTL     time.Duration

	mu    sync.Mutex
	zones map[string]delegation
}

type delegation struct {
	servers []NameServer
	expires time.Time
}

// DelegationsConfig bounds a Delegations; zero values take the defaults.
type DelegationsConfig struct {
	MaxEntries int           // zones remembered; default 100,000
	MaxTTL     time.Duration // ceiling on the NS TTL; default one day
	Now        func() time.Time
}

// NewDelegations returns an empty store.
func NewDelegations(c DelegationsConfig) *Delegations {
	if c.MaxEntries <= 0 {
		c.MaxEntries = 100_000
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Delegations{now: c.Now, maxEntries: c.MaxEntries, maxTTL: c.MaxTTL, zones: make(map[string]delegation)}
}

// Closest returns the deepest unexpired cut at or above name (lower case, fully qualified), or
// ok=false when none is known. The servers are a copy the caller may change. For a DS question,
// pass the name's parent: the DS RRset lives on the parent side of the cut.
func (d *Delegations) Closest(name string) (zone string, servers []NameServer, ok bool) {
	if d == nil {
		return "", nil, false
	}
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if e, found := d.zones[name]; found {
			if now.Before(e.expires) {
				return name, cloneServers(e.servers), true
			}
			delete(d.zones, name)
		}
		if name == "." || name == "" {
			return "", nil, false
		}
		name = parent(name)
	}
}

// closestZone is Closest without copying the servers, for a caller that needs the zone alone.
func (d *Delegations) closestZone(name string) string {
	if d == nil {
		return "."
	}
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for ; name != "." && name != ""; name = parent(name) {
		if e, found := d.zones[name]; found && now.Before(e.expires) {
			return name
		}
	}
	return "."
}

// Store remembers the servers of zone for ttl (capped at the configured ceiling). Servers without
// an address are kept: their names can be looked up again.
func (d *Delegations) Store(zone string, servers []NameServer, ttl time.Duration) {
	if d == nil || zone == "." || ttl <= 0 || len(servers) == 0 {
		return // the root's servers are the hints, never taken from a reply
	}
	ttl = min(ttl, d.maxTTL)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, found := d.zones[zone]; !found && len(d.zones) >= d.maxEntries {
		d.evict()
	}
	d.zones[zone] = delegation{servers: cloneServers(servers), expires: d.now().Add(ttl)}
}

// AddAddresses records addresses found for a name server of zone after the delegation was stored
// (a name server named outside the zone, looked up separately), so the next question need not look
// it up again.
func (d *Delegations) AddAddresses(zone string, ns NameServer) {
	if d == nil || len(ns.Addrs) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e, found := d.zones[zone]
	if !found {
		return
	}
	servers := cloneServers(e.servers)
	for i := range servers {
		if servers[i].Name == ns.Name && len(servers[i].Addrs) == 0 {
			servers[i].Addrs = append(servers[i].Addrs, ns.Addrs...)
			e.servers = servers
			d.zones[zone] = e
			return
		}
	}
}

// Forget drops zone, after every one of its servers failed: the next question goes to the parent
// again, which may know better.
func (d *Delegations) Forget(zone string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	delete(d.zones, zone)
	d.mu.Unlock()
}

// Len returns the number of zones stored, expired ones included until they are looked at.
func (d *Delegations) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.zones)
}

// evict makes room: expired entries first, then, if none had expired, an eighth of the store in
// map order (effectively random), so that a flood of made-up zones cannot pin the resolver.
func (d *Delegations) evict() {
	now := d.now()
	for z, e := range d.zones {
		if !now.Before(e.expires) {
			delete(d.zones, z)
		}
	}
	if len(d.zones) < d.maxEntries {
		return
	}
	n := max(1, d.maxEntries/8)
	for z := range d.zones {
		delete(d.zones, z)
		if n--; n == 0 {
			return
		}
	}
}

// parent returns the name one label up; the root's parent is the root.
func parent(name string) string {
	if name == "." {
		return "."
	}
	_, rest, _ := strings.Cut(name, ".")
	if rest == "" {
		return "."
	}
	return rest
}
