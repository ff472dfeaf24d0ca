package config

import (
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
	// Breaker suspends a rule set whose share of questions jumps far above its own history.
	Breaker BreakerConfig `yaml:"breaker"`
}

// BreakerConfig sets the circuit breaker: a rule set trips when, over one window with at least
// min_queries questions, it matched more than floor percent of them and more than factor times
// its usual share.
type BreakerConfig struct {
	Off        bool          `yaml:"off"`
	Window     time.Duration `yaml:"window"`
	Factor     float64       `yaml:"factor"`
	Floor      float64       `yaml:"floor"` // percent
	MinQueries uint64        `yaml:"min_queries"`
}

// ControlConfig is the control interface, which `warden policy` talks to.
type ControlConfig struct {
	// Socket is the Unix socket's path; empty turns the control interface off.
	Socket string `yaml:"socket"`
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
