package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/config"
	"warden/internal/dnstest"
	"warden/internal/health"
)

func zoneText(serial int, addr string) string {
	return fmt.Sprintf(`$ORIGIN reload.test.
$TTL 60
@ SOA ns1 hostmaster %d 3600 600 86400 60
@ NS ns1
ns1 A 192.0.2.1
www A %s
`, serial, addr)
}

// freePort returns a 127.0.0.1 address whose port is free for UDP and TCP, outside the range the
// kernel takes outgoing connections' ports from (see dnstest.FreePort).
func freePort(t *testing.T) string {
	t.Helper()
	port, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func askA(addr, name string) (string, error) {
	m := dns.NewMsg(name, dns.TypeA)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r, err := dns.Exchange(ctx, m, "udp", addr)
	if err != nil {
		return "", err
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return "", fmt.Errorf("rcode %d, %d answers", r.Rcode, len(r.Answer))
	}
	return r.Answer[0].(*dns.A).A.Addr.String(), nil
}

// waitFor polls until check passes or the deadline, bounded in time.
func waitFor(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if check() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestReloadOnFileChange: a zone file with a higher serial replaces the running zone while queries
// keep being answered; a broken file and a file with the same serial leave the old zone serving.
func TestReloadOnFileChange(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "reload.test.zone")
	if err := os.WriteFile(file, []byte(zoneText(1, "192.0.2.10")), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	f := &commonFlags{listen: []string{addr}, zones: []string{"reload.test.=" + file}, control: "none"}
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Reload.WatchInterval = 100 * time.Millisecond
	logs, _ := startServer(t, f, cfg)
	waitFor(t, "first answer", func() bool { a, err := askA(addr, "www.reload.test."); return err == nil && a == "192.0.2.10" })

	// Queries run during every reload; each must be answered.
	var failures, answered atomic.Int64
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for i := 0; i < 100000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := askA(addr, "www.reload.test."); err != nil {
				failures.Add(1)
			} else {
				answered.Add(1)
			}
		}
	}()

	write := func(text string) {
		t.Helper()
		// A new modification time even on coarse clocks.
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Duration(len(text)) * time.Millisecond)
		_ = os.Chtimes(file, later, later)
	}
	write(zoneText(2, "192.0.2.20"))
	waitFor(t, "reloaded answer", func() bool { a, err := askA(addr, "www.reload.test."); return err == nil && a == "192.0.2.20" })

	write("this is not a zone file\n")
	waitFor(t, "logged reload failure", func() bool { return strings.Contains(logs.String(), health.ZoneFile.Started) })
	if a, err := askA(addr, "www.reload.test."); err != nil || a != "192.0.2.20" {
		t.Fatalf("after a broken file: %q %v, want the previous zone", a, err)
	}

	write(zoneText(2, "192.0.2.30") + "; same serial\n")
	waitFor(t, "logged serial warning", func() bool { return strings.Contains(logs.String(), "serial did not increase") })
	if a, _ := askA(addr, "www.reload.test."); a != "192.0.2.20" {
		t.Fatalf("a file with the same serial replaced the zone: %s", a)
	}
	close(stop)
	<-loadDone
	if failures.Load() > 0 {
		t.Fatalf("%d of %d queries failed during reloads", failures.Load(), failures.Load()+answered.Load())
	}
}

// startServer runs the server of f and cfg until the test ends, then stops it and checks that it
// stopped cleanly. It returns the server's log and a context that ends when the server is told to
// stop. A test never opens the default control socket under /run.
func startServer(t *testing.T, f *commonFlags, cfg *config.Config) (*syncBuffer, context.Context) {
	t.Helper()
	if cfg.Control.Socket == config.Default().Control.Socket {
		cfg.Control.Socket = ""
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, f, cfg, slog.New(slog.NewTextHandler(logs, nil))) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("server did not stop")
		}
	})
	return logs, ctx
}

// syncBuffer is a log destination the test reads while the server writes.
type syncBuffer = dnstest.SyncBuffer

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.zone")
	bad := filepath.Join(dir, "bad.zone")
	os.WriteFile(good, []byte(zoneText(1, "192.0.2.1")), 0o644)
	os.WriteFile(bad, []byte(zoneText(1, "192.0.2.1")+"www CNAME ns1\n"), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--zone", "reload.test.=" + good}, &out, &errb); code != 0 {
		t.Fatalf("good zone: exit %d: %s", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"check", "--zone", "reload.test.=" + bad}, &out, &errb); code != 1 {
		t.Fatalf("bad zone: exit %d", code)
	}
	if !strings.Contains(errb.String(), "bad.zone:7: www.reload.test.: CNAME beside A data") {
		t.Fatalf("check output does not name file, line and problem:\n%s", errb.String())
	}
	cfgFile := filepath.Join(dir, "warden.yaml")
	os.WriteFile(cfgFile, []byte("listen: [127.0.0.1:5300]\nlisen: x\n"), 0o644)
	errb.Reset()
	if code := run([]string{"check", "--config", cfgFile}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "warden.yaml:2") {
		t.Fatalf("bad config: exit %d: %s", code, errb.String())
	}
}

// TestCheckZoneErrors: a zone's syntax errors and a missing SOA read "file:line: what", as the
// zone checks' findings do.
func TestCheckZoneErrors(t *testing.T) {
	dir := t.TempDir()
	syntax := filepath.Join(dir, "syntax.zone")
	noSOA := filepath.Join(dir, "nosoa.zone")
	os.WriteFile(syntax, []byte(zoneText(1, "192.0.2.300")), 0o644)
	os.WriteFile(noSOA, []byte("$ORIGIN nosoa.test.\n$TTL 60\n@ NS ns1\nns1 A 192.0.2.1\n"), 0o644)
	var out, errb bytes.Buffer
	code := run([]string{"check", "--zone", "reload.test.=" + syntax, "--zone", "nosoa.test.=" + noSOA}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		syntax + `:6: bad A record "192.0.2.300"`,
		noSOA + ":1: no SOA record at the zone apex nosoa.test.",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("check does not say %q:\n%s", want, errb.String())
		}
	}
}

func TestDefaultConfigServesExample(t *testing.T) {
	cfg := config.Default()
	if len(cfg.Listen) != 1 || cfg.Listen[0].String() != "127.0.0.1:1053" {
		t.Fatalf("default listener %v", cfg.Listen)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check"}, &out, &errb); code != 0 {
		t.Fatalf("built-in configuration does not check: %s", errb.String())
	}
}
