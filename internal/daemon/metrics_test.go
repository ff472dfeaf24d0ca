package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"warden/internal/config"
	"warden/internal/dnstest"
)

// metricsServer is a running server with the HTTP listener on, forwarding other.test. to knotd
// and applying one policy zone.
type metricsServer struct {
	dns, http string
	token     string
}

func startMetricsServer(t *testing.T) metricsServer {
	t.Helper()
	knot := dnstest.StartKnot(t, dnstest.TestZones()[3:4]) // other.test.
	dir := t.TempDir()
	port, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	hport, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := metricsServer{
		dns:   fmt.Sprintf("127.0.4.20:%d", port),
		http:  fmt.Sprintf("127.0.4.20:%d", hport),
		token: "metrics-test-token-0123456789",
	}
	writeZone(t, filepath.Join(dir, "run.test.zone"), 7, "192.0.2.1")
	rpz := "$TTL 60\n@ SOA ns.rpz.metrics. h.rpz.metrics. 1 3600 600 86400 60\n@ NS ns\nblocked.other.test CNAME .\n"
	write(t, filepath.Join(dir, "metrics.rpz"), rpz)
	write(t, filepath.Join(dir, "token"), s.token+"\n")
	cfgFile := filepath.Join(dir, "warden.yaml")
	write(t, cfgFile, fmt.Sprintf(`listen: [%q]
zones:
  - origin: run.test.
    file: run.test.zone
resolver:
  forward:
    - zone: other.test.
      upstreams: [%q]
policy:
  rpz:
    - origin: rpz.metrics.
      file: metrics.rpz
control:
  socket: ""
http:
  listen: [%q]
  token_file: token
reload:
  watch_interval: 0s
`, s.dns, knot, s.http))
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	logs := &dnstest.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Log: logTo(logs)}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	dnstest.WaitUntil(t, "the HTTP listener", func() bool {
		resp, err := http.Get("http://" + s.http + "/metrics")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	return s
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// scrape reads /metrics with Prometheus's own text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics does not parse: %v", err)
	}
	return families
}

// value returns the value of the series of family name whose labels include want, and whether
// there is one.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := families[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := len(labels) == len(want)
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func queries(rcode, qtype, transport, source string) map[string]string {
	return map[string]string{"rcode": rcode, "qtype": qtype, "transport": transport, "source": source}
}

