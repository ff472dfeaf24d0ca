package config

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

// ZoneConfig is one zone served with authority.
type ZoneConfig struct {
	// Origin is the zone's apex, fully qualified and lower-case once parsed ("example.test."; "."
	// for the root zone). Empty only in an invalid config.
	Origin string `yaml:"origin"`
	// File is the absolute path of the zone file once parsed (a relative path in YAML is taken from
	// the config file's directory). Empty when Data holds the zone instead.
	File string `yaml:"file"`
	// Data holds the zone file's contents when they are built into the binary, as the example zone
	// of Default is; nil when File names the file to read. It is never read from YAML.
	Data []byte `yaml:"-"`

	// Primaries makes the zone a secondary: it is transferred (IXFR, else AXFR) from the first of
	// them that answers, kept in File (default: in the storage directory) and refreshed on the SOA
	// timers and on NOTIFY from them.
	Primaries []netip.AddrPort `yaml:"primaries"`
	// Notify are the secondaries told (RFC 1996) when the zone changes.
	Notify []netip.AddrPort `yaml:"notify"`
	// AllowTransfer are the networks that may transfer the zone (AXFR, IXFR). Empty means nobody,
	// unless Key is set: then any address that signs with the key.
	AllowTransfer []netip.Prefix `yaml:"allow_transfer"`
	// AllowUpdate are the networks that may change the zone by dynamic update (RFC 2136); empty
	// means nobody. When Key is set, updates must also be signed with it.
	AllowUpdate []netip.Prefix `yaml:"allow_update"`
	// Key names the TSIG key that transfers, NOTIFY and UPDATE for this zone must be signed with,
	// both ways; "" = unsigned (the address lists alone decide).
	Key string `yaml:"key"`
	// Role is "" for a plain zone or "catalog" for a catalog zone (RFC 9432).
	Role string `yaml:"role"`
	// Catalog names the catalog zone, produced by this server, that lists this zone.
	Catalog string `yaml:"catalog"`
	// DNSSEC says whether and how Warden signs the zone.
	DNSSEC DNSSECConfig `yaml:"dnssec"`
}

// Open returns the zone file's contents, from Data when the zone is built in and from File
// otherwise, so the zone loader needs no file on disk for the built-in zone.
func (z ZoneConfig) Open() (io.ReadCloser, error) {
	if z.File == "" && z.Data != nil {
		return io.NopCloser(bytes.NewReader(z.Data)), nil
	}
	if z.File == "" {
		return nil, fmt.Errorf("zone %s: no file and no built-in data", z.Origin)
	}
	// Looked at before it is opened: opening a FIFO would block the zone loader until something
	// wrote to it.
	fi, err := os.Stat(z.File)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", z.File)
	}
	return os.Open(z.File)
}

// Source names the zone's contents in messages: the file's path, or the origin marked as built in.
func (z ZoneConfig) Source() string {
	if z.File == "" {
		return "built-in zone " + z.Origin
	}
	return z.File
}

// Zones are the zones served with authority, each origin at most once.
type Zones []ZoneConfig

// Validate checks each zone's origin, that it has a file or data, and that no origin is
// configured twice.
func (zs Zones) Validate() error {
	var p problems
	first := make(map[string]int, len(zs))
	for i, z := range zs {
		key := fmt.Sprintf("[%d]", i)
		switch {
		case z.Origin == "":
			p.add(key+".origin", "required")
		case !validName(canonicalName(z.Origin)):
			p.add(key+".origin", "%s is not a valid domain name", quote(z.Origin))
		case z.Origin != canonicalName(z.Origin):
			// Parse and ApplyFlags write origins in canonical form; a config built in code must
			// too, so that everything after Validate can compare origins as plain strings.
			p.add(key+".origin", "%s is not fully qualified and lower-case; write %s", quote(z.Origin), quote(canonicalName(z.Origin)))
		default:
			if j, dup := first[z.Origin]; dup {
				p.add(key+".origin", "zone %s is already zones[%d]", quote(z.Origin), j)
			} else {
				first[z.Origin] = i
			}
		}
		z.DNSSEC.validate(key+".dnssec", &p)
		if z.DNSSEC.Sign && z.IsProducedCatalog() {
			p.add(key+".dnssec.sign", "a catalog zone is read by secondaries only; it is not signed")
		}
		switch {
		case z.IsSecondary() || z.IsProducedCatalog():
			// A secondary's file is where its copy is kept and need not exist yet.
		case z.File == "" && z.Data == nil:
			p.add(key+".file", "required")
		}
		// A zone file that is missing or unreadable is not checked here: like one that does not
		// parse, it leaves its zone unserved (SERVFAIL) with its error while the server starts
		// and serves the others, as Knot and BIND do; `warden check` reports it.
	}
	return p.err()
}

// readable checks at load time, not when the file is first used, that a file exists and can be
// opened, so that a typo in a path is reported against its config line. It looks before it
// opens: opening a FIFO would block until something writes to it.
func readable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err // *PathError: names the file and the reason
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// canonicalName makes a name fully qualified and lower-cases its ASCII letters, the form in which
// the server compares names (RFC 4343: names compare case-insensitively).
func canonicalName(s string) string {
	if s == "" {
		return ""
	}
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// validName reports whether s, fully qualified, is a name a zone can have: labels of 1 to 63
// characters, 255 octets in all in wire form. Characters are limited to letters, digits, '-', '_'
// and '/' (RFC 2317 classless reverse zones): the DNS allows any octet, but anything else in a
// zone origin is a typo, and the zone-file library does not accept \DDD escapes at all.
func validName(s string) bool {
	if s == "." {
		return true
	}
	if !strings.HasSuffix(s, ".") || len(s) > 254 {
		// 254 presentation characters with the final dot are 255 octets in wire form.
		return false
	}
	for label := range strings.SplitSeq(s[:len(s)-1], ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
				c == '-' || c == '_' || c == '/'
			if !ok {
				return false
			}
		}
	}
	return true
}
