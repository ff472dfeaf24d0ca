package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrUnavailable marks why StartShared cannot serve the hierarchy here: port 53 needs root, and
// another server may already hold it on a lab address. Tests skip on it.
var ErrUnavailable = errors.New("the mini internet cannot run here")

// StartShared serves the built-in hierarchy on port 53, taking turns with other processes that
// do the same: tests of several packages run at once, so a lock file makes them wait (at most
// wait) until the hierarchy is free. The caller calls release after Close, not before: until
// then the addresses are the caller's, even when the servers have stopped (a test may check that
// Close freed them). Where Knot DNS or NSD is not installed, Warden serves their servers (see
// Servers).
func StartShared(wait time.Duration) (l *Lab, release func(), err error) {
	if os.Geteuid() != 0 {
		return nil, nil, fmt.Errorf("%w: it listens on port 53: run as root", ErrUnavailable)
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "warden-lab.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	deadline := time.Now().Add(wait)
	for syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			lock.Close()
			return nil, nil, fmt.Errorf("lab: the mini internet stayed in use by another process for %v", wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
	l, err = Start(Hierarchy(), 53, nil)
	if errors.Is(err, syscall.EADDRINUSE) {
		lock.Close()
		return nil, nil, fmt.Errorf("%w: another server holds port 53 on a lab address: %w", ErrUnavailable, err)
	}
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	return l, func() { lock.Close() }, nil
}
