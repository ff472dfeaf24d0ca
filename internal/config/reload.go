package config

import "time"

// ReloadConfig says when the server rebuilds its snapshot by itself.
type ReloadConfig struct {
	// WatchInterval is how often zone files are checked for changes; 0 turns watching off (a reload
	// then comes only from a signal or the control command).
	WatchInterval time.Duration `yaml:"watch_interval"`
}

// minWatchInterval keeps a typo such as 2ms from turning the watcher into a busy loop of stat calls.
const minWatchInterval = 100 * time.Millisecond

// Validate checks that the interval is 0 or at least minWatchInterval.
func (r ReloadConfig) Validate() error {
	var p problems
	if r.WatchInterval < 0 || (r.WatchInterval > 0 && r.WatchInterval < minWatchInterval) {
		p.add("watch_interval", "%s is neither 0 (off) nor at least %s", r.WatchInterval, minWatchInterval)
	}
	return p.err()
}
