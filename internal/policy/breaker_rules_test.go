package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The set of the incident: a malware block, asked for by a steady 1 % of the questions, and then,
// by a change that goes live, a wildcard sending every name to one address.
const (
	malwareRule  = "malware.example CNAME .\n"
	wildcardRule = "* A 198.18.0.66\n"
)

// simulation drives a breaker with real rule sets on a simulated clock: qps questions a second
// asked in steps of 10 ms, and a tick every TickInterval, as the server's guard does.
type simulation struct {
	t     *testing.T
	b     *Breaker
	pol   *Policy
	names []string // asked in turn
	qps   int

	now    time.Duration
	asked  int
	alarms []Alarm
	at     []time.Duration // when each alarm was raised
}

const simStep = 10 * time.Millisecond

func newSimulation(t *testing.T, b *Breaker, pol *Policy, names []string) *simulation {
	s := &simulation{t: t, b: b, pol: pol, names: names, qps: 3000}
	s.tick()
	return s
}

// incidentNames are 99 names under com. and, one question in 100, the malware name.
func incidentNames() []string {
	names := []string{"malware.example."}
	for i := 1; i < 100; i++ {
		names = append(names, fmt.Sprintf("h%d.shop.com.", i))
	}
	return names
}

func (s *simulation) tick() {
	var w []Watched
	for _, set := range s.pol.Sets() {
		w = append(w, set)
	}
	for _, a := range s.b.Tick(time.Unix(0, 0).Add(s.now), s.pol.Queries(), w) {
		s.alarms = append(s.alarms, a)
		s.at = append(s.at, s.now)
	}
}

// runUntil asks questions and ticks until the clock shows t.
func (s *simulation) runUntil(t time.Duration) {
	every := s.b.TickInterval()
	for s.now < t {
		perStep := s.qps * int(simStep) / int(time.Second)
		for range perStep {
			s.pol.Question(q(s.names[s.asked%len(s.names)]))
			s.asked++
		}
		s.now += simStep
		if s.now%every == 0 {
			s.tick()
		}
	}
}

