// Package config is Warden's configuration: one typed tree, decoded from one YAML file, checked by
// one Validate per section. The server reads it once when it builds a snapshot (listeners, zones,
// limits, logging) and never during a query; a reload builds a new Config and a new snapshot beside
// the old ones.
//
// Every problem is reported as an *Error that names the file, line and key, or the command-line
// flag, that it came from, so an operator can go straight to the line to fix. Unknown keys are
// errors, not warnings: a misspelt limit that silently keeps its default is how a server ends up
// running with a setting nobody chose.
//
// Adding a section: a struct type with yaml tags and a Validate method in its own file, a field in
// Config, a line in Config.Validate, and its defaults in default.yaml.
package config

import (
	_ "embed" // the default configuration and its example zone are built into the binary
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Config is the whole configuration. A Config from Load, Parse or Default is valid and normalised:
// addresses parsed, zone origins fully qualified and lower-case, zone file paths absolute.
type Config struct {
	// Listen holds the addresses the server answers on: over UDP and TCP alike, or over DoT, DoH or
	// DoQ for the tls://, https:// and quic:// forms. Port 0 picks a free port (for tests).
	Listen Listeners `yaml:"listen"`
	// TLS is the certificate of the encrypted listeners; required when there is one.
	TLS TLSConfig `yaml:"tls"`
	// Zones are served with authority. Empty means the server serves no zone of its own.
	Zones  Zones        `yaml:"zones"`
	Limits LimitsConfig `yaml:"limits"`
	Log    LogConfig    `yaml:"log"`
	Reload ReloadConfig `yaml:"reload"`
	// Resolver turns on recursion for names outside the zones; off unless root hints are set.
	Resolver ResolverConfig `yaml:"resolver"`
	// Policy rewrites the answers to recursive queries (RPZ); empty means no policy.
	Policy PolicyConfig `yaml:"policy"`
	// RRL limits the rate of identical responses over UDP; off unless rrl.rate is set.
	RRL RRLConfig `yaml:"rrl"`
	// Cookies are DNS cookies (RFC 7873); on by default.
	Cookies CookiesConfig `yaml:"cookies"`
	// Control is the control interface (`warden ctl`, `warden policy`).
	Control ControlConfig `yaml:"control"`
	// HTTP is the HTTP listener of metrics, the dashboard and its API; off unless it has an address.
	HTTP HTTPConfig `yaml:"http"`
	// Dnstap sends a record of the traffic to a dnstap collector; off unless socket is set.
	Dnstap DnstapConfig `yaml:"dnstap"`
	// Keys are the TSIG keys zones refer to by name.
	Keys Keys `yaml:"keys"`
	// Storage is the directory for what the server writes: secondaries' copies of their zones and
	// the journals IXFR is served from.
	Storage string `yaml:"storage"`
	// StateDir, when set, is where the server keeps what must outlive it beside the zones: the
	// response policy's versions (under StateDir/policy), so that a rollback after a restart
	// puts back the version before the last change. Empty keeps them in memory only.
	StateDir string `yaml:"state_dir"`
	// User, when set, is the account the server runs as once its sockets are open: started as
	// root (or with CAP_NET_BIND_SERVICE) for ports below 1024, it then gives root up.
	User string `yaml:"user"`
	// QueryLog writes every answer to files that `warden log` searches; off unless it has a dir.
	QueryLog QueryLogConfig `yaml:"query_log"`

	// name is the config file as named to Parse, for messages; empty for Default.
	name string
	// where maps a key path ("zones[1].origin") to the line or flag that set it; keys set by
	// defaults or in code are absent.
	where map[string]location
}

var (
	//go:embed default.yaml
	defaultYAML []byte
	//go:embed example.test.zone
	exampleZone []byte
)

// embeddedZones are the zone files default.yaml may name; Default reads them from here into
// ZoneConfig.Data instead of from disk, so a bare binary serves its example zone at once.
var embeddedZones = map[string][]byte{"example.test.zone": exampleZone}

// defaults is default.yaml decoded once. It is the one place where default values are written
// down: Parse starts from it, so a key left out of a file means the same as in Default.
var defaults = sync.OnceValues(func() (*Config, error) {
	c := &Config{}
	if err := decode(defaultYAML, "default.yaml", c); err != nil {
		return nil, err
	}
	for i, z := range c.Zones {
		data, ok := embeddedZones[z.File]
		if !ok {
			return nil, fmt.Errorf("default.yaml: zones[%d].file: %q is not built in", i, z.File)
		}
		c.Zones[i] = ZoneConfig{Origin: canonicalName(z.Origin), Data: data}
	}
	return c, nil
})

// Default returns a fresh copy of the built-in configuration: UDP and TCP on 127.0.0.1:1053,
// serving the built-in zone example.test. The copy is the caller's to change.
//
// It panics only if default.yaml, which is compiled in, does not decode: that is a broken build,
// caught by the package's tests, not a condition a running server can meet.
func Default() *Config {
	c, err := defaults()
	if err != nil {
		panic("config: built-in default: " + err.Error())
	}
	d := c.clone()
	// Messages about the default point at keys, not at lines of a file the operator never saw.
	d.name, d.where = "", nil
	return d
}

// Load reads the YAML file at path and returns its validated configuration. Relative zone file
// paths are taken relative to the directory of path.
func Load(path string) (*Config, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(data, path, filepath.Dir(abs))
}

// Parse decodes and validates a configuration held in memory. name is the file named in messages;
// baseDir is the directory that relative zone file paths start from ("" is the working directory).
// Keys the file leaves out keep the values of default.yaml, except zones: the example zone is not
// served unless a file asks for it.
func Parse(data []byte, name, baseDir string) (*Config, error) {
	d, err := defaults()
	if err != nil {
		return nil, err
	}
	c := d.clone()
	c.Zones = nil
	if err := decode(data, name, c); err != nil {
		return nil, err
	}
	c.Cookies.Secret = secretPath(c.Cookies.Secret, baseDir)
	for i, sec := range c.Cookies.PreviousSecrets {
		c.Cookies.PreviousSecrets[i] = secretPath(sec, baseDir)
	}
	for i := range c.Zones {
		z := &c.Zones[i]
		z.Origin = canonicalName(z.Origin)
		if z.Catalog != "" {
			z.Catalog = canonicalName(z.Catalog)
		}
		if z.Key != "" {
			z.Key = canonicalName(z.Key)
		}
		if z.DNSSEC.Sign && z.DNSSEC.KeyDir == "" {
			z.DNSSEC.KeyDir = "keys"
		}
		if z.DNSSEC.KeyDir != "" && !filepath.IsAbs(z.DNSSEC.KeyDir) {
			if p, err := filepath.Abs(filepath.Join(baseDir, z.DNSSEC.KeyDir)); err == nil {
				z.DNSSEC.KeyDir = p
			}
		}
		if z.File != "" && !filepath.IsAbs(z.File) {
			// Abs fails only when the working directory is gone; the file check in Validate then
			// reports the path as written.
			if p, err := filepath.Abs(filepath.Join(baseDir, z.File)); err == nil {
				z.File = p
			}
		}
	}
	for i := range c.Resolver.Forward {
		c.Resolver.Forward[i].Zone = canonicalName(c.Resolver.Forward[i].Zone)
	}
	for i, z := range c.Resolver.SpecialUseOff {
		c.Resolver.SpecialUseOff[i] = canonicalName(z)
	}
	for i := range c.Policy.RPZ {
		z := &c.Policy.RPZ[i]
		z.Origin = canonicalName(z.Origin)
		if z.Key != "" {
			z.Key = canonicalName(z.Key)
		}
		if z.File != "" && !filepath.IsAbs(z.File) {
			if p, err := filepath.Abs(filepath.Join(baseDir, z.File)); err == nil {
				z.File = p
			}
		}
	}
	for _, path := range []*string{&c.TLS.Cert, &c.TLS.Key, &c.Policy.Safety.CheckCorpus, &c.Control.Socket, &c.Control.HTTP.TokenFile, &c.HTTP.TokenFile, &c.Storage, &c.StateDir} {
		if *path != "" && !filepath.IsAbs(*path) {
			if p, err := filepath.Abs(filepath.Join(baseDir, *path)); err == nil {
				*path = p
			}
		}
	}
	if d := c.QueryLog.Dir; d != "" && !filepath.IsAbs(d) {
		if p, err := filepath.Abs(filepath.Join(baseDir, d)); err == nil {
			c.QueryLog.Dir = p
		}
	}
	for i := range c.Policy.Blocklists {
		b := &c.Policy.Blocklists[i]
		if b.Source != "" && !b.IsURL() && !strings.Contains(b.Source, "://") && !filepath.IsAbs(b.Source) {
			if p, err := filepath.Abs(filepath.Join(baseDir, b.Source)); err == nil {
				b.Source = p
			}
		}
	}
	if path, ok := strings.CutPrefix(c.Dnstap.Socket, "unix:"); ok && path != "" && !filepath.IsAbs(path) {
		if p, err := filepath.Abs(filepath.Join(baseDir, path)); err == nil {
			c.Dnstap.Socket = "unix:" + p
		}
	}
	if h := c.Resolver.RootHints; h != "" && h != "iana" && !filepath.IsAbs(h) {
		if p, err := filepath.Abs(filepath.Join(baseDir, h)); err == nil {
			c.Resolver.RootHints = p
		}
	}
	if a := c.Resolver.TrustAnchor; a != "" && a != "iana" && !filepath.IsAbs(a) {
		if p, err := filepath.Abs(filepath.Join(baseDir, a)); err == nil {
			c.Resolver.TrustAnchor = p
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks every section and returns all the problems found, each naming its key and,
// where known, the file and line or the flag that set it. It does not change c.
func (c *Config) Validate() error {
	sections := []struct {
		key string
		err error
	}{
		{"listen", c.Listen.Validate()},
		{"", c.TLS.validate(c.Listen)},
		{"zones", c.Zones.Validate()},
		{"zones", c.validateReplication()},
		{"policy", c.validateTransferredPolicy()},
		{"keys", c.Keys.Validate()},
		{"limits", c.Limits.Validate()},
		{"log", c.Log.Validate()},
		{"reload", c.Reload.Validate()},
		{"resolver", c.Resolver.Validate()},
		{"policy", c.Policy.Validate()},
		{"policy.safety", c.Policy.Safety.Validate()},
		{"rrl", c.RRL.Validate()},
		{"cookies", c.Cookies.Validate()},
		{"control", c.Control.Validate()},
		{"http", c.HTTP.Validate()},
		{"dnstap", c.Dnstap.Validate()},
		{"state_dir", validateDir(c.StateDir)},
		{"user", validateUser(c.User)},
		{"query_log", c.QueryLog.Validate()},
	}
	var errs []error
	for _, s := range sections {
		for _, err := range leaves(s.err) {
			e, ok := err.(*Error)
			if !ok {
				e = &Error{Msg: err.Error()}
			}
			errs = append(errs, c.locate(joinKey(s.key, e.Key), e.Msg))
		}
	}
	return limitErrors(errs, c.name)
}

// locate builds the error for key, pointing at the place that set the key or, failing that, the
// nearest enclosing key that has a place (a missing origin points at its zone's entry).
func (c *Config) locate(key, msg string) *Error {
	e := &Error{Key: key, Msg: msg}
	for k := key; ; k = parentKey(k) {
		if loc, ok := c.where[k]; ok {
			if loc.flag != "" {
				e.Flag = loc.flag
			} else {
				e.File, e.Line = c.name, loc.line
			}
			return e
		}
		if k == "" {
			break
		}
	}
	e.File = c.name
	return e
}

func (c *Config) clone() *Config {
	d := *c
	d.Listen = slices.Clone(c.Listen)
	d.Zones = slices.Clone(c.Zones)
	d.Keys = slices.Clone(c.Keys)
	d.Resolver.Allow = slices.Clone(c.Resolver.Allow)
	d.Resolver.Forward = slices.Clone(c.Resolver.Forward)
	d.Resolver.SpecialUseOff = slices.Clone(c.Resolver.SpecialUseOff)
	d.Policy.RPZ = slices.Clone(c.Policy.RPZ)
	d.Policy.Blocklists = slices.Clone(c.Policy.Blocklists)
	d.Cookies.PreviousSecrets = slices.Clone(c.Cookies.PreviousSecrets)
	d.HTTP.Listen = slices.Clone(c.HTTP.Listen)
	d.Dnstap.Messages = slices.Clone(c.Dnstap.Messages)
	d.where = maps.Clone(c.where)
	return &d
}

// maxConfigSize bounds what Load reads and Parse accepts. A config is a few kilobytes; the bound
// keeps a wrong path (a zone file, a log) from being read whole, and keeps the YAML parser's cost
// on hostile input bounded.
const maxConfigSize = 1 << 20

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d bytes; is it a config file?", path, maxConfigSize)
	}
	return data, nil
}

// validateDir checks that dir, when set, is a directory or can become one: a file in its way
// would leave the server without what it was told to keep there (the policy's versions, the
// query log). The server creates it.
func validateDir(dir string) error {
	if dir == "" {
		return nil
	}
	if strings.ContainsRune(dir, 0) {
		return errors.New("holds a NUL byte")
	}
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("%s is not a directory", quote(dir))
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return nil
}

// ApplyStateDirFlag sets the state directory from --state-dir (a relative path is taken from
// the working directory) and validates it, naming the flag in an error.
func ApplyStateDirFlag(c *Config, dir string) error {
	if dir == "" {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		err = validateDir(abs)
	}
	if err != nil {
		return &Error{Flag: flagName("--state-dir", dir), Msg: err.Error()}
	}
	c.StateDir = abs
	if c.where == nil {
		c.where = make(map[string]location)
	}
	c.where["state_dir"] = location{flag: flagName("--state-dir", dir)}
	return nil
}
