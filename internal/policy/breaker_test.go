package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// counted is a rule set reduced to what the breaker sees.
type counted struct {
	name      string
	hits      uint64
	suspended bool
}

func (c *counted) Name() string        { return c.name }
func (c *counted) Hits() uint64        { return c.hits }
func (c *counted) Suspended() bool     { return c.suspended }
func (c *counted) SetSuspended(b bool) { c.suspended = b }

// run feeds windows of 1,000 questions, share[i] of them matched by set i, through the breaker, and
// returns the window at which each set was suspended (-1: never). It ticks once a window.
func run(b *Breaker, sets []*counted, windows int, share func(window, set int) float64) []int {
	return runTicks(b, sets, windows, 1, share)
}

// runTicks is run with ticks ticks a window, each after its share of the window's questions.
func runTicks(b *Breaker, sets []*counted, windows, ticks int, share func(window, set int) float64) []int {
	tripped := make([]int, len(sets))
	for i := range tripped {
		tripped[i] = -1
	}
	var queries uint64
	now := time.Unix(0, 0)
	watched := make([]Watched, len(sets))
	for i, s := range sets {
		watched[i] = s
	}
	b.Tick(now, queries, watched)
	per := uint64(1000 / ticks)
	for w := range windows {
		for range ticks {
			queries += per
			for i, s := range sets {
				if !s.suspended {
					s.hits += uint64(float64(per) * share(w, i))
				}
			}
			now = now.Add(b.Window() / time.Duration(ticks))
			for _, a := range b.Tick(now, queries, watched) {
				for i, s := range sets {
					if s.name == a.Set && tripped[i] < 0 {
						tripped[i] = w
					}
				}
			}
		}
	}
	return tripped
}

func TestBreaker(t *testing.T) {
	for _, tt := range []struct {
		name  string
		share func(w int) float64
		want  int // the window of the trip, -1 for none
	}{
		{"steady blocklist at 15%", func(int) float64 { return 0.15 }, -1},
		{"steady block at 1%", func(int) float64 { return 0.01 }, -1},
		{"ads rising slowly from 5% to 20%", func(w int) float64 { return 0.05 + 0.15*float64(w)/100 }, -1},
		{"everything outside one TLD from window 50", func(w int) float64 {
			if w < 50 {
				return 0.002
			}
			return 0.97
		}, 50},
		{"a new rule set that matches almost everything at once", func(int) float64 { return 0.97 }, 0},
		{"a jump from 1% to 12% stays under the floor", func(w int) float64 {
			if w < 50 {
				return 0.01
			}
			return 0.12
		}, -1},
		{"a jump from 2% to 30%", func(w int) float64 {
			if w < 50 {
				return 0.02
			}
			return 0.30
		}, 50},
	} {
		// Once a window, as the breaker used to be ticked, and every quarter window, as it is.
		for _, ticks := range []int{1, ticksPerWindow} {
			t.Run(fmt.Sprintf("%s/%d_ticks_a_window", tt.name, ticks), func(t *testing.T) {
				b := NewBreaker(BreakerConfig{})
				sets := []*counted{{name: "under-test"}, {name: "steady"}}
				got := runTicks(b, sets, 100, ticks, func(w, i int) float64 {
					if i == 1 {
						return 0.05
					}
					return tt.share(w)
				})
				if got[0] != tt.want {
					t.Fatalf("tripped at window %d, want %d", got[0], tt.want)
				}
				if got[1] != -1 {
					t.Fatalf("the steady set tripped too, at window %d", got[1])
				}
				if (tt.want >= 0) != sets[0].suspended {
					t.Fatalf("suspended = %v", sets[0].suspended)
				}
			})
		}
	}
}

// A suspended set stays suspended with its alarm raised until someone resumes it; if it still
// matches as much, it trips again.
func TestBreakerStaysTrippedUntilResumed(t *testing.T) {
	b := NewBreaker(BreakerConfig{})
	bad := &counted{name: "rpz.bad."}
	run(b, []*counted{bad}, 10, func(int, int) float64 { return 0.9 })
	alarms := b.Alarms()
	if !bad.suspended || len(alarms) != 1 || !strings.Contains(alarms[0].String(), "rpz.bad. suspended") {
		t.Fatalf("suspended %v, alarms %v", bad.suspended, alarms)
	}
	if !b.Resume(bad) || bad.suspended || len(b.Alarms()) != 0 {
		t.Fatalf("after Resume: suspended %v, alarms %v", bad.suspended, b.Alarms())
	}
	b2 := b // the same breaker goes on
	if got := run(b2, []*counted{bad}, 3, func(int, int) float64 { return 0.9 }); got[0] != 0 {
		t.Fatalf("resumed and still matching 90%%: tripped at %d, want at once", got[0])
	}
}

// Too few questions in a window decide nothing: a quiet night must not trip a set that matched
// 3 of 5 questions.
func TestBreakerNeedsEnoughQueries(t *testing.T) {
	b := NewBreaker(BreakerConfig{})
	s := &counted{name: "rpz.local."}
	w := []Watched{s}
	b.Tick(time.Unix(0, 0), 0, w)
	s.hits = 3
	if a := b.Tick(time.Unix(2, 0), 5, w); len(a) != 0 || s.suspended {
		t.Fatalf("tripped on 5 questions: %v", a)
	}
}
