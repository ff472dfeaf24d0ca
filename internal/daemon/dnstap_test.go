package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/config"
	"warden/internal/dnstest"
	"warden/internal/lab/labtest"
)

// runDnstapServer runs a server from cfgText (with %s for its DNS address and the collector's
// socket) and returns its address and a stop function that waits for Run to return.
func runDnstapServer(t *testing.T, dir, ip, cfgText string, col *dnstest.Collector) (string, func()) {
	t.Helper()
	port, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("%s:%d", ip, port)
	cfgFile := filepath.Join(dir, "warden.yaml")
	write(t, cfgFile, fmt.Sprintf(cfgText, addr, "unix:"+col.Socket))
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	logs := &dnstest.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Log: logTo(logs)}) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after its context ended")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	}
	t.Cleanup(stop)
	dnstest.WaitUntil(t, "the server answering", func() bool {
		_, err := dnstest.Exchange(addr, dnstest.Query{Name: "ns.run.test.", Type: dns.TypeA})
		return err == nil
	})
	return addr, stop
}

// dnstapSeen is what a test expects of the messages of one kind: some message of type typ asks
// name over proto.
type dnstapSeen struct{ typ, proto, name string }

// checkDnstap fails the test for each expectation no message meets.
func checkDnstap(t *testing.T, msgs []dnstest.DnstapMessage, wants []dnstapSeen) {
	t.Helper()
	for _, w := range wants {
		found := false
		for _, m := range msgs {
			text := m.Query
			if strings.HasSuffix(w.typ, "_RESPONSE") {
				text = m.Response
			}
			if m.Fields["type"] == w.typ && m.Fields["socket_protocol"] == w.proto && m.Fields["query_address"] != "" &&
				strings.Contains(strings.ToLower(text), ";"+w.name+"\t") {
				found = true
				break
			}
		}
		if !found {
			var types []string
			for _, m := range msgs {
				types = append(types, m.Fields["type"]+"/"+m.Fields["socket_protocol"])
			}
			t.Errorf("no %s over %s asking %s among %d messages: %v", w.typ, w.proto, w.name, len(msgs), types)
		}
	}
}

// TestDnstapAuthClientForwarder runs a server with a zone and a forwarded zone (knotd upstream)
// writing dnstap to fstrm_capture, asks with RD=0 and RD=1 over UDP and TCP, stops the server
// at once (what is queued must still be written), and reads the file with dnstap-read.
func TestDnstapAuthClientForwarder(t *testing.T) {
	knot := dnstest.StartKnot(t, dnstest.TestZones()[3:4]) // other.test.
	dir := t.TempDir()
	writeZone(t, filepath.Join(dir, "run.test.zone"), 1, "192.0.2.1")
	col := dnstest.StartCollector(t, dir, "server")
	addr, stop := runDnstapServer(t, dir, "127.0.9.10", `listen: [%q]
zones:
  - origin: run.test.
    file: run.test.zone
resolver:
  forward:
    - zone: other.test.
      upstreams: [`+fmt.Sprintf("%q", knot)+`]
control:
  socket: ""
reload:
  watch_interval: 0s
dnstap:
  socket: %s
  identity: dnstap-test
`, col)
	for _, q := range []dnstest.Query{
		{Name: "www.run.test.", Type: dns.TypeA},
		{Name: "www.run.test.", Type: dns.TypeAAAA, RD: true, TCP: true},
		{Name: "www.other.test.", Type: dns.TypeA, RD: true},
	} {
		if _, err := dnstest.Exchange(addr, q); err != nil {
			t.Fatalf("%v: %v", q, err)
		}
	}
	stop()
	col.Stop(t)
	msgs := dnstest.ReadDnstap(t, col.File)
	checkDnstap(t, msgs, []dnstapSeen{
		{"AUTH_QUERY", "UDP", "www.run.test."}, {"AUTH_RESPONSE", "UDP", "www.run.test."},
		{"CLIENT_QUERY", "TCP", "www.run.test."}, {"CLIENT_RESPONSE", "TCP", "www.run.test."},
		{"CLIENT_QUERY", "UDP", "www.other.test."}, {"CLIENT_RESPONSE", "UDP", "www.other.test."},
		{"FORWARDER_QUERY", "UDP", "www.other.test."}, {"FORWARDER_RESPONSE", "UDP", "www.other.test."},
	})
	for _, m := range msgs {
		if m.Identity != "dnstap-test" {
			t.Errorf("identity %q, want dnstap-test", m.Identity)
			break
		}
		if m.Fields["type"] == "FORWARDER_QUERY" && m.Fields["response_address"]+":"+m.Fields["response_port"] != knot {
			t.Errorf("FORWARDER_QUERY to %s:%s, want %s", m.Fields["response_address"], m.Fields["response_port"], knot)
		}
		// The forwarded zone is what the forwarder was asked about, as BIND fills query_zone.
		if strings.HasPrefix(m.Fields["type"], "FORWARDER_") && dnstapZone(m) != "other.test." {
			t.Errorf("%s query_zone %q, want other.test.", m.Fields["type"], m.Fields["query_zone"])
		}
		if !strings.HasPrefix(m.Fields["type"], "FORWARDER_") && m.Fields["query_zone"] != "" {
			t.Errorf("%s has query_zone %q: only upstream messages carry one", m.Fields["type"], m.Fields["query_zone"])
		}
	}
}

