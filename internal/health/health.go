// Package health keeps the list of what is wrong with a running server right now: an upstream
// that stopped answering, a zone file that no longer loads, a transfer or a signing that fails,
// a policy list that does not load, a circuit breaker that tripped. Each is a Condition, which
// the part of the server that sees the failure reports on every attempt; the Condition logs one
// line when the trouble starts and one when it ends, however many attempts fail in between, so
// that an operator's log says what happened rather than repeating it. The control interface's
// status and the HTTP API's /api/status both read the same Board.
package health

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is one sort of trouble: how its lines read and what its subject is called in them.
type Kind struct {
	// Name is what status shows ("upstream", "zone file", ...).
	Name string
	// Subject is the log attribute that names what is in trouble ("upstream", "zone", "list").
	Subject string
	// Started and Ended are the messages of the two lines.
	Started, Ended string
	// Level is the level of the Started line; the Ended line is at Info.
	Level slog.Level
}

// The kinds of trouble a server watches.
var (
	Upstream = Kind{Name: "upstream", Subject: "upstream", Level: slog.LevelError,
		Started: "upstream stopped answering; the other upstreams of the zone are asked first",
		Ended:   "upstream answering again"}
	Resolution = Kind{Name: "resolution", Subject: "servers", Level: slog.LevelError,
		Started: "no authoritative server answers: the network towards them may be down",
		Ended:   "authoritative servers answering again"}
	ZoneFile = Kind{Name: "zone file", Subject: "zone", Level: slog.LevelError,
		Started: "zone file not in force; the last good version keeps serving, or SERVFAIL when none has loaded",
		Ended:   "zone file in force again"}
	ZoneTransfer = Kind{Name: "zone transfer", Subject: "zone", Level: slog.LevelError,
		Started: "zone refresh failing; the copy in force keeps serving until it expires",
		Ended:   "zone refresh succeeding again"}
	ZoneSigning = Kind{Name: "zone signing", Subject: "zone", Level: slog.LevelError,
		Started: "zone signing failing; the last signed version keeps serving",
		Ended:   "zone signing succeeding again"}
	PolicyLoad = Kind{Name: "policy", Subject: "policy", Level: slog.LevelError,
		Started: "policy not loaded; the running one stays in force",
		Ended:   "policy loading again"}
	Blocklist = Kind{Name: "blocklist", Subject: "list", Level: slog.LevelError,
		Started: "blocklist fails to load; its previous version stays in force",
		Ended:   "blocklist loading again"}
	Breaker = Kind{Name: "circuit breaker", Subject: "set", Level: slog.LevelError,
		Started: "policy circuit breaker tripped: suspended until the set is resumed",
		Ended:   "policy circuit breaker cleared"}
)

// Problem is one condition in trouble, as status shows it.
type Problem struct {
	Kind string `json:"kind"`
	// Subject names what is in trouble: an upstream's address, a zone's origin, a list's name.
	Subject string    `json:"subject"`
	Since   time.Time `json:"since"`
	// LastError is the latest failure's error, LastFailure when it came.
	LastError   string    `json:"last_error"`
	LastFailure time.Time `json:"last_failure"`
	// Failures counts the failed attempts since Since, the first one included.
	Failures int `json:"failures"`
}

func (p Problem) String() string {
	return fmt.Sprintf("%s %s: failing since %s (%d failures): %s", p.Kind, p.Subject, p.Since.Format(time.RFC3339), p.Failures, p.LastError)
}

// Board holds every Condition of a server. The zero Board is not usable; New makes one. A nil
// *Board hands out nil Conditions, which do nothing: parts built without one (tests, `warden
// check`) report into the void.
type Board struct {
	log *slog.Logger
	now func() time.Time

	mu sync.Mutex
	// watched holds a Condition per key for as long as its subject is configured; it grows with
	// the configuration (zones, upstreams, lists), never with traffic.
	watched map[key]*Condition
}

type key struct {
	kind    string
	subject string
}

// New returns a Board that logs to log.
func New(log *slog.Logger) *Board {
	return &Board{log: log, now: time.Now, watched: make(map[key]*Condition)}
}

