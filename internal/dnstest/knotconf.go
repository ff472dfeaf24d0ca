package dnstest

import (
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

// KnotConfig is a knotd set up by the test itself: keys, ACLs, remotes and zones, for replication
// tests that the fixed StartKnot configuration cannot express.
type KnotConfig struct {
	// Sections is knot.conf text after the server, log and database sections (key:, acl:,
	// remote:, template:, zone:). "@DIR@" is replaced by the server's directory, where Files are
	// written.
	Sections string
	Files    map[string]string
	// Ready is a zone to ask for its SOA to tell that the server is up.
	Ready string
}

// Knot is a running knotd from StartKnotConfig.
type Knot struct {
	Addr string // 127.0.0.1:PORT
	Dir  string
	conf string
}

// StartKnotConfig runs knotd with c on 127.0.0.1 and a free port, stopped in t.Cleanup. Without
// knotd the test is skipped, except when CI=true.
func StartKnotConfig(t testing.TB, c KnotConfig) *Knot {
	t.Helper()
	bin := peerBin(t, "knotd", "knot")
	dir := knotDir(t)
	for name, text := range c.Files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	k := &Knot{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, conf: filepath.Join(dir, "knot.conf")}
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n    rundir: %q\n    listen: 127.0.0.1@%d\n", dir, port)
	fmt.Fprintf(&b, "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n")
	fmt.Fprintf(&b, "log:\n  - target: stderr\n    any: info\n")
	fmt.Fprintf(&b, "database:\n    storage: %q\n", dir)
	b.WriteString(strings.ReplaceAll(c.Sections, "@DIR@", dir))
	if err := os.WriteFile(k.conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	probe := dns.NewMsg(c.Ready, dns.TypeSOA)
	runPeer(t, "knotd", exec.Command(bin, "-c", k.conf), k.Addr, probe, 10*time.Second)
	return k
}

// Control runs knotc against the server with args, failing the test when it fails.
func (k *Knot) Control(t testing.TB, args ...string) string {
	t.Helper()
	bin := peerBin(t, "knotc", "knot")
	cmd := exec.Command(bin, append([]string{"-c", k.conf, "-t", "10"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("knotc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
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
