package dnstest

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"warden/internal/peers"
)

// Zone is one zone to serve: its origin (fully qualified) and its RFC 1035 master file.
type Zone = peers.Zone

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

// StartKnot runs knotd in the foreground on 127.0.0.1 and a free port, serving zones, and returns
// its address ("127.0.0.1:PORT") once it answers a SOA query for every zone. The server is stopped
// in t.Cleanup; its log is written to the test log when the test fails. Without knotd the test is
// skipped, except when CI=true, where a missing reference is an error.
func StartKnot(t testing.TB, zones []Zone) (addr string) {
	t.Helper()
	return startKnot(t, 0, func(string) peers.Knot { return peers.Knot{Zones: zones} }).Addr
}

// startKnot runs knotd in a directory of its own with the configuration conf returns for that
// directory, on port (a free one when 0), until it answers; see StartKnot.
func startKnot(t testing.TB, port int, conf func(dir string) peers.Knot) *Knot {
	t.Helper()
	peerBin(t, "knotd")
	dir := knotDir(t)
	k := conf(dir)
	k.Dir = dir
	p := startPeer(t, "knotd", port == 0, func() (*peers.Proc, error) {
		k.Port = port
		if port == 0 {
			k.Port = freePort(t)
		}
		return peers.StartKnot(k)
	})
	return &Knot{Addr: p.Addr(), Port: k.Port, Dir: k.Dir}
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
		t.Fatalf("knotd directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
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

// StartKnotWithBroken runs knotd as StartKnot does, on ip (127.0.0.1 when empty), serving zones
// of which some may fail to load: it waits only for the SOA of the origins in ready. It returns
// the server, whose directory is where knotc reaches it (peers.KnotControl).
func StartKnotWithBroken(t testing.TB, ip string, zones []Zone, ready []string) *Knot {
	t.Helper()
	return startKnot(t, 0, func(string) peers.Knot { return peers.Knot{IP: ip, Zones: zones, Ready: ready} })
}

// StartKnotAllowing runs knotd as StartKnot does, on ip (127.0.0.1 when empty), letting
// 127.0.0.0/8 do what allow names with every zone ("transfer", "update").
func StartKnotAllowing(t testing.TB, ip string, zones []Zone, allow ...string) *Knot {
	t.Helper()
	return startKnot(t, 0, func(string) peers.Knot { return peers.Knot{IP: ip, Zones: zones, Allow: allow} })
}
