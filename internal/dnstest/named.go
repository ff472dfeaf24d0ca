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

// NamedBin returns the path of BIND's named. Without it the test is skipped, except when CI=true,
// where a missing reference is an error.
func NamedBin(t testing.TB) string {
	t.Helper()
	if bin, err := exec.LookPath("named"); err == nil {
		return bin
	}
	bin := "/usr/sbin/named"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("named is not installed; CI must install the bind9 package")
		}
		t.Skip("named is not installed")
	}
	return bin
}

// NamedConfig is what StartNamed writes into named.conf besides the listener and paths.
type NamedConfig struct {
	// Options are extra statements inside options { }.
	Options string
	// Body holds the statements after options (zones, say); file names are relative to the
	// working directory, where Files are written.
	Body  string
	Files map[string]string
}

// StartNamed runs BIND's named in the foreground on 127.0.0.1 and a free port, with the
// configuration c, and returns the address once it answers. It is stopped in t.Cleanup; its log
// is shown when the test failed. Without named the test is skipped, except when CI=true.
func StartNamed(t testing.TB, c NamedConfig) string {
	t.Helper()
	bin := NamedBin(t)
	dir := t.TempDir()
	for name, text := range c.Files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "named.conf")
	text := fmt.Sprintf(`options {
	directory "%s";
	pid-file "%s/named.pid";
	session-keyfile "%s/session.key";
	listen-on port %d { 127.0.0.1; };
	listen-on-v6 { none; };
%s
};
controls { };
%s
`, dir, dir, dir, port, c.Options, c.Body)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	cmd := exec.Command(bin, "-g", "-4", "-n", "1", "-c", conf)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start named: %v", err)
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
			t.Logf("named log:\n%s", out.String())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("named exited:\n%s", out.String())
		default:
		}
		// version.bind CH TXT is answered by named itself.
		m := dns.NewMsg("version.bind.", dns.TypeTXT)
		m.Question[0].Header().Class = dns.ClassCHAOS
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := dns.Exchange(ctx, m, "udp", addr)
		cancel()
		if err == nil {
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("named did not answer on %s:\n%s", addr, out.String())
	return ""
}
