package dnstest

import (
	"fmt"
	"sync"
	"testing"

	"warden/internal/peers"
)

// Outage is a peer that a test stops and starts again on the same address, to see what Warden
// does while it is away and when it is back. It is stopped in t.Cleanup.
type Outage struct {
	t     testing.TB
	name  string
	start func() (*peers.Proc, error)

	mu   sync.Mutex
	proc *peers.Proc // nil while stopped
}

func newOutage(t testing.TB, name string, start func() (*peers.Proc, error)) *Outage {
	t.Helper()
	o := &Outage{t: t, name: name, start: start}
	o.Start()
	t.Cleanup(func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.proc != nil {
			if err := o.proc.Stop(); err != nil {
				t.Error(err)
			}
			if t.Failed() {
				t.Logf("%s on %s output:\n%s", o.name, o.proc.Addr(), o.proc.Output())
			}
		}
	})
	return o
}

// Start starts the peer (again) and waits until it answers; the port is its own from before,
// so a failure to start is the test's failure.
func (o *Outage) Start() {
	o.t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.proc != nil {
		return
	}
	p, err := o.start()
	if err == nil {
		if err = ready(p); err != nil {
			_ = p.Stop()
		}
	}
	if err != nil {
		o.t.Fatalf("start %s: %v", o.name, err)
	}
	o.proc = p
}

// Stop stops the peer and waits until it is gone.
func (o *Outage) Stop() {
	o.t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.proc == nil {
		return
	}
	if err := o.proc.Stop(); err != nil {
		o.t.Fatal(err)
	}
	o.proc = nil
}

// StartUnboundOutage runs unbound on ip and a free port, answering for origin from localData
// alone (local-data: lines, each "NAME TTL CLASS TYPE DATA"), as a forwarder's upstream that a
// test can stop and start. Without unbound the test is skipped, except when CI=true.
func StartUnboundOutage(t testing.TB, ip, origin string, localData []string) (*Outage, string) {
	t.Helper()
	UnboundBin(t)
	dir := t.TempDir()
	port := freePort(t)
	server := fmt.Sprintf("    local-zone: %q static\n", origin)
	for _, rr := range localData {
		server += fmt.Sprintf("    local-data: %q\n", rr)
	}
	o := newOutage(t, "unbound", func() (*peers.Proc, error) {
		return peers.StartUnbound(peers.Unbound{IP: ip, Port: port, Dir: dir, Server: server})
	})
	return o, fmt.Sprintf("%s:%d", ip, port)
}

// StartKnotOutage runs knotd on ip and port (a free one when 0), serving zones and allowing
// transfers from loopback, as a primary (or a root server) that a test can stop and start.
// Without knotd the test is skipped, except when CI=true.
func StartKnotOutage(t testing.TB, ip string, port int, zones []Zone) (*Outage, string) {
	t.Helper()
	peerBin(t, "knotd")
	dir := knotDir(t)
	if port == 0 {
		port = freePort(t)
	}
	o := newOutage(t, "knotd", func() (*peers.Proc, error) {
		return peers.StartKnot(peers.Knot{IP: ip, Port: port, Dir: dir, Zones: zones, Allow: []string{"transfer"}})
	})
	return o, fmt.Sprintf("%s:%d", ip, port)
}
