// Package live is the response policy's life on a running server: loading it from the
// configuration (policy zones and blocklists, kept current by a Loader), checking each change
// against the policy in force before it goes live (the blast-radius check), putting it in force
// as a version that can be rolled back, watching it with the circuit breaker, and reporting all
// of that to the control interface. Package policy compiles and evaluates rules; this package
// decides which rules are in force.
//
// It puts a policy in force through a Target, the one thing it needs of the query path, so it
// depends on no listener or pipeline. With a state directory, the versions survive a restart.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"warden/internal/health"
	"warden/internal/policy"
)

// Target is where a policy goes in force: the query path's current policy (nil: none).
type Target interface {
	Policy() *policy.Policy
	SetPolicy(*policy.Policy)
}

// Config is how a Guard keeps the policy.
type Config struct {
	// Breaker is the circuit breaker's settings.
	Breaker policy.BreakerConfig
	// Keep bounds the versions kept (at least 2); 0 means DefaultKeep.
	Keep int
	// StateDir, when set, keeps the versions under StateDir/policy across restarts; empty keeps
	// them in memory only. A directory that cannot be used is logged and left aside.
	StateDir string
	// Recent returns the names recently asked, the corpus a change is checked on when no
	// check corpus is configured; nil means none.
	Recent func() []string
	// Health is told when the breaker trips for a set and when the set is resumed; nil tells
	// nobody.
	Health *health.Board
}

// DefaultKeep is how many versions a Guard keeps unless told.
const DefaultKeep = 10

// Guard is the one way a response policy goes into force, and the safety net around it: every
// policy put in force becomes a version that can be rolled back in one step, and the circuit
// breaker watches each rule set's share of questions, suspending a set whose share jumps far
// above its history until a person resumes it. It changes only the Target's policy, so zone and
// resolver reloads, which change the rest of the query path, never undo it.
type Guard struct {
	target  Target
	log     *slog.Logger
	breaker *policy.Breaker
	recent  func() []string
	keep    int
	store   *Store // nil: versions in memory only
	// trouble is told of the breaker's alarms: the server's board, or one of the guard's own.
	trouble *health.Board

	mu       sync.Mutex // serialises every change of the Target's policy and of the versions
	versions []*Version // oldest first, at most keep
	next     int        // the number of the next version
	pending  []string   // objects of the last proposal, which may be put in force later
}

// Version is one policy that was put in force.
type Version struct {
	N      int       `json:"n"`  // 1 for the first policy, one more for each change (rollbacks included)
	At     time.Time `json:"at"` // when it went in force
	Reason string    `json:"reason"`
	// Back is the version a rollback from this one puts back in force; 0 when none.
	Back int `json:"back,omitempty"`
	// Undone is set when a rollback took this version out of force: returning to its content
	// is not a repair.
	Undone bool     `json:"undone,omitempty"`
	Sets   []Source `json:"sets"`

	// policy is the policy as compiled; nil for a version read back from the state directory
	// until a rollback compiles it again from the stored bytes.
	policy *policy.Policy
	key    string
}

// ErrNoEarlierVersion is returned by Rollback when there is nothing to go back to.
var ErrNoEarlierVersion = errors.New("no earlier policy version to roll back to")

// NewGuard returns the guard of t. With c.StateDir, the versions stored there are read back
// (problems are logged with the path, and the guard goes on with what it could read); the first
// policy put in force that has the content of the last of them is that version, not a new one.
func NewGuard(t Target, c Config, log *slog.Logger) *Guard {
	keep := c.Keep
	if keep == 0 {
		keep = DefaultKeep
	}
	g := &Guard{target: t, log: log, breaker: policy.NewBreaker(c.Breaker), recent: c.Recent, keep: max(keep, 2), next: 1, trouble: c.Health}
	if g.trouble == nil {
		g.trouble = health.New(log) // the alarms are logged all the same
	}
	if c.StateDir == "" {
		return g
	}
	store, err := OpenStore(c.StateDir)
	if err != nil {
		log.Error("policy versions kept in memory only: the state directory cannot be used", "err", err)
		return g
	}
	g.store = store
	versions, problems := store.Load()
	for _, p := range problems {
		log.Error("policy state: left aside", "err", p)
	}
	if len(versions) > g.keep {
		versions = versions[len(versions)-g.keep:]
	}
	for _, v := range versions {
		v.key = contentKey(v.Sets)
	}
	g.versions = versions
	if len(versions) > 0 {
		g.next = versions[len(versions)-1].N + 1
		log.Info("policy versions read back", "dir", store.Dir(), "versions", len(versions), "last", versions[len(versions)-1].N)
	}
	return g
}

// current returns the version in force, nil before the first.
func (g *Guard) current() *Version {
	if len(g.versions) == 0 {
		return nil
	}
	return g.versions[len(g.versions)-1]
}

func (g *Guard) version(n int) *Version {
	for _, v := range g.versions {
		if v.N == n {
			return v
		}
	}
	return nil
}

// install puts p in force as a new version and records it. Rule sets the breaker suspended stay
// suspended in the new policy (matched by name): a reload of the same files must not quietly
// undo what the breaker did while nobody has looked at the alarm.
func (g *Guard) install(p Proposal, key, reason string) *Version {
	v := &Version{N: g.next, At: time.Now(), Reason: reason, Sets: withoutData(p.Sources), policy: p.Policy, key: key}
	if cur := g.current(); cur != nil {
		v.Back = cur.N
	}
	g.next++
	g.keepSuspended(p.Policy)
	g.target.SetPolicy(p.Policy)
	g.record(v)
	g.log.Info("policy in force", "version", v.N, "reason", reason, "sets", len(p.Sources))
	return v
}

