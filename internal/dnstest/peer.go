package dnstest

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"warden/internal/peers"
)

const (
	// readyTimeout bounds how long a peer gets to answer after it starts (named is the slowest).
	readyTimeout = 15 * time.Second
	// startAttempts bounds the retries when a chosen port was taken between choosing and binding.
	startAttempts = 3
)

// peerBin returns the path of a peer's binary. Without it the test is skipped, except when CI=true,
// where a missing reference is an error naming the package to install.
func peerBin(t testing.TB, name string) string {
	t.Helper()
	bin, err := peers.Bin(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v; CI must install it", err)
		}
		t.Skip(err)
	}
	return bin
}

// startPeer runs start until the peer it starts answers, and stops the peer in t.Cleanup, showing
// its output when the test failed. When retry is set, a peer that found its port taken is started
// again (start picks new ports each time); any other failure fails the test.
func startPeer(t testing.TB, name string, retry bool, start func() (*peers.Proc, error)) *peers.Proc {
	t.Helper()
	var err error
	for range startAttempts {
		var p *peers.Proc
		if p, err = start(); err == nil {
			if err = ready(p); err == nil {
				t.Cleanup(func() {
					if err := p.Stop(); err != nil {
						t.Error(err)
					}
					if t.Failed() {
						t.Logf("%s on %s output:\n%s", name, p.Addr(), p.Output())
					}
				})
				return p
			}
			_ = p.Stop()
		}
		if !retry || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	t.Fatalf("start %s: %v", name, err)
	return nil
}

func ready(p *peers.Proc) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	return p.Ready(ctx)
}

// freePort returns FreePort's port or fails the test.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := peers.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// FreePort returns a port on 127.0.0.1 free for both UDP and TCP, below the kernel's ephemeral
// range; see peers.FreePort.
func FreePort() (int, error) { return peers.FreePort() }
