package lab

import (
	"errors"
	"testing"
	"time"
)

// StartForTest is labtest.Start for the lab's own tests, which cannot import labtest.
func StartForTest(t testing.TB) *Lab {
	t.Helper()
	l, release, err := StartShared(2 * time.Minute)
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release) // after Close: cleanups run last first
	t.Cleanup(func() { _ = l.Close() })
	want := Hierarchy()
	for i, s := range l.Servers() {
		if s.Software != want[i].Software {
			t.Logf("%s is not installed: Warden serves %s (%s) instead", want[i].Software, s.IP, s.Name)
		}
	}
	return l
}
