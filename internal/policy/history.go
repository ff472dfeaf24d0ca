package policy

import (
	"errors"
	"strconv"
	"sync"
	"time"
)

// Version is one policy that was put in force.
type Version[P any] struct {
	N      int       // 1 for the first policy, one more for each change (rollbacks included)
	At     time.Time // when it went in force
	Reason string    // what put it in force: "start", "reload", "rollback to version 3", ...
	Policy P
}

// History keeps the policies put in force, so that a bad change can be undone in one step:
// Rollback puts the previous policy back as it was compiled, without reading or checking any file
// again, and records that as a new version. A second Rollback goes one further back.
//
// Two bounded lists: the stack of policies a rollback can return to (each change pushes, each
// rollback pops), and the log of every version for people to read.
type History[P any] struct {
	mu    sync.Mutex
	keep  int
	next  int
	stack []Version[P]
	log   []Version[P]
}

// ErrNoEarlierVersion is returned by Rollback when there is nothing to go back to.
var ErrNoEarlierVersion = errors.New("no earlier policy version to roll back to")

// NewHistory returns an empty history that can roll back keep-1 changes (keep at least 2).
func NewHistory[P any](keep int) *History[P] {
	return &History[P]{keep: max(keep, 2), next: 1}
}

// Add records p as the policy now in force and returns its version.
func (h *History[P]) Add(p P, reason string, now time.Time) Version[P] {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.record(p, reason, now)
	h.stack = bounded(append(h.stack, v), h.keep)
	return v
}

// Rollback returns the policy in force before the current one, recorded as a new version; the
// caller swaps it in.
func (h *History[P]) Rollback(now time.Time) (Version[P], error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.stack) < 2 {
		return Version[P]{}, ErrNoEarlierVersion
	}
	h.stack[len(h.stack)-1] = Version[P]{} // let the undone policy go
	h.stack = h.stack[:len(h.stack)-1]
	prev := h.stack[len(h.stack)-1]
	return h.record(prev.Policy, "rollback to version "+strconv.Itoa(prev.N), now), nil
}

func (h *History[P]) record(p P, reason string, now time.Time) Version[P] {
	v := Version[P]{N: h.next, At: now, Reason: reason, Policy: p}
	h.next++
	h.log = bounded(append(h.log, v), 4*h.keep)
	return v
}

// bounded drops the oldest entries of s beyond n, clearing them so their policies can be freed.
func bounded[P any](s []Version[P], n int) []Version[P] {
	if len(s) <= n {
		return s
	}
	drop := len(s) - n
	clear(s[:drop])
	return s[drop:]
}

// Current returns the version in force, and false when none was added.
func (h *History[P]) Current() (Version[P], bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.log) == 0 {
		return Version[P]{}, false
	}
	return h.log[len(h.log)-1], true
}

// List returns the versions logged, oldest first.
func (h *History[P]) List() []Version[P] {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Version[P](nil), h.log...)
}
