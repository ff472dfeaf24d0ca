// Package labtest starts the lab's mini internet for tests of other packages; the lab's own
// tests have a copy of Start, as they cannot import this package.
package labtest

import (
	"errors"
	"testing"
	"time"

	"warden/internal/lab"
)

// lockWait bounds how long a test waits for another to finish with the hierarchy.
const lockWait = 2 * time.Minute

// Start serves the built-in hierarchy on port 53 for a test and stops it in t.Cleanup (see
// lab.StartShared). It skips the test, saying why, when the hierarchy cannot run here. Where Knot
// DNS or NSD is not installed, Warden serves their servers, and the test log says so.
func Start(t testing.TB) *lab.Lab {
	t.Helper()
	l, release, err := lab.StartShared(lockWait)
	if errors.Is(err, lab.ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release) // after Close: cleanups run last first
	t.Cleanup(func() { _ = l.Close() })
	want := lab.Hierarchy()
	for i, s := range l.Servers() {
		if s.Software != want[i].Software {
			t.Logf("%s is not installed: Warden serves %s (%s) instead", want[i].Software, s.IP, s.Name)
		}
	}
	return l
}
