package dnstest

import (
	"bytes"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// Zone is one zone to serve: its origin (fully qualified) and its RFC 1035 master file.
type Zone struct {
	Origin string
	File   string
}

// TestZones returns the standard test zones in testdata/zones with absolute file paths, so tests in
// other packages can load exactly what the reference server loads.
func TestZones() []Zone {
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(self), "testdata", "zones")
	return []Zone{
		{Origin: "test.", File: filepath.Join(dir, "test.zone")},
		{Origin: "example.test.", File: filepath.Join(dir, "example.test.zone")},
		{Origin: "child.example.test.", File: filepath.Join(dir, "child.example.test.zone")},
		{Origin: "other.test.", File: filepath.Join(dir, "other.test.zone")},
	}
}

const (
	// startTimeout bounds how long StartKnot waits for every zone to answer.
	startTimeout = 10 * time.Second
	// startAttempts bounds the retries when the chosen port was taken between probing and binding.
	startAttempts = 3
	// stopTimeout is how long knotd gets to exit after SIGTERM before it is killed.
	stopTimeout = 5 * time.Second
)

// knotdPath finds the knotd binary. Debian installs it in /usr/sbin, which is not on every PATH.
func knotdPath() (string, bool) {
	if p, err := exec.LookPath("knotd"); err == nil {
		return p, true
	}
	for _, p := range []string{"/usr/sbin/knotd", "/usr/local/sbin/knotd"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// knotdOrSkip returns the knotd binary, or skips the test without it (fails it when CI=true, where
// a missing reference is an error).
func knotdOrSkip(t testing.TB) string {
	t.Helper()
	bin, ok := knotdPath()
	if !ok {
		if os.Getenv("CI") == "true" {
			t.Fatal("knotd (Knot DNS) is not installed; CI must install the knot package")
		}
		t.Skip("knotd (Knot DNS) is not installed; install the knot package to run the tests that compare with it")
	}
	return bin
}

// StartKnot runs knotd in the foreground on 127.0.0.1 and a free port, serving zones, and returns
// its address ("127.0.0.1:PORT") once it answers a SOA query for every zone. The server is stopped
// in t.Cleanup; its log is written to the test log when the test fails. Without knotd the test is
// skipped, except when CI=true, where a missing reference is an error.
func StartKnot(t testing.TB, zones []Zone) (addr string) {
	t.Helper()
	bin := knotdOrSkip(t)
	if len(zones) == 0 {
		t.Fatal("StartKnot: no zones")
	}
	dir := knotDir(t)
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		port, err := FreePort()
		if err != nil {
			t.Fatalf("StartKnot: %v", err)
		}
		addr, err := startKnotOnce(t, bin, dir, port, zones)
		if err == nil {
			return addr
		}
		lastErr = err
		if !errors.Is(err, errBind) {
			break
		}
	}
	t.Fatalf("StartKnot: %v", lastErr)
	return ""
}

// knotDir returns the directory for config, PID file, control socket and databases. The control
// socket path must fit in a sockaddr_un (108 bytes), which a deep t.TempDir may not.
func knotDir(t testing.TB) string {
	dir := t.TempDir()
	if len(filepath.Join(dir, "knot.sock")) < 100 {
		return dir
	}
	dir, err := os.MkdirTemp("", "knot")
	if err != nil {
		t.Fatalf("StartKnot: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// errBind marks a start that failed because the port was taken, which is worth a retry.
var errBind = errors.New("port taken")

func startKnotOnce(t testing.TB, bin, dir string, port int, zones []Zone) (string, error) {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	text, err := knotConfig(dir, port, zones)
	if err != nil {
		return "", err
	}
	return addr, runKnot(t, bin, filepath.Join(dir, "knot.conf"), text, addr, zones)
}

// runKnot writes the configuration text to conf and runs knotd with it until every zone answers
// its SOA at addr; knotd is stopped in t.Cleanup, its log shown when the test failed. A port
// already taken is reported as errBind, worth a retry on another.
func runKnot(t testing.TB, bin, conf, text, addr string, zones []Zone) error {
	t.Helper()
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	log := &SyncBuffer{}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	if err := waitReady(addr, zones, exited); err != nil {
		stop()
		if strings.Contains(log.String(), "address already in use") {
			return fmt.Errorf("knotd on %s: %w: %v", addr, errBind, err)
		}
		return fmt.Errorf("knotd on %s: %v\nconfiguration:\n%s\nknotd log:\n%s", addr, err, text, log.String())
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("knotd %s log:\n%s", addr, log.String())
		}
	})
	return nil
}

// knotConfig writes the server configuration: one worker of each kind (answers do not depend on
// threading, and it keeps the process small), everything on disk inside dir, zone files read once
// and never written back or journaled, semantic checks at their default (off: only the mandatory
// ones), and otherwise the server's default answering.
func knotConfig(dir string, port int, zones []Zone) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n")
	fmt.Fprintf(&b, "    rundir: %q\n", dir)
	fmt.Fprintf(&b, "    listen: 127.0.0.1@%d\n", port)
	fmt.Fprintf(&b, "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n")
	// By default the server answers CH TXT version.bind/version.server with its version and
	// id.server/hostname.bind and EDNS NSID with the machine's host name. Those answers differ
	// between machines and releases, so they are switched off (the server then REFUSES the CH
	// queries and sends no NSID option) to keep the reference's answers the same everywhere.
	fmt.Fprintf(&b, "    identity: \"\"\n    version: \"\"\n    nsid: \"\"\n")
	fmt.Fprintf(&b, "log:\n  - target: stderr\n    any: info\n")
	fmt.Fprintf(&b, "database:\n    storage: %q\n", dir)
	fmt.Fprintf(&b, "template:\n  - id: default\n    storage: %q\n", dir)
	fmt.Fprintf(&b, "    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n")
	fmt.Fprintf(&b, "    semantic-checks: off\n")
	fmt.Fprintf(&b, "zone:\n")
	for _, z := range zones {
		file, err := filepath.Abs(z.File)
		if err != nil {
			return "", fmt.Errorf("zone %s: %w", z.Origin, err)
		}
		if _, err := os.Stat(file); err != nil {
			return "", fmt.Errorf("zone %s: %w", z.Origin, err)
		}
		fmt.Fprintf(&b, "  - domain: %q\n    file: %q\n", z.Origin, file)
	}
	return b.String(), nil
}

// waitReady polls until every zone answers its SOA authoritatively, knotd exits, or startTimeout.
func waitReady(addr string, zones []Zone, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	pending := make([]string, 0, len(zones))
	for _, z := range zones {
		pending = append(pending, z.Origin)
	}
	for id := uint16(1); time.Now().Before(deadline); id++ {
		select {
		case <-exited:
			return errors.New("knotd exited during start")
		default:
		}
		next := pending[:0]
		for _, origin := range pending {
			if !soaReady(addr, origin, id) {
				next = append(next, origin)
			}
		}
		pending = next
		if len(pending) == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("zones not answering after %v: %s", startTimeout, strings.Join(pending, " "))
}

// soaReady says whether addr answers the SOA of origin with AA set; before a zone is loaded Knot
// answers SERVFAIL, and before the socket is bound nothing answers.
func soaReady(addr, origin string, id uint16) bool {
	w := NewWire(id, 0)
	if err := w.Question(origin, dns.TypeSOA, dns.ClassINET); err != nil {
		return false
	}
	resp, err := exchangeUDPTimeout(addr, w.Bytes(), 200*time.Millisecond)
	if err != nil {
		return false
	}
	m := &dns.Msg{Data: resp}
	if m.Unpack() != nil || m.Rcode != dns.RcodeSuccess || !m.Authoritative {
		return false
	}
	for _, r := range m.Answer {
		if _, ok := r.(*dns.SOA); ok {
			return true
		}
	}
	return false
}

// FreePort returns a port on 127.0.0.1 free for both UDP and TCP, for a server a test starts and
// names before it binds (in another process, or in a peer's configuration). It is taken below the
// kernel's range of ephemeral ports (ip_local_port_range), from which the system picks the source
// ports of outgoing connections: a port from that range can be handed to a test's own client
// between the check and the bind, and the server then fails with "address already in use".
func FreePort() (int, error) {
	low, high := belowEphemeral()
	var lastErr error
	for range 100 {
		port := low + mathrand.IntN(high-low)
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			lastErr = err
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		u.Close()
		if err != nil {
			lastErr = err
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("free port: no port free for both UDP and TCP: %w", lastErr)
}

// belowEphemeral returns the range test servers' ports are chosen from: from 10000 up to the start
// of the ephemeral range (32768 on Linux unless configured otherwise).
func belowEphemeral() (low, high int) {
	low, high = 10000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > low+1000 {
				high = n
			}
		}
	}
	return low, high
}

// SyncBuffer collects what a process or a logger writes while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
