package config

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
)

// KeyConfig is a TSIG key (RFC 8945) that transfers, NOTIFY and UPDATE can be signed with.
type KeyConfig struct {
	Name      string `yaml:"name"`      // the key's name, as both ends spell it ("xfr.")
	Algorithm string `yaml:"algorithm"` // hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512
	Secret    string `yaml:"secret"`    // base64, as knotc, tsig-keygen and ldns-keygen print it
}

// Keys are the TSIG keys, each name at most once.
type Keys []KeyConfig

// KeyAlgorithms are the TSIG algorithms Warden signs and verifies with.
var KeyAlgorithms = []string{"hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"}

// Validate checks names, algorithms and secrets.
func (ks Keys) Validate() error {
	var p problems
	seen := make(map[string]int, len(ks))
	for i, k := range ks {
		key := fmt.Sprintf("[%d]", i)
		switch {
		case k.Name == "":
			p.add(key+".name", "required")
		case !validName(canonicalName(k.Name)):
			p.add(key+".name", "%s is not a valid domain name", quote(k.Name))
		default:
			if j, dup := seen[canonicalName(k.Name)]; dup {
				p.add(key+".name", "key %s is already keys[%d]", quote(k.Name), j)
			}
			seen[canonicalName(k.Name)] = i
		}
		if !slices.Contains(KeyAlgorithms, strings.TrimSuffix(strings.ToLower(k.Algorithm), ".")) {
			p.add(key+".algorithm", "%s is not one of %s", quote(k.Algorithm), strings.Join(KeyAlgorithms, ", "))
		}
		if secret, err := base64.StdEncoding.DecodeString(k.Secret); err != nil || len(secret) == 0 {
			p.add(key+".secret", "not base64 (as tsig-keygen or keymgr -t print it)")
		}
	}
	return p.err()
}

// Find returns the key called name (any case, with or without the final dot).
func (ks Keys) Find(name string) (KeyConfig, bool) {
	for _, k := range ks {
		if canonicalName(k.Name) == canonicalName(name) {
			return k, true
		}
	}
	return KeyConfig{}, false
}

// SecretBytes decodes the secret; it is valid once Validate has passed.
func (k KeyConfig) SecretBytes() []byte {
	b, _ := base64.StdEncoding.DecodeString(k.Secret)
	return b
}

// Zone roles beside a plain zone.
const (
	// RoleCatalog marks a catalog zone (RFC 9432): produced from the zones that name it when it
	// has no primaries, consumed (its members become secondaries of the same primaries) when it has.
	RoleCatalog = "catalog"
)

// IsSecondary says whether the zone is transferred from primaries rather than read from a file.
func (z ZoneConfig) IsSecondary() bool { return len(z.Primaries) > 0 }

// IsProducedCatalog says whether the zone is a catalog Warden builds from its own zones.
func (z ZoneConfig) IsProducedCatalog() bool { return z.Role == RoleCatalog && !z.IsSecondary() }

// validateReplication checks the transfer keys of one zone entry; keys are the configured TSIG keys
// and zones all entries, for catalog references.
func (z ZoneConfig) validateReplication(key string, keys Keys, zones Zones, p *problems) {
	if z.Key != "" {
		if _, ok := keys.Find(z.Key); !ok {
			p.add(key+".key", "no key %s in keys", quote(z.Key))
		}
	}
	switch z.Role {
	case "", RoleCatalog:
	default:
		p.add(key+".role", "%s is not a role; the one there is: catalog", quote(z.Role))
	}
	if z.IsSecondary() {
		if len(z.AllowUpdate) > 0 {
			p.add(key+".allow_update", "a secondary takes no updates: send them to its primary")
		}
		if z.Catalog != "" {
			p.add(key+".catalog", "only a primary's zones are listed in a catalog it produces")
		}
	}
	if z.IsProducedCatalog() && (z.File != "" || z.Data != nil) {
		p.add(key+".file", "a produced catalog is built from the zones that name it, not read from a file")
	}
	for i, a := range z.Primaries {
		if !a.IsValid() || a.Port() == 0 {
			p.add(fmt.Sprintf("%s.primaries[%d]", key, i), "want an IP address and port, as 192.0.2.1:53")
		}
	}
	for i, a := range z.Notify {
		if !a.IsValid() || a.Port() == 0 {
			p.add(fmt.Sprintf("%s.notify[%d]", key, i), "want an IP address and port, as 192.0.2.2:53")
		}
	}
	if z.Catalog != "" {
		c := canonicalName(z.Catalog)
		i := slices.IndexFunc(zones, func(o ZoneConfig) bool { return o.Origin == c })
		if i < 0 || !zones[i].IsProducedCatalog() {
			p.add(key+".catalog", "%s is not a catalog zone of this server (role: catalog, no primaries)", quote(z.Catalog))
		}
	}
}

// Allowed says whether addr is inside one of nets.
func Allowed(nets []netip.Prefix, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, n := range nets {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// validateReplication checks what each zone entry says about transfers, against the keys and the
// other zones.
func (c *Config) validateReplication() error {
	var p problems
	for i, z := range c.Zones {
		z.validateReplication(fmt.Sprintf("[%d]", i), c.Keys, c.Zones, &p)
	}
	return p.err()
}

// validateTransferredPolicy checks the policy zones that come by transfer: a known key, and an
// origin no served zone has (NOTIFY names the zone, and must mean one thing).
func (c *Config) validateTransferredPolicy() error {
	var p problems
	for i, r := range c.Policy.RPZ {
		key := fmt.Sprintf("rpz[%d]", i)
		if r.Key != "" {
			if _, ok := c.Keys.Find(r.Key); !ok {
				p.add(key+".key", "no key %s in keys", quote(r.Key))
			}
		}
		if r.IsTransferred() && slices.ContainsFunc(c.Zones, func(z ZoneConfig) bool { return z.Origin == r.Origin }) {
			p.add(key+".origin", "%s is also a served zone; a transferred policy zone needs a name of its own", quote(r.Origin))
		}
	}
	return p.err()
}

// FillTransferredFiles gives each transferred policy zone without a file one in the storage
// directory. It runs once the storage directory is final (after the command-line flags).
func (c *Config) FillTransferredFiles() {
	for i := range c.Policy.RPZ {
		r := &c.Policy.RPZ[i]
		if r.IsTransferred() && r.File == "" && c.Storage != "" {
			r.File = StoragePath(c.Storage, r.Origin, "rpz")
		}
	}
}

// StoragePath is where a zone's file of the given kind lives in the storage directory:
// "example.com.zone", "example.com.journal"; the root zone is "root.zone".
func StoragePath(storage, origin, kind string) string {
	name := strings.TrimSuffix(origin, ".")
	if name == "" {
		name = "root"
	}
	name = strings.ReplaceAll(name, "/", "_")
	return filepath.Join(storage, name+"."+kind)
}