// The replay: the breaker suspends the wildcard, not the set, so the malware name stays
// blocked, and every other name is answered as before the change.
func TestBreakerSuspendsTheRuleBehindTheSpike(t *testing.T) {
	b := NewBreaker(BreakerConfig{})
	names := incidentNames()
	sim := newSimulation(t, b, New(mustLoad(t, "rpz.push.", malwareRule, Options{})), names)
	sim.runUntil(20 * time.Second)
	if len(sim.alarms) != 0 {
		t.Fatalf("tripped before the change: %v", sim.alarms)
	}
	// The change goes live as a reload does: a new set of the same name.
	live := sim.now + 700*time.Millisecond
	sim.runUntil(live)
	sim.pol = New(mustLoad(t, "rpz.push.", malwareRule+wildcardRule, Options{}))
	if got := decision(sim.pol, "h1.shop.com."); got != "local by *." {
		t.Fatalf("the change is not live: %s", got)
	}
	sim.runUntil(live + 10*time.Second)

	if len(sim.alarms) != 1 {
		t.Fatalf("%d alarms, want 1: %v", len(sim.alarms), sim.alarms)
	}
	a := sim.alarms[0]
	t.Logf("tripped %v after the change: %s", sim.at[0]-live, a)
	if took := sim.at[0] - live; took > 3*time.Second {
		t.Errorf("tripped %v after the change, want within 3 s", took)
	}
	if !slices.Equal(a.Rules, []string{"*."}) || !strings.Contains(a.String(), "rule *. of rule set rpz.push. suspended") {
		t.Errorf("alarm %q, rules %q; want the wildcard named", a, a.Rules)
	}
	if a.RuleShare < 0.9 || a.Share < a.RuleShare {
		t.Errorf("share %.3f, the rule's %.3f", a.Share, a.RuleShare)
	}
	set := sim.pol.Sets()[0]
	if set.Suspended() || !slices.Equal(set.SuspendedRules(), []string{"*."}) {
		t.Fatalf("set suspended %v, rules %q", set.Suspended(), set.SuspendedRules())
	}
	for name, want := range map[string]string{"malware.example.": "nxdomain by malware.example.", "h1.shop.com.": "none", "x.cn.": "none"} {
		if got := decision(sim.pol, name); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
}

// A change that goes live at any moment of the window is caught within 3 s (one window and a
// half) at the default settings: the breaker looks every half second over a sliding window.
func TestBreakerTripsWithinThreeSeconds(t *testing.T) {
	const limit = 3 * time.Second
	for _, how := range []string{"reload", "traffic"} {
		worst := time.Duration(0)
		for phase := time.Duration(0); phase < 2*time.Second; phase += 100 * time.Millisecond {
			b := NewBreaker(BreakerConfig{})
			names := incidentNames()
			set := mustLoad(t, "rpz.push.", malwareRule, Options{})
			if how == "traffic" {
				// The rule is there all along; the names it matches start being asked. This is
				// the sliding window at work, with no new set to start over from.
				set = mustLoad(t, "rpz.push.", malwareRule+"*.shop.com A 198.18.0.66\n", Options{})
				names = append([]string{names[0]}, slices.Repeat([]string{"quiet.example.org."}, 99)...)
			}
			sim := newSimulation(t, b, New(set), names)
			sim.runUntil(10 * time.Second)
			live := sim.now + phase
			sim.runUntil(live)
			if how == "reload" {
				sim.pol = New(mustLoad(t, "rpz.push.", malwareRule+wildcardRule, Options{}))
			} else {
				sim.names = incidentNames()
			}
			sim.runUntil(live + 5*time.Second)
			if len(sim.alarms) == 0 {
				t.Fatalf("%s at phase %v: never tripped", how, phase)
			}
			took := sim.at[0] - live
			worst = max(worst, took)
			if took > limit {
				t.Errorf("%s at phase %v: tripped after %v, want within %v", how, phase, took, limit)
			}
			if got := decision(sim.pol, "malware.example."); got != "nxdomain by malware.example." {
				t.Errorf("%s at phase %v: malware.example. %s", how, phase, got)
			}
			if got := decision(sim.pol, "h1.shop.com."); got != "none" {
				t.Errorf("%s at phase %v: h1.shop.com. %s", how, phase, got)
			}
		}
		t.Logf("%s: the slowest trip took %v after the change", how, worst)
	}
}

// Two rules spiking together are both suspended; the malware block stays.
func TestBreakerSuspendsSeveralRules(t *testing.T) {
	b := NewBreaker(BreakerConfig{})
	names := []string{"malware.example."}
	for i := 1; i < 100; i++ {
		names = append(names, fmt.Sprintf("quiet%d.example.org.", i))
	}
	sim := newSimulation(t, b, New(mustLoad(t, "rpz.feed.", malwareRule, Options{})), names)
	sim.runUntil(10 * time.Second)
	sim.pol = New(mustLoad(t, "rpz.feed.", malwareRule+"*.com CNAME .\n*.net CNAME *.\n*.org CNAME rpz-passthru.\n", Options{}))
	sim.names = []string{"malware.example."}
	for i := 1; i < 100; i++ {
		sim.names = append(sim.names, fmt.Sprintf("h%d.shop.%s.", i, []string{"com", "net"}[i%2]))
	}
	sim.runUntil(sim.now + 5*time.Second)
	if len(sim.alarms) != 1 {
		t.Fatalf("alarms %v", sim.alarms)
	}
	got := slices.Clone(sim.alarms[0].Rules)
	slices.Sort(got)
	if !slices.Equal(got, []string{"*.com.", "*.net."}) || !strings.Contains(sim.alarms[0].String(), "rules ") {
		t.Fatalf("suspended %q: %s", sim.alarms[0].Rules, sim.alarms[0])
	}
	for name, want := range map[string]string{"malware.example.": "nxdomain by malware.example.", "h1.shop.com.": "none",
		"h2.shop.net.": "none", "x.org.": "passthru by *.org."} {
		if got := decision(sim.pol, name); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
}

// recorded is a watched set with a record of matches made up by the test.
type recorded struct {
	counted
	rules     int
	counts    map[int32]int
	suspended []int32
}

func (r *recorded) matchMark() matchMark { return matchMark{r.hits} }
func (r *recorded) matchedSince(matchMark) (map[int32]int, int) {
	n := 0
	for _, c := range r.counts {
		n += c
	}
	return r.counts, n
}
func (r *recorded) ruleCount() int             { return r.rules }
func (r *recorded) ruleName(i int32) string    { return fmt.Sprintf("rule%d", i) }
func (r *recorded) suspendIndexes(idx []int32) { r.suspended = append(r.suspended, idx...) }
func (r *recorded) ResumeRules()               { r.suspended = nil }

// When the record of matches cannot name a few rules that explain the spike, the whole set is
// suspended, as before rules could be.
func TestBreakerFallsBackToTheWholeSet(t *testing.T) {
	spread := map[int32]int{}
	for i := range int32(40) {
		spread[i] = 25 // forty rules with 2.5 % of the matches each
	}
	for _, tc := range []struct {
		name      string
		set       *recorded
		wantRules []int32 // nil: the whole set
	}{
		{"a record with nothing in it", &recorded{rules: 10, counts: map[int32]int{}}, nil},
		{"a spike spread over forty rules", &recorded{rules: 100, counts: spread}, nil},
		{"the only rule of the set", &recorded{rules: 1, counts: map[int32]int{0: 1000}}, nil},
		{"one rule behind it", &recorded{rules: 10, counts: map[int32]int{3: 990, 7: 10}}, []int32{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBreaker(BreakerConfig{})
			s := tc.set
			s.name = "rpz.x."
			w := []Watched{s}
			b.Tick(time.Unix(0, 0), 0, w)
			s.hits = 900
			alarms := b.Tick(time.Unix(2, 0), 1000, w)
			if len(alarms) != 1 {
				t.Fatalf("alarms %v", alarms)
			}
			if tc.wantRules == nil {
				if !s.counted.suspended || len(s.suspended) != 0 || len(alarms[0].Rules) != 0 {
					t.Fatalf("want the whole set: set %v, rules %v, alarm %s", s.counted.suspended, s.suspended, alarms[0])
				}
				return
			}
			if s.counted.suspended || !slices.Equal(s.suspended, tc.wantRules) {
				t.Fatalf("set %v, rules %v; want rules %v", s.counted.suspended, s.suspended, tc.wantRules)
			}
		})
	}
}

// Resume puts back the suspended rules with the set; an alarm carried to a reloaded set suspends
// the rules of the same names there.
func TestBreakerResumeAndReload(t *testing.T) {
	b := NewBreaker(BreakerConfig{})
	sim := newSimulation(t, b, New(mustLoad(t, "rpz.push.", malwareRule, Options{})), incidentNames())
	sim.runUntil(10 * time.Second)
	text := malwareRule + wildcardRule + "*.cn CNAME rpz-passthru.\n"
	sim.pol = New(mustLoad(t, "rpz.push.", text, Options{}))
	sim.runUntil(sim.now + 3*time.Second)
	alarms := b.Alarms()
	if len(alarms) != 1 || !slices.Equal(alarms[0].Rules, []string{"*."}) {
		t.Fatalf("alarms %v", alarms)
	}

	reloaded := mustLoad(t, "rpz.push.", text, Options{})
	alarms[0].Reimpose(reloaded)
	if reloaded.Suspended() || !slices.Equal(reloaded.SuspendedRules(), []string{"*."}) {
		t.Fatalf("after a reload: set %v, rules %q", reloaded.Suspended(), reloaded.SuspendedRules())
	}
	fixed := mustLoad(t, "rpz.push.", malwareRule, Options{})
	alarms[0].Reimpose(fixed)
	if fixed.Suspended() || fixed.SuspendedRules() != nil {
		t.Fatalf("the rule is gone, yet: set %v, rules %q", fixed.Suspended(), fixed.SuspendedRules())
	}

	set := sim.pol.Sets()[0]
	if !b.Resume(set) || len(b.Alarms()) != 0 || set.SuspendedRules() != nil || set.Suspended() {
		t.Fatalf("after Resume: alarms %v, rules %q", b.Alarms(), set.SuspendedRules())
	}
	if got := decision(sim.pol, "h1.shop.com."); got != "local by *." {
		t.Fatalf("resumed, h1.shop.com.: %s", got)
	}
	// Still wrong, so it trips again.
	sim.alarms = nil
	sim.runUntil(sim.now + 3*time.Second)
	if len(sim.alarms) != 1 || !slices.Equal(sim.alarms[0].Rules, []string{"*."}) {
		t.Fatalf("after resuming a rule still matching everything: %v", sim.alarms)
	}
}
