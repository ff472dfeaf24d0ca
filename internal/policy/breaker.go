package policy

import (
	"fmt"
	"strings"
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

// attributable is a Watched set that records which of its rules matched, so that the breaker can
// suspend the rules behind a spike instead of the whole set. *RuleSet is one.
type attributable interface {
	matchMark() matchMark
	// matchedSince counts, by rule index, a sample of the matches since the mark, and their total.
	matchedSince(matchMark) (map[int32]int, int)
	ruleCount() int
	ruleName(int32) string
	suspendIndexes([]int32)
	ResumeRules()
}

// ruleSuspender is a set whose rules can be suspended by name, to carry an alarm across a reload.
type ruleSuspender interface {
	SuspendRules(names ...string) int
}

var (
	_ attributable  = (*RuleSet)(nil)
	_ ruleSuspender = (*RuleSet)(nil)
)

// BreakerConfig sets when a rule set trips. A set trips when, over the last Window (or since it
// went in force, when that is shorter) with at least MinQueries questions, the share of questions
// it matched is above both Floor and Factor times its own usual share (an average over the windows
// before, in which it did not trip). The breaker looks every quarter of a Window, so a change that
// goes live is judged within about half a Window, whatever the moment it went live.
//
// The defaults are chosen for the incident this exists for: a rule that matches everything outside
// one top-level domain goes from a fraction of a percent of traffic to most of it, which trips at
// the first full window; an ad blocklist that matches a steady 15 % never does, nor does a new one
// that starts at that share (the floor is above it).
//
// When it trips, the breaker suspends the rules that made the spike and leaves the rest of the set
// in force (a malware block matching its usual few questions keeps blocking); the whole set only
// when the record of its recent matches cannot name a few rules that explain the spike.
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

// Alarm is what the breaker suspended, and why: some rules of a set, or the whole set.
type Alarm struct {
	Set string
	// Rules names the suspended rules (Rule.Name: the triggers as their source wrote them), the
	// most matched first; empty when the whole set was suspended.
	Rules []string
	At    time.Time
	Share float64 // the set's matched share in the window that tripped
	// RuleShare is about how much of that share the suspended rules made (estimated from the
	// set's record of recent matches); 0 for a whole set.
	RuleShare float64
	Usual     float64       // the set's usual share before
	Queries   uint64        // questions in that window
	Span      time.Duration // the length of that window: shorter for a set that just went in force
}

func (a Alarm) String() string {
	if len(a.Rules) == 0 {
		return fmt.Sprintf("rule set %s suspended at %s: it matched %.1f%% of %d questions in %v, against a usual %.2f%%",
			a.Set, a.At.Format(time.RFC3339), 100*a.Share, a.Queries, a.Span, 100*a.Usual)
	}
	what := "rule"
	if len(a.Rules) > 1 {
		what = "rules"
	}
	return fmt.Sprintf("%s %s of rule set %s suspended at %s, the rest of the set in force: the set matched %.1f%% of %d questions in %v (these rules about %.1f%%), against a usual %.2f%%",
		what, strings.Join(a.Rules, " "), a.Set, a.At.Format(time.RFC3339), 100*a.Share, a.Queries, a.Span, 100*a.RuleShare, 100*a.Usual)
}

// Suspended says what the alarm took out of service, for logs: "the whole set" or the rules.
func (a Alarm) Suspended() string {
	if len(a.Rules) == 0 {
		return "the whole set"
	}
	return strings.Join(a.Rules, " ")
}

// Reimpose suspends in s, a set of the alarm's name put in force later (a reload of the same
// files, a rollback), what the alarm suspended: the rules of the same names, or the whole set. A
// rule the new set no longer has needs nothing: the change that tripped is gone.
func (a Alarm) Reimpose(s Watched) {
	if rs, ok := s.(ruleSuspender); ok && len(a.Rules) > 0 {
		rs.SuspendRules(a.Rules...)
		return
	}
	s.SetSuspended(true)
}

// Breaker watches rule sets' hit counts and, when a set's share of traffic jumps far above its own
// history, suspends the rules behind the jump (or the set). What it suspended stays suspended, and
// its alarm stays raised, until Resume is called for the set: a person decides, not a timer,
// because the change that tripped it is still there.
//
// Tick is called every TickInterval by its owner (the server's policy stage); the Breaker has no
// goroutine of its own.
type Breaker struct {
	c BreakerConfig

	mu     sync.Mutex
	sets   map[string]*watchState
	alarms []Alarm
}

// maxSuspendedRules is the most rules one trip suspends: a spike spread over more rules than this
// is not a rule gone wrong but a set gone wrong, and the whole set is suspended.
const maxSuspendedRules = 16

// sample is what one tick saw of one set.
type sample struct {
	at      time.Time
	queries uint64 // the policy's questions evaluated
	hits    uint64
	mark    matchMark // the set's match record, when it keeps one
}

type watchState struct {
	set Watched // the set sampled: another one of the same name (a reload) starts over
	// samples are this set's ticks in the last window and the one before it, oldest first; the
	// set's share is judged from the newest one at least a window old (or the oldest) to now.
	samples []sample
	restart bool // the next tick starts the samples over (after Resume)
	// usualFrom starts the window that is added to the usual share when it is complete; windows
	// for the usual share do not overlap, so it weighs as many windows as HistoryWindows says.
	usualFrom sample
	usual     float64 // exponentially weighted share over normal windows
	windows   int     // windows seen, to weigh the first ones fairly
}

// NewBreaker returns a breaker with c's settings (zero values take the defaults).
func NewBreaker(c BreakerConfig) *Breaker {
	return &Breaker{c: c.withDefaults(), sets: map[string]*watchState{}}
}

// Window is the span over which a set's share is judged.
func (b *Breaker) Window() time.Duration { return b.c.Window }

// TickInterval is how often Tick should be called: a quarter of the window, so that a spike is
// judged over a sliding window and trips within about half a window of its start.
func (b *Breaker) TickInterval() time.Duration { return b.c.Window / ticksPerWindow }

const ticksPerWindow = 4

// Tick looks at the counters once: queries is the policy's count of questions evaluated so far,
// sets the rule sets in force. It returns the alarms raised by this tick. Called less often than
// TickInterval, it judges each set over the span since its previous tick instead.
func (b *Breaker) Tick(now time.Time, queries uint64, sets []Watched) []Alarm {
	b.mu.Lock()
	defer b.mu.Unlock()
	var raised []Alarm
	seen := make(map[string]bool, len(sets))
	for _, s := range sets {
		name := s.Name()
		seen[name] = true
		cur := sample{at: now, queries: queries}
		att, _ := s.(attributable)
		if att != nil {
			cur.mark = att.matchMark()
			cur.hits = cur.mark.total()
		} else {
			cur.hits = s.Hits()
		}
		st := b.sets[name]
		if st == nil {
			st = &watchState{}
			b.sets[name] = st
			st.startOver(s, cur)
			continue // nothing yet to compare with
		}
		last := st.samples[len(st.samples)-1]
		if st.restart || st.set != s || cur.queries < last.queries || cur.hits < last.hits || !now.After(last.at) {
			st.startOver(s, cur) // resumed, replaced or counters started again: a new start
			continue
		}
		if s.Suspended() {
			st.startOver(s, cur) // out of service: judged again from when it is resumed
			continue
		}
		base := st.base(now, b.c.Window)
		st.samples = append(st.samples, cur)
		dq := cur.queries - base.queries
		if dq >= b.c.MinQueries {
			share := float64(cur.hits-base.hits) / float64(dq)
			if share > b.c.Floor && share > b.c.Factor*st.usual {
				a := b.trip(s, att, base, share, st.usual, dq)
				a.At, a.Span = now, now.Sub(base.at).Round(time.Millisecond)
				b.alarms = append(b.alarms, a)
				raised = append(raised, a)
				st.startOver(s, cur) // the tripping window is not part of the usual share
				continue
			}
		}
		if now.Sub(st.usualFrom.at) >= b.c.Window-b.TickInterval()/2 {
			if dq := cur.queries - st.usualFrom.queries; dq >= b.c.MinQueries {
				share := float64(cur.hits-st.usualFrom.hits) / float64(dq)
				st.windows++
				weight := 1 / float64(min(st.windows, b.c.HistoryWindows))
				st.usual += weight * (share - st.usual)
			}
			st.usualFrom = cur
		}
	}
	for name := range b.sets {
		if !seen[name] {
			delete(b.sets, name) // a set no longer in force
		}
	}
	return raised
}

// startOver makes cur the first sample of s.
func (st *watchState) startOver(s Watched, cur sample) {
	st.set, st.restart = s, false
	st.samples = append(st.samples[:0], cur)
	st.usualFrom = cur
}

// base returns the sample the share is judged from: the newest that is about a window old (ticks
// come late by up to half a tick), else the oldest. Older samples are dropped.
func (st *watchState) base(now time.Time, window time.Duration) sample {
	cut := now.Add(-window + window/ticksPerWindow/2)
	k := 0
	for i, smp := range st.samples {
		if !smp.at.After(cut) {
			k = i
		}
	}
	st.samples = append(st.samples[:0], st.samples[k:]...)
	return st.samples[0]
}

// trip suspends what made s's share jump to share (over dq questions since base): the rules the
// record of its matches names, else the whole set.
func (b *Breaker) trip(s Watched, att attributable, base sample, share, usual float64, dq uint64) Alarm {
	a := Alarm{Set: s.Name(), Share: share, Usual: usual, Queries: dq}
	if att != nil {
		limit := max(b.c.Floor, b.c.Factor*usual)
		if rules, ruleShare, ok := attribute(att, base.mark, share, usual, limit); ok {
			att.suspendIndexes(rules)
			for _, r := range rules {
				a.Rules = append(a.Rules, att.ruleName(r))
			}
			a.RuleShare = ruleShare
			return a
		}
	}
	s.SetSuspended(true)
	return a
}

// attribute picks the rules to suspend for a spike that took the set's share to share, against a
// usual share usual: the fewest of the most matched rules since mark whose matches, taken away,
// bring the share to limit or under. A rule that matched no more than twice the set's usual share
// is not what changed (a malware block asked as often as ever) and is never picked. ok is false
// when the record cannot explain the spike that way: it is empty, the spike is spread over more
// than maxSuspendedRules rules or over rules matching at their usual share, or it would take
// every rule of the set.
func attribute(att attributable, mark matchMark, share, usual, limit float64) (rules []int32, ruleShare float64, ok bool) {
	counts, n := att.matchedSince(mark)
	if n == 0 {
		return nil, 0, false
	}
	left := share
	for _, c := range ruleCounts(counts) {
		if left <= limit {
			break
		}
		x := share * float64(c.n) / float64(n) // the rule's estimated share of the questions
		if x <= 2*usual || len(rules) == maxSuspendedRules {
			return nil, 0, false
		}
		rules = append(rules, c.rule)
		left -= x
	}
	if left > limit || len(rules) >= att.ruleCount() {
		return nil, 0, false
	}
	return rules, share - left, true
}

// Alarms returns the alarms still raised, oldest first.
func (b *Breaker) Alarms() []Alarm {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Alarm(nil), b.alarms...)
}

// Resume puts a set back in service, with every rule of it the breaker suspended, and clears its
// alarms. Its usual share is kept, so if it still matches as much, it trips again within a window.
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
		st.restart = true // the window starts now, not at the trip
	}
	if att, ok := s.(attributable); ok {
		att.ResumeRules()
	}
	s.SetSuspended(false)
	return found
}
