// Package labtest starts the lab's mini internet for tests of other packages; the lab's own
// tests have a copy of Start, as they cannot import this package.
package labtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"warden/internal/lab"
	"warden/internal/peers"
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

// bedPorts is the range the signed bed's servers are started on: not 53, so that it runs beside
// other labs and needs no lock.
const bedPortLow, bedPortHigh = 25300, 25399

// StartBed builds the signed bed in a directory of the test and serves it on a free port of
// 25300–25399, stopped in t.Cleanup. It returns the bed, the running servers and the port.
// Without the BIND signing tools the test is skipped, except when CI=true.
func StartBed(t testing.TB) (*lab.Bed, *lab.Lab, int) {
	t.Helper()
	for _, tool := range []string{"dnssec-keygen", "dnssec-signzone"} {
		if _, err := peers.Bin(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%v; CI must install it", err)
			}
			t.Skip(err)
		}
	}
	bed, err := lab.BuildBed(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	for port := bedPortLow; port <= bedPortHigh; port++ {
		if !bedPortFree(bed, port) {
			continue
		}
		l, err := lab.Start(bed.Servers, port, nil)
		if err != nil {
			// Another process may have taken the port between the check and the start.
			errs = append(errs, fmt.Errorf("port %d: %w", port, err))
			if len(errs) == 3 {
				break
			}
			continue
		}
		t.Cleanup(func() { _ = l.Close() })
		return bed, l, port
	}
	t.Fatalf("no port of %d–%d free for the signed bed: %v", bedPortLow, bedPortHigh, errors.Join(errs...))
	return nil, nil, 0
}

// bedPortFree says whether port is free on every address of the bed.
func bedPortFree(bed *lab.Bed, port int) bool {
	for _, s := range bed.Servers {
		if peers.CheckFree(net.JoinHostPort(s.IP, strconv.Itoa(port))) != nil {
			return false
		}
	}
	return true
}