// Every metric the issue lists is there from start-up, the labelled ones at 0 for each upstream,
// zone and rule set the server knows; after known queries over UDP and TCP, each count is exact.
func TestMetricsCountQueries(t *testing.T) {
	s := startMetricsServer(t)
	upstream := map[string]string{"upstream": ""}
	families := scrape(t, s.http)
	if f := families["warden_upstream_rtt_seconds"]; f == nil || len(f.GetMetric()) != 1 {
		t.Fatalf("warden_upstream_rtt_seconds: %v; want one series, the forwarder", f)
	} else {
		upstream["upstream"] = f.GetMetric()[0].GetLabel()[0].GetValue()
	}
	atStart := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"warden_queries_total", queries("NOERROR", "A", "udp", "authority"), 0},
		{"warden_queries_total", queries("NOERROR", "A", "tcp", "cache"), 0},
		{"warden_query_duration_seconds", nil, 0},
		{"warden_cache_hits_total", nil, 0},
		{"warden_cache_misses_total", nil, 0},
		{"warden_cache_entries", nil, 0},
		{"warden_cache_bytes", nil, 0},
		{"warden_upstream_rtt_seconds", upstream, 0},
		{"warden_upstream_errors_total", upstream, 0},
		{"warden_policy_hits_total", map[string]string{"set": "rpz.metrics."}, 0},
		{"warden_policy_shadow_hits_total", map[string]string{"set": "rpz.metrics."}, 0},
		{"warden_policy_set_suspended", map[string]string{"set": "rpz.metrics."}, 0},
		{"warden_zone_serial", map[string]string{"zone": "run.test."}, 7},
		{"warden_transfers_total", map[string]string{"zone": "run.test.", "kind": "axfr_out", "result": "success"}, 0},
		{"warden_transfers_total", map[string]string{"zone": "run.test.", "kind": "ixfr_out", "result": "failure"}, 0},
	}
	for _, m := range atStart {
		if got, ok := value(families, m.name, m.labels); !ok || got != m.want {
			t.Errorf("at start-up %s%v = %v (present %v); want %v", m.name, m.labels, got, ok, m.want)
		}
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if families[name] == nil {
			t.Errorf("no %s at start-up", name)
		}
	}

	ask := func(q dnstest.Query, wantRcode int) {
		t.Helper()
		m, err := dnstest.Exchange(s.dns, q)
		if err != nil {
			t.Fatalf("%s %s (tcp %v): %v", q.Name, dns.TypeToString[q.Type], q.TCP, err)
		}
		if int(m.Rcode) != wantRcode {
			t.Fatalf("%s %s: rcode %d; want %d", q.Name, dns.TypeToString[q.Type], m.Rcode, wantRcode)
		}
	}
	for range 3 {
		ask(dnstest.Query{Name: "www.run.test.", Type: dns.TypeA}, dns.RcodeSuccess)
	}
	for range 2 {
		ask(dnstest.Query{Name: "nope.run.test.", Type: dns.TypeAAAA}, dns.RcodeNameError)
		ask(dnstest.Query{Name: "www.run.test.", Type: dns.TypeA, TCP: true}, dns.RcodeSuccess)
	}
	ask(dnstest.Query{Name: "www.run.test.", Type: dns.TypeMX, TCP: true}, dns.RcodeSuccess)
	ask(dnstest.Query{Name: "www.run.test.", Type: 65280}, dns.RcodeSuccess) // a private type: "other"
	// A resolved answer is sent later, from the resolving goroutine; the second comes from the
	// cache. Then the policy answers for a blocked name before anything is looked up.
	ask(dnstest.Query{Name: "www.other.test.", Type: dns.TypeA, RD: true}, dns.RcodeSuccess)
	ask(dnstest.Query{Name: "www.other.test.", Type: dns.TypeA, RD: true}, dns.RcodeSuccess)
	ask(dnstest.Query{Name: "blocked.other.test.", Type: dns.TypeA, RD: true}, dns.RcodeNameError)
	// Over TCP the resolution runs on the connection's goroutine, and is timed all the same.
	ask(dnstest.Query{Name: "www.other.test.", Type: dns.TypeAAAA, RD: true, TCP: true}, dns.RcodeSuccess)
	// An EDNS version the server does not speak: BADVERS, from admission.
	m, err := dnstest.Exchange(s.dns, dnstest.Query{Name: "www.run.test.", Type: dns.TypeA, EDNS: true, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m.Rcode != dns.RcodeBadVers {
		t.Fatalf("EDNS version 1: rcode %d; want BADVERS", m.Rcode)
	}

	const answered = 14
	// The deferred answer is recorded just after it is sent; wait for the total, then read
	// everything from one scrape.
	dnstest.WaitUntil(t, "every answer counted", func() bool {
		n, _ := value(scrape(t, s.http), "warden_query_duration_seconds", nil)
		return n >= answered
	})
	families = scrape(t, s.http)
	for _, m := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"warden_queries_total", queries("NOERROR", "A", "udp", "authority"), 3},
		{"warden_queries_total", queries("NXDOMAIN", "AAAA", "udp", "authority"), 2},
		{"warden_queries_total", queries("NOERROR", "A", "tcp", "authority"), 2},
		{"warden_queries_total", queries("NOERROR", "MX", "tcp", "authority"), 1},
		{"warden_queries_total", queries("NOERROR", "other", "udp", "authority"), 1},
		{"warden_queries_total", queries("NOERROR", "A", "udp", "forward"), 1},
		{"warden_queries_total", queries("NOERROR", "A", "udp", "cache"), 1},
		{"warden_queries_total", queries("NXDOMAIN", "A", "udp", "policy"), 1},
		{"warden_queries_total", queries("BADVERS", "A", "udp", "local"), 1},
		{"warden_queries_total", queries("NOERROR", "AAAA", "tcp", "forward"), 1},
		{"warden_queries_total", queries("NOERROR", "A", "tcp", "cache"), 0},
		{"warden_query_duration_seconds", nil, answered},
		{"warden_cache_hits_total", nil, 1},
		{"warden_cache_misses_total", nil, 2},
		{"warden_cache_entries", nil, 2},
		{"warden_policy_hits_total", map[string]string{"set": "rpz.metrics."}, 1},
		{"warden_upstream_errors_total", upstream, 0},
	} {
		if got, ok := value(families, m.name, m.labels); !ok || got != m.want {
			t.Errorf("%s%v = %v (present %v); want %v", m.name, m.labels, got, ok, m.want)
		}
	}
	var total float64
	for _, m := range families["warden_queries_total"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	if total != answered {
		t.Errorf("warden_queries_total sums to %v; want %d", total, answered)
	}
	if rtt, _ := value(families, "warden_upstream_rtt_seconds", upstream); rtt <= 0 {
		t.Errorf("warden_upstream_rtt_seconds = %v after a forwarded answer; want the measured RTT", rtt)
	}
	if n, _ := value(families, "warden_cache_bytes", nil); n <= 0 {
		t.Errorf("warden_cache_bytes = %v with an entry cached", n)
	}
}

// /metrics needs no token; / and /api/ answer 401 without the token and 200 with it, in a
// header or as a parameter.
func TestHTTPListenerToken(t *testing.T) {
	s := startMetricsServer(t)
	get := func(path, auth string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+s.http+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, string(body)
	}
	for _, tt := range []struct {
		path, auth string
		want       int
		body       string
	}{
		{"/metrics", "", 200, "warden_queries_total"},
		{"/api/status", "", 401, "unauthorized"},
		{"/api/status", "Bearer wrong-token-0123456789", 401, "unauthorized"},
		{"/api/status?token=wrong", "", 401, "unauthorized"},
		{"/api/status", "Bearer " + s.token, 200, `"zones":{"total":1`},
		{"/api/status?token=" + s.token, "", 200, `"listeners":["` + s.dns + `"]`},
		{"/api/nothing", "", 401, "unauthorized"},
		{"/api/nothing", "Bearer " + s.token, 404, "no endpoint GET /api/nothing"},
		{"/", "", 401, "unauthorized"},
		{"/?token=" + s.token, "", 200, `api("/api/dashboard")`},
		{"/", "bearer " + s.token, 200, "<title>Warden</title>"},
		{"/api/dashboard", "Bearer " + s.token, 200, `"warden_queries_total":[`},
	} {
		status, body := get(tt.path, tt.auth)
		if status != tt.want || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s (Authorization %q): %d %.200s; want %d with %q", tt.path, tt.auth, status, body, tt.want, tt.body)
		}
	}
}
