package dnstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// UnboundBin returns the path of the unbound binary. Without it the test is skipped, except when
// CI=true, where a missing reference is an error.
func UnboundBin(t testing.TB) string {
	t.Helper()
	if bin, err := exec.LookPath("unbound"); err == nil {
		return bin
	}
	bin := "/usr/sbin/unbound"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("unbound is not installed; CI must install the unbound package")
		}
		t.Skip("unbound is not installed")
	}
	return bin
}

// StartUnbound runs unbound in the foreground on 127.0.0.1 and a free port as a recursive resolver
// that starts from rootHints (master-file text) instead of the real root, validates nothing, and
// may query loopback servers. It returns the address once unbound answers, and stops it in
// t.Cleanup. Without unbound the test is skipped, except when CI=true.
func StartUnbound(t testing.TB, rootHints string) string {
	t.Helper()
	bin := UnboundBin(t)
	dir := t.TempDir()
	hints := filepath.Join(dir, "root.hints")
	if err := os.WriteFile(hints, []byte(rootHints), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "unbound.conf")
	text := fmt.Sprintf(`server:
    interface: 127.0.0.1@%d
    port: %d
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "%s"
    pidfile: "%s/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    do-ip6: no
    so-reuseport: no
    root-hints: "%s"
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    minimal-responses: yes
remote-control:
    control-enable: no
`, port, port, dir, dir, hints)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd := exec.Command(bin, "-d", "-c", conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unbound: %v", err)
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
			t.Logf("unbound log:\n%s", out.String())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("unbound exited:\n%s", out.String())
		default:
		}
		// localhost. is answered by unbound itself, so this needs no upstream.
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := dns.Exchange(ctx, dns.NewMsg("localhost.", dns.TypeA), "udp", addr)
		cancel()
		if err == nil {
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("unbound did not answer on %s:\n%s", addr, out.String())
	return ""
}