// dnstapZone is a message's query_zone as a lower-case name with its final dot, "" without one.
func dnstapZone(m dnstest.DnstapMessage) string {
	z := strings.ToLower(strings.Trim(m.Fields["query_zone"], `"`))
	if z != "" && !strings.HasSuffix(z, ".") {
		z += "."
	}
	return z
}

// dnstapQName is the name in the question of a message's query as dnstap-read prints it, lower
// case; "" when it has none.
func dnstapQName(m dnstest.DnstapMessage) string {
	text := m.Query
	if text == "" {
		text = m.Response
	}
	_, rest, ok := strings.Cut(text, ";; QUESTION SECTION:\n")
	if !ok {
		return ""
	}
	line, _, _ := strings.Cut(rest, "\n")
	name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), ";"), "\t")
	return strings.ToLower(name)
}

// TestDnstapResolver resolves a name through the lab's hierarchy: every step is a
// RESOLVER_QUERY and RESOLVER_RESPONSE, the last one asking the name itself.
func TestDnstapResolver(t *testing.T) {
	l := labtest.Start(t)
	dir := t.TempDir()
	writeZone(t, filepath.Join(dir, "run.test.zone"), 1, "192.0.2.1")
	write(t, filepath.Join(dir, "root.hints"), l.RootHints())
	col := dnstest.StartCollector(t, dir, "resolver")
	addr, stop := runDnstapServer(t, dir, "127.0.9.11", `listen: [%q]
zones:
  - origin: run.test.
    file: run.test.zone
resolver:
  root_hints: root.hints
control:
  socket: ""
reload:
  watch_interval: 0s
dnstap:
  socket: %s
`, col)
	m, err := dnstest.Exchange(addr, dnstest.Query{Name: "www.shop.example.", Type: dns.TypeA, RD: true})
	if err != nil || m.Rcode != dns.RcodeSuccess {
		t.Fatalf("www.shop.example.: %v %v", m, err)
	}
	stop()
	col.Stop(t)
	msgs := dnstest.ReadDnstap(t, col.File)
	checkDnstap(t, msgs, []dnstapSeen{
		{"CLIENT_QUERY", "UDP", "www.shop.example."}, {"CLIENT_RESPONSE", "UDP", "www.shop.example."},
		{"RESOLVER_QUERY", "UDP", "www.shop.example."}, {"RESOLVER_RESPONSE", "UDP", "www.shop.example."},
	})
	// Each upstream message names the zone cut its server was asked as (query_zone), as BIND and
	// Unbound do: the question lies within it, and the walk goes from the root to below it.
	zones := map[string]bool{}
	for _, m := range msgs {
		if !strings.HasPrefix(m.Fields["type"], "RESOLVER_") {
			continue
		}
		zone, qname := dnstapZone(m), dnstapQName(m)
		if zone == "" || qname == "" {
			t.Errorf("%s without query_zone or question: zone %q, name %q", m.Fields["type"], m.Fields["query_zone"], qname)
			continue
		}
		if zone != "." && qname != zone && !strings.HasSuffix(qname, "."+zone) {
			t.Errorf("%s asks %s of zone %s, which does not hold it", m.Fields["type"], qname, zone)
		}
		zones[zone] = true
	}
	if !zones["."] || len(zones) < 2 {
		t.Errorf("query_zone values %v: want the root and the zones below it", zones)
	}
}
