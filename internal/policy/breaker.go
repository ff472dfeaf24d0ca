package policy

import (
	"fmt"
	"sync"
	"time"
)

// Watched is what the circuit breaker needs of a rule set: its name, how many questions it has
// matched so far, and a switch that takes it out of service.
type Watched interface {
	Name() string
	Hits() uint64
	Suspended() bool
	SetSuspended(bool)
}

// BreakerConfig sets when a rule set is suspended. A set trips when, over one Window with at least
// MinQueries questions, the share of questions it matched is above both Floor and Factor times
// its own usual share (an average over the windows before, in which it did not trip).
//
// The defaults are chosen for the incident this exists for: a rule that matches everything outside
// one top-level domain goes from a fraction of a percent of traffic to most of it, which trips at
// the first full window; an ad blocklist that matches a steady 15 % never does, nor does a new one
// that starts at that share (the floor is above it).
type BreakerConfig struct {
	Window     time.Duration // default 2 s
	Factor     float64       // default 10
	Floor      float64       // share of questions, 0..1; default 0.25
	MinQueries uint64        // questions per window below which nothing is decided; default 200
	// HistoryWindows is how many windows the usual share averages over (an exponentially weighted
	// mean with this span); default 150, five minutes at the default window.
	HistoryWindows int
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.Window <= 0 {
		c.Window = 2 * time.Second
	}
	if c.Factor <= 1 {
		c.Factor = 10
	}
	if c.Floor <= 0 || c.Floor > 1 {
		c.Floor = 0.25
	}
	if c.MinQueries == 0 {
		c.MinQueries = 200
	}
	if c.HistoryWindows <= 0 {
		c.HistoryWindows = 150
	}
	return c
}

// Alarm is a rule set the breaker suspended, and why.
type Alarm struct {
	Set     string
	At      time.Time
	Share   float64 // matched share in the window that tripped
	Usual   float64 // its usual share before
	Queries uint64  // questions in that window
}

func (a Alarm) String() string {
	return fmt.Sprintf("rule set %s suspended at %s: it matched %.1f%% of %d questions in one window, against a usual %.2f%%",
		a.Set, a.At.Format(time.RFC3339), 100*a.Share, a.Queries, 100*a.Usual)
}

// Breaker watches rule sets' hit counts and suspends a set whose share of traffic jumps far above
// its own history. A suspended set stays suspended, and its alarm stays raised, until Resume is
// called for it: a person decides, not a timer, because the change that tripped it is still there.
//
// Tick is called once per window by its owner (the server's policy stage); the Breaker has no
// goroutine of its own.
type Breaker struct {
	c BreakerConfig

	mu          sync.Mutex
	lastQueries uint64
	sets        map[string]*watchState
	alarms      []Alarm
}

type watchState struct {
	lastHits uint64
	usual    float64 // exponentially weighted share over normal windows
	windows  int     // windows seen, to weigh the first ones fairly
}

// NewBreaker returns a breaker with c's settings (zero values take the defaults).
func NewBreaker(c BreakerConfig) *Breaker {
	return &Breaker{c: c.withDefaults(), sets: map[string]*watchState{}}
}

// Window is how often Tick should be called.
func (b *Breaker) Window() time.Duration { return b.c.Window }

// Tick looks at the counters once: queries is the policy's count of questions evaluated so far,
// sets the rule sets in force. It returns the alarms raised by this tick.
func (b *Breaker) Tick(now time.Time, queries uint64, sets []Watched) []Alarm {
	b.mu.Lock()
	defer b.mu.Unlock()
	dq := queries - b.lastQueries
	if queries < b.lastQueries {
		dq = queries // the policy was replaced and its counters started again
	}
	b.lastQueries = queries
	var raised []Alarm
	seen := make(map[string]bool, len(sets))
	for _, s := range sets {
		name := s.Name()
		seen[name] = true
		st := b.sets[name]
		hits := s.Hits()
		if st == nil {
			st = &watchState{lastHits: hits}
			b.sets[name] = st
			continue // no window yet to compare
		}
		dh := hits - st.lastHits
		if hits < st.lastHits {
			dh = hits
		}
		st.lastHits = hits
		if dq < b.c.MinQueries || s.Suspended() {
			continue
		}
		share := float64(dh) / float64(dq)
		if share > b.c.Floor && share > b.c.Factor*st.usual {
			s.SetSuspended(true)
			a := Alarm{Set: name, At: now, Share: share, Usual: st.usual, Queries: dq}
			b.alarms = append(b.alarms, a)
			raised = append(raised, a)
			continue // the tripping window is not part of the usual share
		}
		st.windows++
		weight := 1 / float64(min(st.windows, b.c.HistoryWindows))
		st.usual += weight * (share - st.usual)
	}
	for name := range b.sets {
		if !seen[name] {
			delete(b.sets, name) // a set no longer in force
		}
	}
	return raised
}

// Alarms returns the alarms still raised, oldest first.
func (b *Breaker) Alarms() []Alarm {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Alarm(nil), b.alarms...)
}

// Resume puts a suspended set back in service and clears its alarm. Its usual share is kept, so
// if it still matches as much, it trips again at the next window.
func (b *Breaker) Resume(s Watched) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	found := false
	kept := b.alarms[:0]
	for _, a := range b.alarms {
		if a.Set == s.Name() {
			found = true
			continue
		}
		kept = append(kept, a)
	}
	b.alarms = kept
	if st := b.sets[s.Name()]; st != nil {
		st.lastHits = s.Hits() // the window starts now, not at the trip
	}
	s.SetSuspended(false)
	return found
}
