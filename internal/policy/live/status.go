package live

import (
	"fmt"
	"time"
)

// Status is what the control interface shows of the policy.
type Status struct {
	Version  int             `json:"version"`
	Reason   string          `json:"reason"`
	Since    time.Time       `json:"since"`
	Queries  uint64          `json:"queries"`
	Sets     []RuleSetStatus `json:"sets"`
	Alarms   []string        `json:"alarms"`
	Versions []VersionStatus `json:"versions"`
	// StateDir is where the versions are kept across restarts; empty when in memory only.
	StateDir string `json:"state_dir,omitempty"`
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
	// Changes says what changed from the version before: "+rpz.new.(3)" a set added with its
	// rules, "rpz.local. 1→4" a set whose rule count changed, "~ads(900)" a set whose rules
	// changed but not their count, "-ads" a set removed. For the oldest version kept, every set
	// is listed as added.
	Changes []string `json:"changes"`
}

// Status reports the policy in force, its counters, the alarms raised and the versions kept.
func (g *Guard) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	var st Status
	if v := g.current(); v != nil {
		st.Version, st.Reason, st.Since = v.N, v.Reason, v.At
	}
	if g.store != nil {
		st.StateDir = g.store.Dir()
	}
	pol := g.target.Policy()
	st.Queries = pol.Queries()
	for _, s := range pol.Sets() {
		st.Sets = append(st.Sets, RuleSetStatus{Name: s.Name(), Rules: s.Len(), Hits: s.Hits(), Shadow: s.Shadow(), Suspended: s.Suspended(), SuspendedRules: s.SuspendedRules()})
	}
	for _, a := range g.breaker.Alarms() {
		st.Alarms = append(st.Alarms, a.String())
	}
	var prev []Source
	for _, v := range g.versions {
		vs := VersionStatus{N: v.N, At: v.At, Reason: v.Reason, Sets: []string{}, Changes: Changes(prev, v.Sets)}
		for _, s := range v.Sets {
			vs.Sets = append(vs.Sets, s.Name)
		}
		st.Versions = append(st.Versions, vs)
		prev = v.Sets
	}
	return st
}

// Changes lists what changed from the rule sets before to those after (see
// VersionStatus.Changes): sets added or changed in the order of after, then sets removed.
func Changes(before, after []Source) []string {
	was := make(map[string]Source, len(before))
	for _, s := range before {
		was[s.Name] = s
	}
	out := []string{}
	now := make(map[string]bool, len(after))
	for _, s := range after {
		now[s.Name] = true
		b, ok := was[s.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("+%s(%d)", s.Name, s.Rules))
		case b.Rules != s.Rules:
			out = append(out, fmt.Sprintf("%s %d→%d", s.Name, b.Rules, s.Rules))
		case b.key() != s.key():
			out = append(out, fmt.Sprintf("~%s(%d)", s.Name, s.Rules))
		}
	}
	for _, s := range before {
		if !now[s.Name] {
			out = append(out, "-"+s.Name)
		}
	}
	return out
}
