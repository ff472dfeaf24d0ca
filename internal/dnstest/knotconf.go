package dnstest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/peers"
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

// StartKnotConfig runs knotd with c on 127.0.0.1; see StartKnotConf.
func StartKnotConfig(t testing.TB, c KnotConfig) *Knot {
	t.Helper()
	return startKnot(t, c.Port, func(dir string) peers.Knot {
		for name, text := range c.Files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return peers.Knot{Sections: strings.ReplaceAll(c.Sections, "@DIR@", dir), Ready: []string{c.Ready}}
	})
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

// StartKnotConf runs knotd on 127.0.0.1 and a free port with a configuration of its own: the
// server, log and database sections are written as for StartKnot, and body returns the rest (acl,
// remote, template and zone sections) for the directory the server runs in. It returns once every
// zone in ready answers its SOA with AA set, so a test can wait for zones the server learns at run
// time, such as the members of a catalog. The server is stopped in t.Cleanup; its log is written
// to the test log when the test fails. Without knotd the test is skipped (an error when CI=true).
func StartKnotConf(t testing.TB, body func(dir string) string, ready []string) *Knot {
	t.Helper()
	if len(ready) == 0 {
		t.Fatal("StartKnotConf: no zone to wait for")
	}
	return startKnot(t, 0, func(dir string) peers.Knot {
		return peers.Knot{Sections: body(dir), Ready: ready}
	})
}

// Control runs knotc against the server's control socket and returns its output; a failing
// command fails the test.
func (k *Knot) Control(t testing.TB, args ...string) string {
	t.Helper()
	peerBin(t, "knotc")
	out, err := peers.KnotControl(k.Dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
