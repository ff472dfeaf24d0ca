package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"warden/internal/policy"
)

// PolicyGuard is the one way a response policy goes into force, and the safety net around it:
// every policy put in force becomes a version that can be rolled back in one step, and the
// circuit breaker watches each rule set's share of questions, suspending a set whose share jumps
// far above its history until a person resumes it. It changes only the snapshot's policy
// (Pipeline.Update), so zone and resolver reloads, which change the rest, never undo it.
type PolicyGuard struct {
	pipe    *Pipeline
	log     *slog.Logger
	breaker *policy.Breaker

	mu      sync.Mutex // serialises every swap of the pipeline's snapshot
	history *policy.History[*policy.Policy]
}

// NewPolicyGuard returns the guard of pipe, whose snapshot's policy (possibly nil) is version 1.
func NewPolicyGuard(pipe *Pipeline, breaker policy.BreakerConfig, keep int, log *slog.Logger) *PolicyGuard {
	g := &PolicyGuard{pipe: pipe, log: log, breaker: policy.NewBreaker(breaker), history: policy.NewHistory[*policy.Policy](keep)}
	g.history.Add(pipe.Snapshot().Policy, "start", time.Now())
	return g
}

// Install puts pol in force as a new version. Rule sets the breaker suspended stay suspended in
// the new policy (matched by name): a reload of the same files must not quietly undo what the
// breaker did while nobody has looked at the alarm.
func (g *PolicyGuard) Install(pol *policy.Policy, reason string) policy.Version[*policy.Policy] {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.keepSuspended(pol)
	v := g.history.Add(pol, reason, time.Now())
	g.pipe.Update(func(s *Snapshot) { s.Policy = pol })
	g.log.Info("policy in force", "version", v.N, "reason", reason, "sets", len(pol.Sets()))
	return v
}

func (g *PolicyGuard) keepSuspended(pol *policy.Policy) {
	for _, a := range g.breaker.Alarms() {
		for _, s := range pol.Sets() {
			if s.Name() == a.Set {
				a.Reimpose(s)
			}
		}
	}
}

// Rollback puts the policy in force before the current one back, as it was compiled.
func (g *PolicyGuard) Rollback() (policy.Version[*policy.Policy], error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v, err := g.history.Rollback(time.Now())
	if err != nil {
		return v, err
	}
	g.keepSuspended(v.Policy)
	g.pipe.Update(func(s *Snapshot) { s.Policy = v.Policy })
	g.log.Warn("policy rolled back", "version", v.N, "reason", v.Reason)
	return v, nil
}

// ErrNoSuchSet is returned by Resume for a name no rule set in force has.
var ErrNoSuchSet = errors.New("no rule set of that name in force")

// Resume puts a suspended rule set back in service and clears its alarm.
func (g *PolicyGuard) Resume(name string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.pipe.Snapshot().Policy.Sets() {
		if s.Name() == name {
			g.breaker.Resume(s)
			g.log.Warn("policy rule set resumed by an operator", "set", name)
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrNoSuchSet, name)
}

// Run ticks the breaker every tick interval until ctx ends.
func (g *PolicyGuard) Run(ctx context.Context) {
	t := time.NewTicker(g.breaker.TickInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			g.tick(now)
		}
	}
}

func (g *PolicyGuard) tick(now time.Time) {
	pol := g.pipe.Snapshot().Policy
	sets := pol.Sets()
	watched := make([]policy.Watched, len(sets))
	for i, s := range sets {
		watched[i] = s
	}
	for _, a := range g.breaker.Tick(now, pol.Queries(), watched) {
		g.log.Error("policy circuit breaker tripped: suspended until the set is resumed", "set", a.Set, "suspended", a.Suspended(),
			"share", fmt.Sprintf("%.1f%%", 100*a.Share), "usual", fmt.Sprintf("%.2f%%", 100*a.Usual), "questions", a.Queries)
	}
}

// PolicyStatus is what the control interface shows of the policy.
type PolicyStatus struct {
	Version  int             `json:"version"`
	Reason   string          `json:"reason"`
	Since    time.Time       `json:"since"`
	Queries  uint64          `json:"queries"`
	Sets     []RuleSetStatus `json:"sets"`
	Alarms   []string        `json:"alarms"`
	Versions []VersionStatus `json:"versions"`
}

// RuleSetStatus is one rule set in force.
type RuleSetStatus struct {
	Name      string `json:"name"`
	Rules     int    `json:"rules"`
	Hits      uint64 `json:"hits"`
	Shadow    bool   `json:"shadow"`
	Suspended bool   `json:"suspended"`
	// SuspendedRules names the rules the breaker took out of service in a set still in force.
	SuspendedRules []string `json:"suspended_rules,omitempty"`
}

// VersionStatus is one version in the history.
type VersionStatus struct {
	N      int       `json:"n"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	Sets   []string  `json:"sets"`
}

// Status reports the policy in force, its counters, the alarms raised and the versions kept.
func (g *PolicyGuard) Status() PolicyStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	var st PolicyStatus
	if v, ok := g.history.Current(); ok {
		st.Version, st.Reason, st.Since = v.N, v.Reason, v.At
	}
	pol := g.pipe.Snapshot().Policy
	st.Queries = pol.Queries()
	for _, s := range pol.Sets() {
		st.Sets = append(st.Sets, RuleSetStatus{Name: s.Name(), Rules: s.Len(), Hits: s.Hits(), Shadow: s.Shadow(), Suspended: s.Suspended(), SuspendedRules: s.SuspendedRules()})
	}
	for _, a := range g.breaker.Alarms() {
		st.Alarms = append(st.Alarms, a.String())
	}
	for _, v := range g.history.List() {
		vs := VersionStatus{N: v.N, At: v.At, Reason: v.Reason}
		for _, s := range v.Policy.Sets() {
			vs.Sets = append(vs.Sets, s.Name())
		}
		st.Versions = append(st.Versions, vs)
	}
	return st
}