// record appends v to the versions, drops the oldest beyond the bound, and stores the change;
// changed are versions already kept whose record changed too.
func (g *Guard) record(v *Version, changed ...*Version) {
	g.versions = append(g.versions, v)
	if drop := len(g.versions) - g.keep; drop > 0 {
		clear(g.versions[:drop]) // let their policies go
		g.versions = g.versions[drop:]
	}
	if g.store == nil {
		return
	}
	for _, w := range append(changed, v) {
		if err := g.store.Save(w); err != nil {
			g.log.Error("policy version not stored: it is lost at a restart", "version", w.N, "err", err)
		}
	}
	if err := g.store.Prune(g.versions, g.pending); err != nil {
		g.log.Warn("policy state: old versions not removed", "err", err)
	}
}

func (g *Guard) keepSuspended(pol *policy.Policy) {
	alarms := g.breaker.Alarms()
	for _, s := range pol.Sets() {
		held := false
		for _, a := range alarms {
			if s.Name() == a.Set {
				a.Reimpose(s)
				held = true
			}
		}
		if !held {
			// A set of an older version (a rollback's) may still carry a suspension that an
			// operator has since resumed: only a standing alarm keeps anything suspended.
			s.SetSuspended(false)
			s.ResumeRules()
		}
	}
}

// Rollback puts the policy in force before the current one back, as it was compiled (or, for a
// version read back after a restart, compiled again from the stored bytes), and records that as
// a new version. A second Rollback goes one further back.
func (g *Guard) Rollback() (Version, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cur := g.current()
	if cur == nil || cur.Back == 0 {
		return Version{}, ErrNoEarlierVersion
	}
	to := g.version(cur.Back)
	if to == nil {
		return Version{}, fmt.Errorf("%w: version %d is no longer kept", ErrNoEarlierVersion, cur.Back)
	}
	if to.policy == nil && len(to.Sets) > 0 {
		pol, err := g.restore(to)
		if err != nil {
			return Version{}, fmt.Errorf("version %d cannot be put back: %w", to.N, err)
		}
		to.policy = pol
	}
	cur.Undone = true
	v := &Version{N: g.next, At: time.Now(), Reason: fmt.Sprintf("rollback to version %d", to.N), Back: to.Back,
		Sets: to.Sets, policy: to.policy, key: to.key}
	g.next++
	g.keepSuspended(v.policy)
	g.target.SetPolicy(v.policy)
	g.record(v, cur)
	g.log.Warn("policy rolled back", "version", v.N, "reason", v.Reason)
	return *v, nil
}

// restore compiles v again from the bytes stored for it.
func (g *Guard) restore(v *Version) (*policy.Policy, error) {
	if g.store == nil {
		return nil, errors.New("its rules were not kept")
	}
	sets := make([]*policy.RuleSet, 0, len(v.Sets))
	for _, src := range v.Sets {
		data, err := g.store.Object(src.Object)
		if err != nil {
			return nil, fmt.Errorf("rule set %s: %w", src.Name, err)
		}
		s, err := compile(src, data)
		if err != nil {
			return nil, fmt.Errorf("rule set %s: %w", src.Name, err)
		}
		sets = append(sets, s)
	}
	g.log.Info("policy version compiled again from the state directory", "version", v.N, "sets", len(sets))
	return policy.New(sets...), nil
}

// ErrNoSuchSet is returned by Resume for a name no rule set in force has.
var ErrNoSuchSet = errors.New("no rule set of that name in force")

// Resume puts a suspended rule set back in service and clears its alarm. It reports whether the
// set was suspended; resuming one that is not changes nothing.
func (g *Guard) Resume(name string) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range g.target.Policy().Sets() {
		if s.Name() != name {
			continue
		}
		alarmed := slices.ContainsFunc(g.breaker.Alarms(), func(a policy.Alarm) bool { return a.Set == name })
		if !s.Suspended() && !alarmed {
			return false, nil
		}
		g.breaker.Resume(s)
		g.log.Warn("policy rule set resumed by an operator", "set", name)
		g.clearedAlarms()
		return true, nil
	}
	return false, fmt.Errorf("%w: %q", ErrNoSuchSet, name)
}

// Run ticks the breaker every tick interval (a quarter of its window) until ctx ends.
func (g *Guard) Run(ctx context.Context) {
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

func (g *Guard) tick(now time.Time) {
	pol := g.target.Policy()
	sets := pol.Sets()
	watched := make([]policy.Watched, len(sets))
	for i, s := range sets {
		watched[i] = s
	}
	for _, a := range g.breaker.Tick(now, pol.Queries(), watched) {
		// The alarm stands until an operator resumes the set: one line now, one then.
		g.trouble.Watch(health.Breaker, a.Set).Fail(errors.New(a.String()), "suspended", a.Suspended(),
			"share", fmt.Sprintf("%.1f%%", 100*a.Share), "usual", fmt.Sprintf("%.2f%%", 100*a.Usual), "questions", a.Queries)
	}
	g.clearedAlarms()
}

// clearedAlarms tells the health board that the sets without an alarm any more are well again.
func (g *Guard) clearedAlarms() {
	alarms := g.breaker.Alarms()
	for _, p := range g.trouble.Problems() {
		if p.Kind == health.Breaker.Name && !slices.ContainsFunc(alarms, func(a policy.Alarm) bool { return a.Set == p.Subject }) {
			g.trouble.Watch(health.Breaker, p.Subject).Recover()
		}
	}
}