// Watch returns the Condition of subject for kind, the same one every time it is asked for until
// Forget: a part rebuilt by a reload carries on the trouble of the part it replaced.
func (b *Board) Watch(kind Kind, subject string) *Condition {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := key{kind.Name, subject}
	if c := b.watched[k]; c != nil {
		return c
	}
	c := &Condition{board: b, kind: kind, subject: subject}
	b.watched[k] = c
	return c
}

// Forget stops watching the subjects of kind for which keep says false (no longer configured);
// one in trouble logs that it is no longer watched, so that its start line has an end.
func (b *Board) Forget(kind Kind, keep func(subject string) bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	var gone []*Condition
	for k, c := range b.watched {
		if k.kind == kind.Name && !keep(k.subject) {
			delete(b.watched, k)
			gone = append(gone, c)
		}
	}
	b.mu.Unlock()
	for _, c := range gone {
		c.end("no longer configured; no longer watched")
	}
}

// Problems returns the conditions in trouble, oldest first.
func (b *Board) Problems() []Problem {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	conds := make([]*Condition, 0, len(b.watched))
	for _, c := range b.watched {
		conds = append(conds, c)
	}
	b.mu.Unlock()
	var out []Problem
	for _, c := range conds {
		if p, ok := c.Problem(); ok {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Problem) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.Kind+" "+a.Subject, b.Kind+" "+b.Subject)
	})
	return out
}

// Condition is the state of one subject for one kind of trouble: healthy, or in trouble since a
// time, with the failures counted and the last error kept. Its methods are safe for concurrent
// use and do nothing on a nil Condition.
type Condition struct {
	board   *Board
	kind    Kind
	subject string
	// failing mirrors since != 0, so that Recover on a healthy Condition, which a part calls
	// after every success, is one atomic load.
	failing atomic.Bool

	mu       sync.Mutex
	since    time.Time
	lastErr  string
	lastFail time.Time
	failures int
}

// Fail reports a failed attempt. The first one of a run logs the Started line, with attrs
// (key-value pairs, as slog takes them) after the error; the others are counted (and logged at
// debug level).
func (c *Condition) Fail(err error, attrs ...any) {
	if c == nil {
		return
	}
	now := c.board.now()
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	// The lines are written under the lock so that a start and the end that follows it are
	// logged in that order, whichever goroutines report them.
	c.mu.Lock()
	defer c.mu.Unlock()
	first := c.since.IsZero()
	if first {
		c.since = now
		c.failures = 0
	}
	c.failures++
	c.lastErr, c.lastFail = msg, now
	c.failing.Store(true)
	if first {
		c.board.log.Log(nil, c.kind.Level, c.kind.Started, append([]any{c.kind.Subject, c.subject, "err", msg}, attrs...)...)
	} else {
		c.board.log.Debug(c.kind.Started, c.kind.Subject, c.subject, "err", msg, "failures", c.failures)
	}
}

// Recover reports a successful attempt: a Condition in trouble logs the Ended line, with how
// many failures it saw and for how long.
func (c *Condition) Recover() {
	if c == nil || !c.failing.Load() {
		return
	}
	c.end(c.kind.Ended)
}

func (c *Condition) end(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.since.IsZero() {
		return // another goroutine's Recover came first
	}
	lasted := c.board.now().Sub(c.since).Round(time.Second)
	c.board.log.Info(msg, c.kind.Subject, c.subject, "failures", c.failures, "lasted", lasted.String(),
		"since", c.since.Format(time.RFC3339), "last_err", c.lastErr)
	c.since, c.failures, c.lastErr, c.lastFail = time.Time{}, 0, "", time.Time{}
	c.failing.Store(false)
}

// Failing says whether the Condition is in trouble.
func (c *Condition) Failing() bool { return c != nil && c.failing.Load() }

// Problem returns the Condition as status shows it, and false when it is healthy.
func (c *Condition) Problem() (Problem, bool) {
	if c == nil {
		return Problem{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.since.IsZero() {
		return Problem{}, false
	}
	return Problem{Kind: c.kind.Name, Subject: c.subject, Since: c.since, LastError: c.lastErr, LastFailure: c.lastFail, Failures: c.failures}, true
}
