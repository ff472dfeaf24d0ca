package lab

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// StartForTest serves the built-in hierarchy on port 53 for a test and stops it in t.Cleanup. It
// skips the test, saying why, when it cannot run here: port 53 needs root, and another server
// may already hold it on a lab address. Tests of several packages run at once, so a lock file
// makes them take turns with the hierarchy (waiting at most two minutes). Where Knot DNS or NSD is
// not installed, Warden serves their servers, and the test log says so.
func StartForTest(t testing.TB) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the mini internet listens on port 53: run as root")
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "warden-lab.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			lock.Close()
			t.Fatal("the mini internet stayed in use by another test for two minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() { lock.Close() }) // closing releases the lock, after the servers stop
	l, err := Start(Hierarchy(), 53, nil)
	if errors.Is(err, syscall.EADDRINUSE) {
		t.Skipf("another server holds port 53 on a lab address: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	want := Hierarchy()
	for i, s := range l.Servers() {
		if s.Software != want[i].Software {
			t.Logf("%s is not installed: Warden serves %s (%s) instead", daemons[want[i].Software], s.IP, s.Name)
		}
	}
	return l
}
