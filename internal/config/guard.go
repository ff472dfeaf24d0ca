package config

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
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
	// PreviousSecrets are retired secrets, written as Secret is: cookies they made are still
	// accepted (and answered with one under Secret) while clients move over to the new one.
	// A rotation puts the old secret here and a new one in Secret, and drops it from here once
	// every cookie it made has expired (an hour).
	PreviousSecrets []string `yaml:"previous_secrets"`
}

// maxPreviousSecrets matches the keyring's bound (cookie.MaxPrevious).
const maxPreviousSecrets = 3

// Validate checks that every secret can be read, that retired secrets come with a current one,
// and that no secret is given twice.
func (c CookiesConfig) Validate() error {
	var p problems
	current, err := c.SecretHex()
	if err != nil {
		p.add("secret", "%v", err)
	}
	if len(c.PreviousSecrets) > 0 && c.Secret == "" {
		p.add("previous_secrets", "given without secret: set secret to the new secret, which makes the cookies")
	}
	if len(c.PreviousSecrets) > maxPreviousSecrets {
		p.add("previous_secrets", "%d secrets, at most %d", len(c.PreviousSecrets), maxPreviousSecrets)
	}
	seen := map[string]string{}
	if current != "" {
		seen[strings.ToLower(current)] = "secret"
	}
	for i, s := range c.PreviousSecrets {
		key := fmt.Sprintf("previous_secrets[%d]", i)
		text, err := secretHex(s)
		if err != nil {
			p.add(key, "%v", err)
			continue
		}
		if other, dup := seen[strings.ToLower(text)]; dup {
			p.add(key, "the same secret as %s", other)
			continue
		}
		seen[strings.ToLower(text)] = key
	}
	return p.err()
}

// SecretHex returns the secret as 32 hex digits, read from its file when Secret names one; ""
// when none is set.
func (c CookiesConfig) SecretHex() (string, error) {
	if c.Secret == "" {
		return "", nil
	}
	return secretHex(c.Secret)
}

// PreviousHex returns the retired secrets as 32 hex digits each, read from their files where
// they name files; the files are read at each call, so a reload sees their new content.
func (c CookiesConfig) PreviousHex() ([]string, error) {
	out := make([]string, 0, len(c.PreviousSecrets))
	for i, s := range c.PreviousSecrets {
		text, err := secretHex(s)
		if err != nil {
			return nil, fmt.Errorf("previous_secrets[%d]: %w", i, err)
		}
		out = append(out, text)
	}
	return out, nil
}

// secretHex reads one secret: 32 hex digits, or a file holding them.
func secretHex(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty: want 32 hex digits or a file holding them")
	}
	if !isSecretHex(s) {
		data, err := readLimited(s)
		if err != nil {
			return "", fmt.Errorf("neither 32 hex digits nor a readable file: %w", err)
		}
		text := strings.TrimSpace(string(data))
		if !isSecretHex(text) {
			return "", fmt.Errorf("file %s does not hold 32 hex digits", s)
		}
		s = text
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

// secretPath makes a secret that names a relative file relative to the configuration's directory.
func secretPath(sec, baseDir string) string {
	if sec == "" || isSecretHex(sec) || filepath.IsAbs(sec) {
		return sec
	}
	return filepath.Join(baseDir, sec)
}
