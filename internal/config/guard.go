package config

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// RRLConfig is response rate limiting over UDP, as BIND's rate-limit: identical responses to
// one client prefix beyond Rate a second are dropped or, every Slip-th, sent empty with TC=1.
type RRLConfig struct {
	// Rate is the responses per second per client prefix and answer; 0 turns limiting off.
	Rate int `yaml:"rate"`
	// Slip: every Slip-th limited response is sent truncated instead of dropped; 0 never, 1
	// always (BIND's range, 0..10).
	Slip int `yaml:"slip"`
	// Window is how often, at most, the limited responses are logged.
	Window time.Duration `yaml:"window"`
	// IPv4Prefix and IPv6Prefix group clients: the responses to one network count together.
	IPv4Prefix int `yaml:"ipv4_prefix"`
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// LogOnly counts and logs what would be limited and sends every response.
	LogOnly bool `yaml:"log_only"`
}

// maxRRLRate matches the limiter's bound (rrl.MaxRate).
const maxRRLRate = 100000

// Validate checks each key's range.
func (r RRLConfig) Validate() error {
	var p problems
	if r.Rate < 0 || r.Rate > maxRRLRate {
		p.add("rate", "%d is outside 0..%d (0 turns limiting off)", r.Rate, maxRRLRate)
	}
	if r.Slip < 0 || r.Slip > 10 {
		p.add("slip", "%d is outside 0..10", r.Slip)
	}
	if r.Window < time.Second || r.Window > time.Hour {
		p.add("window", "%s is outside 1s..1h", r.Window)
	}
	if r.IPv4Prefix < 8 || r.IPv4Prefix > 32 {
		p.add("ipv4_prefix", "%d is outside 8..32", r.IPv4Prefix)
	}
	if r.IPv6Prefix < 16 || r.IPv6Prefix > 128 {
		p.add("ipv6_prefix", "%d is outside 16..128", r.IPv6Prefix)
	}
	return p.err()
}

// CookiesConfig is DNS cookies (RFC 7873, server cookies as RFC 9018).
type CookiesConfig struct {
	Enabled bool `yaml:"enabled"`
	// Secret is the 128-bit key of the server cookies: 32 hex digits, or the path of a file
	// holding them. Servers sharing it (anycast instances) accept each other's cookies. Empty:
	// a random one at each start, so cookies given before a restart no longer count.
	Secret string `yaml:"secret"`
}

// Validate checks that the secret can be read.
func (c CookiesConfig) Validate() error {
	var p problems
	if _, err := c.SecretHex(); err != nil {
		p.add("secret", "%v", err)
	}
	return p.err()
}

// SecretHex returns the secret as 32 hex digits, read from its file when Secret names one; ""
// when none is set.
func (c CookiesConfig) SecretHex() (string, error) {
	s := c.Secret
	if s == "" {
		return "", nil
	}
	if !isSecretHex(s) {
		data, err := readLimited(s)
		if err != nil {
			return "", fmt.Errorf("neither 32 hex digits nor a readable file: %w", err)
		}
		s = strings.TrimSpace(string(data))
		if !isSecretHex(s) {
			return "", fmt.Errorf("file %s does not hold 32 hex digits", c.Secret)
		}
	}
	return strings.TrimPrefix(s, "0x"), nil
}

func isSecretHex(s string) bool {
	s = strings.TrimPrefix(s, "0x")
	_, err := hex.DecodeString(s)
	return len(s) == 32 && err == nil
}

// ApplyRRLFlag applies --rrl N: limiting at N responses a second, the other keys as configured.
// A negative N leaves the configuration as it is (the flag was not given).
func ApplyRRLFlag(c *Config, rate int) error {
	if rate < 0 {
		return nil
	}
	d := c.clone()
	if d.where == nil {
		d.where = make(map[string]location)
	}
	d.RRL.Rate = rate
	d.where["rrl.rate"] = location{flag: flagName("--rrl", fmt.Sprint(rate))}
	if err := d.Validate(); err != nil {
		return err
	}
	*c = *d
	return nil
}
