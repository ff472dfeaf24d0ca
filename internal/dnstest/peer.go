package dnstest

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// peerBin returns the path of a peer's binary, looked up on PATH and then in /usr/sbin. Without it
// the test is skipped, except when CI=true, where a missing reference is an error naming the
// Debian package to install.
func peerBin(t testing.TB, name, pkg string) string {
	t.Helper()
	if bin, err := exec.LookPath(name); err == nil {
		return bin
	}
	bin := "/usr/sbin/" + name
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; CI must install the %s package", name, pkg)
		}
		t.Skipf("%s is not installed", name)
	}
	return bin
}

// runPeer starts cmd, stops it with SIGTERM (SIGKILL after 5 s) in t.Cleanup, and shows its output
// when the test failed. It returns once probe answers a DNS message on addr, and fails the test
// when the peer exits or stays silent until the deadline.
func runPeer(t testing.TB, name string, cmd *exec.Cmd, addr string, probe *dns.Msg, wait time.Duration) {
	t.Helper()
	var out SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, out.String())
		}
	})
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-done:
			t.Fatalf("%s exited:\n%s", name, out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := dns.Exchange(ctx, probe, "udp", addr)
		cancel()
		if err == nil {
			return
		}
	}
	t.Fatalf("%s did not answer on %s:\n%s", name, addr, out.String())
}
