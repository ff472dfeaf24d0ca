package dnstest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// KnotConfig is a knotd set up by the test itself (keys, ACLs, remotes, zones), for replication
// tests that the fixed StartKnot configuration cannot express; StartKnotConfig runs it.
type KnotConfig struct {
	// Sections is knot.conf text after the server, log and database sections (key:, acl:,
	// remote:, template:, zone:). "@DIR@" is replaced by the server's directory, where Files are
	// written.
	Sections string
	Files    map[string]string
	// Ready is a zone to ask for its SOA to tell that the server is up.
	Ready string
	// Port is the port to listen on; 0 picks a free one. A test that must name the server in
	// another's configuration before it starts (a secondary to NOTIFY) picks it first.
	Port int
}

// StartKnotConfig runs knotd with c; see StartKnotConf.
func StartKnotConfig(t testing.TB, c KnotConfig) *Knot {
	t.Helper()
	return startKnotConf(t, c.Port, func(dir string) string {
		for name, text := range c.Files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return strings.ReplaceAll(c.Sections, "@DIR@", dir)
	}, []string{c.Ready})
}

// WaitSerial polls until the server answers origin's SOA with serial, or fails the test after
// ten seconds.
func (k *Knot) WaitSerial(t testing.TB, origin string, serial uint32) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		m, err := Exchange(k.Addr, Query{Name: origin, Type: dns.TypeSOA})
		if err != nil {
			last = err.Error()
			continue
		}
		for _, rr := range m.Answer {
			if soa, ok := rr.(*dns.SOA); ok {
				if soa.Serial == serial {
					return
				}
				last = fmt.Sprintf("serial %d", soa.Serial)
			}
		}
	}
	t.Fatalf("knotd %s: %s did not reach serial %d (last: %s)", k.Addr, origin, serial, last)
}

// Knot is a running knotd started by StartKnotConf or StartKnotConfig.
type Knot struct {
	Addr string // "127.0.0.1:PORT", for queries and transfers
	Port int    // the same port, for knotd configurations that name this server as a remote
	Dir  string // rundir and storage: zone files, journals and the control socket live here
}

// StartKnotConf runs knotd on 127.0.0.1 and a free port with a configuration of its own: the server,
// log and database sections are written here as StartKnot writes them, and body returns the rest
// (acl, remote, template and zone sections) for the directory the server runs in. It returns once
// every zone in ready answers its SOA with AA set (bounded by StartKnot's timeout), so a test can
// wait for zones the server learns at run time, such as the members of a catalog. The server is
// stopped in t.Cleanup; its log is written to the test log when the test fails. Without knotd the
// test is skipped (an error when CI=true).
func StartKnotConf(t testing.TB, body func(dir string) string, ready []string) *Knot {
	t.Helper()
	return startKnotConf(t, 0, body, ready)
}

func startKnotConf(t testing.TB, fixedPort int, body func(dir string) string, ready []string) *Knot {
	t.Helper()
	bin := knotdOrSkip(t)
	if len(ready) == 0 {
		t.Fatal("StartKnotConf: no zone to wait for")
	}
	dir := knotDir(t)
	zones := make([]Zone, len(ready))
	for i, z := range ready {
		zones[i] = Zone{Origin: z}
	}
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		port, err := fixedPort, error(nil)
		if port == 0 {
			port, err = FreePort()
		}
		if err != nil {
			t.Fatalf("StartKnotConf: %v", err)
		}
		k := &Knot{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, Dir: dir}
		err = k.start(t, bin, body(dir), zones)
		if err == nil {
			return k
		}
		lastErr = err
		if !errors.Is(err, errBind) {
			break
		}
	}
	t.Fatalf("StartKnotConf: %v", lastErr)
	return nil
}

func (k *Knot) start(t testing.TB, bin, body string, zones []Zone) error {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n    rundir: %q\n    listen: 127.0.0.1@%d\n", k.Dir, k.Port)
	fmt.Fprintf(&b, "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n")
	fmt.Fprintf(&b, "    identity: \"\"\n    version: \"\"\n    nsid: \"\"\n")
	fmt.Fprintf(&b, "log:\n  - target: stderr\n    any: info\n")
	fmt.Fprintf(&b, "database:\n    storage: %q\n", k.Dir)
	b.WriteString(body)
	return runKnot(t, bin, filepath.Join(k.Dir, "knot.conf"), b.String(), k.Addr, zones)
}

// Control runs knotc against the server's control socket and returns its output; a failing
// command fails the test.
func (k *Knot) Control(t testing.TB, args ...string) string {
	t.Helper()
	bin := peerBin(t, "knotc", "knot")
	cmd := exec.Command(bin, append([]string{"-s", filepath.Join(k.Dir, "knot.sock"), "-t", "5"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("knotc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
