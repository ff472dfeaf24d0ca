package live

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"warden/internal/config"
	"warden/internal/policy"
)

// The blast-radius check on a running server: before a policy goes in force it is compared with
// the one in force over a corpus (a configured file, else the names recently asked), and refused
// when it would change the answer of too many names, unless forced.

// Change is a request to put a policy in force.
type Change struct {
	Reason string // what asks: "start", "reload (signal)", "blocklist refresh", ...
	Force  bool   // put it in force even over the check's limit
	Check  Check
}

// Check is how a change is checked.
type Check struct {
	MaxChange float64 // percent of the corpus that may change answer
	Corpus    string  // a file of names; empty means the names recently asked
}

// CheckOf is the check policy.safety configures.
func CheckOf(c config.SafetyConfig) Check {
	return Check{MaxChange: c.MaxChange, Corpus: c.CheckCorpus}
}

// ErrTooBig is what Put returns, wrapped, when the check refused the change.
var ErrTooBig = errors.New("policy change refused: it would change too many answers")

// CheckClient is the client address corpus names are evaluated for: rules limited to some
// client networks count as they would for a local client.
var CheckClient = netip.MustParseAddr("127.0.0.1")

// Put puts p in force as c asks, after the blast-radius check, as a new version; it returns the
// check's report. Three kinds of change skip the check:
//
//   - a policy whose content (every rule set's configuration and bytes, in order) is that of the
//     version in force changes nothing: no version is added, and the rules in force stay (with
//     their counters), unless none are yet (the first start after a restart with a state
//     directory, when the version was read back without its rules);
//   - a policy with the content of an earlier version that was in force and not rolled back is a
//     repair: it goes in force unchecked, and the log says so;
//   - a forced change goes in force whatever the check says (the report is still made).
func (g *Guard) Put(p Proposal, c Change) (policy.Report, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.keepObjects(p.Sources)
	key := contentKey(p.Sources)
	if cur := g.current(); cur != nil && cur.key == key {
		if cur.policy == nil && len(cur.Sets) > 0 {
			cur.policy = p.Policy
			g.keepSuspended(p.Policy)
			g.target.SetPolicy(p.Policy)
			g.log.Info("policy in force: the content of the stored version", "version", cur.N, "reason", c.Reason)
		} else {
			g.log.Info("policy unchanged: no new version", "version", cur.N, "reason", c.Reason)
		}
		return policy.Report{}, nil
	}
	if v := g.repairs(key); v != nil {
		g.log.Warn("policy change returns to the content of an earlier version: a repair, put in force without the blast-radius check",
			"as_version", v.N, "reason", c.Reason)
		g.install(p, key, c.Reason)
		return policy.Report{}, nil
	}
	report, err := g.check(p.Policy, c)
	if err != nil {
		return report, err
	}
	g.install(p, key, c.Reason)
	return report, nil
}

// repairs returns the latest version kept with the content key, when none of those a rollback
// undid: content that was in force and was not taken back.
func (g *Guard) repairs(key string) *Version {
	var found *Version
	for _, v := range g.versions {
		if v.key != key {
			continue
		}
		if v.Undone {
			return nil
		}
		found = v
	}
	return found
}

// check compares next with the policy in force over the corpus; it refuses a change of more than
// the limit, unless forced.
func (g *Guard) check(next *policy.Policy, c Change) (policy.Report, error) {
	corpus, err := g.corpus(c.Check)
	if err != nil {
		return policy.Report{}, err
	}
	report := policy.Compare(g.target.Policy(), next, corpus, CheckClient)
	limit := c.Check.MaxChange
	if 100*report.Share() > limit {
		if !c.Force {
			g.log.Error("policy change refused: it would change too many answers; keeping the policy in force",
				"changed", report.Changed, "names", report.Names, "limit_percent", limit, "report", report.String())
			return report, fmt.Errorf("%w: %d of %d names (%.2f%%), the limit is %g%%",
				ErrTooBig, report.Changed, report.Names, 100*report.Share(), limit)
		}
		g.log.Warn("policy change over the limit, forced", "changed", report.Changed, "names", report.Names, "limit_percent", limit)
	}
	if report.Names == 0 {
		g.log.Warn("policy change checked on no names: none asked yet and no check_corpus configured")
	}
	return report, nil
}

// corpus returns the names a change is checked on: the configured file, else the names recently
// asked.
func (g *Guard) corpus(c Check) ([]string, error) {
	if c.Corpus == "" {
		if g.recent == nil {
			return nil, nil
		}
		return g.recent(), nil
	}
	f, err := os.Open(c.Corpus)
	if err != nil {
		return nil, fmt.Errorf("check corpus: %w", err)
	}
	defer f.Close()
	return policy.ReadCorpus(f, c.Corpus)
}

// keepObjects stores the bytes of srcs (when there is a store), before the check: a list refused
// now may be part of a policy put in force later, when its bytes are no longer at hand.
func (g *Guard) keepObjects(srcs []Source) {
	if g.store == nil {
		return
	}
	g.pending = g.pending[:0]
	for _, s := range srcs {
		g.pending = append(g.pending, s.Object)
		if s.data == nil {
			continue
		}
		if err := g.store.PutObject(s.Object, s.data); err != nil {
			g.log.Error("policy rule set not stored: a rollback to it after a restart will fail", "set", s.Name, "err", err)
		}
	}
}
