package dnstest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// GoCommand returns the go command of the toolchain running the test (else the one on PATH), for
// tests that build or list Warden; the test is skipped when there is none.
func GoCommand(t testing.TB) string {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err == nil {
		return goBin
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build or list warden with: %v", err)
	}
	return p
}

// BuildWarden builds the warden command into dir and returns its path, for tests that run the
// binary itself (as another user, inside a network namespace, from a package).
func BuildWarden(t testing.TB, dir string, flags ...string) string {
	t.Helper()
	bin := filepath.Join(dir, "warden")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append(append([]string{"build"}, flags...), "-o", bin, "warden/cmd/warden")
	out, err := exec.CommandContext(ctx, GoCommand(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build warden: %v\n%s", err, out)
	}
	return bin
}

// WaitUntil polls cond for up to 10 s and fails the test, naming what it waited for, if it never
// holds.
func WaitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
