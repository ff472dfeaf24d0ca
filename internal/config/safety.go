package config

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"
)

// SafetyConfig is the policy's safety net: the blast-radius check a live change must pass, and
// the circuit breaker that suspends a rule set whose share of questions jumps.
type SafetyConfig struct {
	// CheckCorpus is a file of names, one per line, a live policy reload is checked on; empty
	// means the names recently asked (a sample the server keeps). Relative to the config file.
	CheckCorpus string `yaml:"check_corpus"`
	// MaxChange is the share of those names, in percent, whose answer a live reload may change;
	// beyond it the reload is refused unless forced.
	MaxChange float64 `yaml:"max_change"`
	// Breaker suspends the rules behind a jump of a rule set's share of questions far above its
	// own history (the whole set when a few rules do not explain it).
	Breaker BreakerConfig `yaml:"breaker"`
}

// BreakerConfig sets the circuit breaker: a rule set trips when, over the last window (looked at
// every quarter window) with at least min_queries questions, it matched more than floor percent
// of them and more than factor times its usual share.
type BreakerConfig struct {
	Off        bool          `yaml:"off"`
	Window     time.Duration `yaml:"window"`
	Factor     float64       `yaml:"factor"`
	Floor      float64       `yaml:"floor"` // percent
	MinQueries uint64        `yaml:"min_queries"`
}

// ControlConfig is the control interface, which `warden ctl` and `warden policy` talk to.
type ControlConfig struct {
	// Socket is the Unix socket's path; empty turns the socket off. Only its owner may open it,
	// so it needs no token.
	Socket string `yaml:"socket"`
	// HTTP serves the same interface over TCP, behind a bearer token; off unless Listen is set.
	HTTP ControlHTTPConfig `yaml:"http"`
}

// ControlHTTPConfig is the control interface over TCP.
type ControlHTTPConfig struct {
	// Listen is the one IP:port to listen on; empty turns HTTP off. A host name is refused, so
	// the interface never ends up on an address a resolver chose.
	Listen string `yaml:"listen"`
	// TokenFile holds the token every request must carry (Authorization: Bearer); required
	// with Listen. Relative to the config file.
	TokenFile string `yaml:"token_file"`
}

// MinTokenLen is the shortest control token accepted: 16 bytes leave guessing it over the
// network hopeless even at a million tries a second.
const MinTokenLen = 16

// maxTokenFile bounds what ReadToken reads: a token is a line, and a wrong path (a log, a
// device) must not be read whole.
const maxTokenFile = 4096

// ReadToken reads the control token from the file at path: its content without surrounding
// white space, which must be at least MinTokenLen printable ASCII bytes with no space inside
// (it travels in an HTTP header).
func ReadToken(path string) ([]byte, error) {
	// A FIFO or device would block the read or never end it.
	if fi, err := os.Stat(path); err != nil {
		return nil, err // *PathError: names the file and the reason
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError: names the file and the reason
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxTokenFile {
		return nil, fmt.Errorf("%s: larger than %d bytes; is it a token file?", path, maxTokenFile)
	}
	token, err := ParseToken(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return token, nil
}

// ParseToken checks a token file's content and returns the token it holds.
func ParseToken(data []byte) ([]byte, error) {
	token := bytes.TrimSpace(data)
	for i, b := range token {
		if b <= ' ' || b > '~' {
			return nil, fmt.Errorf("byte %d of the token is %q: want printable ASCII with no space", i, b)
		}
	}
	if len(token) < MinTokenLen {
		return nil, fmt.Errorf("the token is %d bytes; want at least %d (e.g. head -c 32 /dev/urandom | base64 > FILE)", len(token), MinTokenLen)
	}
	return token, nil
}

// maxSocketPath is the longest path a Unix socket may have on Linux (sun_path less its NUL).
const maxSocketPath = 107

// Validate checks the socket path, the HTTP address, and that the token file holds a token.
func (c ControlConfig) Validate() error {
	var p problems
	if len(c.Socket) > maxSocketPath {
		p.add("socket", "%s is %d bytes long; a Unix socket path may have at most %d", quote(c.Socket), len(c.Socket), maxSocketPath)
	}
	h := c.HTTP
	if h.Listen == "" {
		return p.err()
	}
	if _, err := netip.ParseAddrPort(h.Listen); err != nil {
		p.add("http.listen", "%s: want an IP address and port, as 127.0.0.1:8953 or \"[::1]:8953\"", quote(h.Listen))
	}
	if h.TokenFile == "" {
		p.add("http.token_file", "required when http.listen is set: every request over TCP must carry this token")
	} else if _, err := ReadToken(h.TokenFile); err != nil {
		p.add("http.token_file", "%v", err)
	}
	return p.err()
}

// Validate checks the bounds.
func (s SafetyConfig) Validate() error {
	var p problems
	if s.CheckCorpus != "" {
		if err := readable(s.CheckCorpus); err != nil {
			p.add("check_corpus", "%v", err)
		}
	}
	if s.MaxChange < 0 || s.MaxChange > 100 {
		p.add("max_change", "%g: want a percentage from 0 to 100", s.MaxChange)
	}
	b := s.Breaker
	if b.Window < 100*time.Millisecond {
		p.add("breaker.window", "%s: want at least 100ms", b.Window)
	}
	if b.Factor <= 1 {
		p.add("breaker.factor", "%g: want more than 1", b.Factor)
	}
	if b.Floor <= 0 || b.Floor > 100 {
		p.add("breaker.floor", "%g: want a percentage above 0, at most 100", b.Floor)
	}
	if b.MinQueries == 0 {
		p.add("breaker.min_queries", "want at least 1")
	}
	return p.err()
}
