package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/config"
	"warden/internal/control"
	"warden/internal/dnstest"
	"warden/internal/health"
)

// healthServer is a Warden run by a test, logging JSON, with its control socket.
type healthServer struct {
	dns  string
	logs *dnstest.SyncBuffer
	ctl  *control.Client
}

// startHealthServer runs a server on ip with the configuration text cfgText (which %s places
// the DNS address and the control socket into, in that order) from dir, until the test ends.
func startHealthServer(t *testing.T, dir, ip, cfgText string) *healthServer {
	t.Helper()
	port, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &healthServer{dns: fmt.Sprintf("%s:%d", ip, port), logs: &dnstest.SyncBuffer{}}
	socket := filepath.Join(dir, "control.sock")
	cfgFile := filepath.Join(dir, "warden.yaml")
	write(t, cfgFile, fmt.Sprintf(cfgText, s.dns, socket))
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	go func() {
		done <- Run(ctx, cfg, Options{Log: log, Reread: func() (*config.Config, error) { return config.Load(cfgFile) }})
	}()
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
			t.Logf("server log:\n%s", s.logs.String())
		}
	})
	s.ctl = control.NewClient(socket)
	waitUntil(t, "the control socket", 10*time.Second, func() bool { return s.ctl.Do(http.MethodGet, "/status", nil) == nil })
	return s
}

// lines parses the server's log so far.
func (s *healthServer) lines(t *testing.T) []dnstest.LogLine {
	t.Helper()
	lines, err := dnstest.ParseLog(s.logs.String())
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// problems is the server's list of problems, from GET /status.
func (s *healthServer) problems(t *testing.T) []health.Problem {
	t.Helper()
	var st control.Status
	if err := s.ctl.Do(http.MethodGet, "/status", &st); err != nil {
		t.Fatal(err)
	}
	return st.Problems
}

// problem returns the problem of kind for subject, if the server has one.
func (s *healthServer) problem(t *testing.T, kind health.Kind, subject string) (health.Problem, bool) {
	t.Helper()
	ps := s.problems(t)
	i := slices.IndexFunc(ps, func(p health.Problem) bool { return p.Kind == kind.Name && p.Subject == subject })
	if i < 0 {
		return health.Problem{}, false
	}
	return ps[i], true
}

// expectOnce checks that the log holds exactly one start and one end line for subject's trouble
// of kind, the end line counting at least minFailures; it returns the end line.
func (s *healthServer) expectOnce(t *testing.T, kind health.Kind, subject string, minFailures int) dnstest.LogLine {
	t.Helper()
	return s.expectOnceFrom(t, 0, kind, subject, minFailures)
}

// expectOnceFrom is expectOnce over the log lines from the from'th on, for a test whose set-up may
// already have had a trouble of the same kind come and go before the one it causes.
func (s *healthServer) expectOnceFrom(t *testing.T, from int, kind health.Kind, subject string, minFailures int) dnstest.LogLine {
	t.Helper()
	lines := s.lines(t)[from:]
	starts := dnstest.Matching(lines, kind.Started, kind.Subject, subject)
	ends := dnstest.Matching(lines, kind.Ended, kind.Subject, subject)
	if len(starts) != 1 || len(ends) != 1 {
		t.Fatalf("%d %q lines and %d %q lines for %s, want one each", len(starts), kind.Started, len(ends), kind.Ended, subject)
	}
	if n, err := strconv.Atoi(ends[0]["failures"]); err != nil || n < minFailures {
		t.Errorf("end line counts %q failures, want at least %d: %v", ends[0]["failures"], minFailures, ends[0])
	}
	if _, err := time.ParseDuration(ends[0]["lasted"]); err != nil {
		t.Errorf("end line's lasted %q: %v", ends[0]["lasted"], err)
	}
	if ends[0]["level"] != "INFO" || starts[0]["level"] != "ERROR" || starts[0]["err"] == "" {
		t.Errorf("levels or error of the lines: %v, %v", starts[0], ends[0])
	}
	return ends[0]
}

func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rcodeOf asks addr name (type A, RD=1) and returns the rcode, -1 when nothing came back.
func rcodeOf(addr, name string) int {
	m, err := dnstest.Exchange(addr, dnstest.Query{Name: name, Type: dns.TypeA, RD: true})
	if err != nil {
		return -1
	}
	return int(m.Rcode)
}

// TestForwarderOutageLoggedOnce: a forwarder (a real unbound) that is stopped while queries keep
// coming is logged as stopped once and as answering again once, with the failures between
// counted, and is listed by GET /status (what `ctl status` and /api/status show) while it is down.
func TestForwarderOutageLoggedOnce(t *testing.T) {
	up, upAddr := dnstest.StartUnboundOutage(t, "127.0.32.10", "fwd.test.", []string{"www.fwd.test. 300 IN A 192.0.2.7"})
	dir := t.TempDir()
	hport, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	api := fmt.Sprintf("http://127.0.32.11:%d/api/status", hport)
	s := startHealthServer(t, dir, "127.0.32.11", `listen: [%q]
http:
  listen: ["127.0.32.11:`+strconv.Itoa(hport)+`"]
resolver:
  timeout: 400ms
  forward:
    - zone: fwd.test.
      upstreams: [`+strconv.Quote(upAddr)+`]
control:
  socket: %s
reload:
  watch_interval: 0s
`)
	ask := func(i int) int { return rcodeOf(s.dns, fmt.Sprintf("n%d.fwd.test.", i)) }
	n := 0
	for range 20 {
		if rc := ask(n); rc != dns.RcodeNameError {
			t.Fatalf("query %d with the forwarder up: rcode %d, want NXDOMAIN", n, rc)
		}
		n++
	}
	if ps := s.problems(t); len(ps) != 0 {
		t.Fatalf("problems with everything up: %+v", ps)
	}

	up.Stop()
	for range 30 {
		if rc := ask(n); rc != dns.RcodeServerFailure {
			t.Errorf("query %d with the forwarder down: rcode %d, want SERVFAIL", n, rc)
		}
		n++
	}
	p, ok := s.problem(t, health.Upstream, upAddr)
	if !ok || p.Failures < 2 || p.LastError == "" || time.Since(p.Since) > time.Minute {
		t.Fatalf("status while the forwarder is down: %+v", s.problems(t))
	}
	// The HTTP API shows the same list.
	resp, err := http.Get(api)
	if err != nil {
		t.Fatal(err)
	}
	var fromAPI control.Status
	err = json.NewDecoder(resp.Body).Decode(&fromAPI)
	resp.Body.Close()
	if err != nil || len(fromAPI.Problems) != 1 || fromAPI.Problems[0].Subject != upAddr || !fromAPI.Problems[0].Since.Equal(p.Since) {
		t.Errorf("/api/status while the forwarder is down: %+v, %v", fromAPI.Problems, err)
	}

	up.Start()
	waitUntil(t, "an answer through the forwarder again", 10*time.Second, func() bool { n++; return ask(n) == dns.RcodeNameError })
	for range 20 {
		n++
		if rc := ask(n); rc != dns.RcodeNameError {
			t.Fatalf("query %d with the forwarder back: rcode %d", n, rc)
		}
	}
	if ps := s.problems(t); len(ps) != 0 {
		t.Errorf("problems after the forwarder came back: %+v", ps)
	}
	s.expectOnce(t, health.Upstream, upAddr, 2)
}

// TestZoneFileBrokenThenMended: a zone file broken and reloaded again and again is logged once,
// is listed with its error and since when, and its last good version goes on serving; mended, it
// is logged once more and the problem is gone. A zone added by a reload whose file does not
// load is listed too, as not served.
func TestZoneFileBrokenThenMended(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "run.test.zone")
	writeZone(t, file, 1, "192.0.2.1")
	cfgText := `listen: [%q]
zones:
  - origin: run.test.
    file: run.test.zone
control:
  socket: %s
reload:
  watch_interval: 0s
`
	s := startHealthServer(t, dir, "127.0.32.12", cfgText)
	waitAnswer(t, s.dns, "192.0.2.1")

	// Each reload finds the file changed, and broken again: five attempts. (A reload that finds
	// it unchanged does not read it again, and counts for nothing.)
	for i := range 5 {
		write(t, file, fmt.Sprintf("$ORIGIN run.test.\nwww 300 IN A 192.0.2.%d\n", 90+i))
		if err := s.ctl.Do(http.MethodPost, "/reload", nil); err == nil {
			t.Fatal("a reload with a broken zone file succeeded")
		}
	}
	if err := s.ctl.Do(http.MethodPost, "/reload", nil); err == nil {
		t.Fatal("a reload with the broken zone file unchanged succeeded")
	}
	if got := answerOf(t, s.dns); got != "192.0.2.1" {
		t.Errorf("while the file is broken www.run.test. is %q, want the last good 192.0.2.1", got)
	}
	p, ok := s.problem(t, health.ZoneFile, "run.test.")
	if !ok || p.Failures != 5 {
		t.Fatalf("status with a broken zone file: %+v", s.problems(t))
	}
	var zs control.ZoneStatus
	if err := s.ctl.Do(http.MethodGet, control.ZonePath("run.test."), &zs); err != nil {
		t.Fatal(err)
	}
	if !zs.Loaded || zs.Serial != 1 || zs.LastError == "" || !zs.ErrorSince.Equal(p.Since) || zs.Failures != 5 {
		t.Errorf("zone show with a broken file: %+v", zs)
	}

	writeZone(t, file, 2, "192.0.2.2")
	if err := s.ctl.Do(http.MethodPost, "/reload", nil); err != nil {
		t.Fatalf("reload with the file mended: %v", err)
	}
	waitAnswer(t, s.dns, "192.0.2.2")
	if ps := s.problems(t); len(ps) != 0 {
		t.Errorf("problems after the mend: %+v", ps)
	}
	s.expectOnce(t, health.ZoneFile, "run.test.", 5)

	// A zone new to a reload, broken from the start.
	write(t, filepath.Join(dir, "new.zone"), "not a zone file\n")
	cfgText = strings.Replace(cfgText, "control:", "  - origin: new.test.\n    file: new.zone\ncontrol:", 1)
	write(t, filepath.Join(dir, "warden.yaml"), fmt.Sprintf(cfgText, s.dns, filepath.Join(dir, "control.sock")))
	if err := s.ctl.Do(http.MethodPost, "/reload", nil); err == nil {
		t.Fatal("a reload adding a broken zone succeeded")
	}
	if err := s.ctl.Do(http.MethodGet, control.ZonePath("new.test."), &zs); err != nil {
		t.Fatalf("zone show of a zone that never loaded: %v", err)
	}
	if zs.Loaded || zs.LastError == "" || zs.ErrorSince.IsZero() {
		t.Errorf("zone show of a zone that never loaded: %+v", zs)
	}
	if _, ok := s.problem(t, health.ZoneFile, "new.test."); !ok {
		t.Errorf("status does not list the zone that never loaded: %+v", s.problems(t))
	}
	if got := answerOf(t, s.dns); got != "192.0.2.2" {
		t.Errorf("the other zone after the failed addition: %q", got)
	}
}

// TestBlocklistBrokenOnRefresh: a blocklist file that stops parsing keeps its previous version
// in force, is logged once however often it is tried again, and listed; mended, it is logged
// once more.
func TestBlocklistBrokenOnRefresh(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "ads.txt")
	write(t, list, "0.0.0.0 ads.example.\n")
	s := startHealthServer(t, dir, "127.0.32.13", `listen: [%q]
resolver:
  forward:
    - zone: unused.test.
      upstreams: ["127.0.32.250:9"]
policy:
  blocklists:
    - name: ads
      source: ads.txt
      refresh: 100ms
control:
  socket: %s
reload:
  watch_interval: 0s
`)
	waitUntil(t, "the blocklist in force", 10*time.Second, func() bool { return rcodeOf(s.dns, "ads.example.") == dns.RcodeNameError })

	// A list whose size or time changes is read again on every refresh; each read fails.
	for i := range 5 {
		write(t, list, fmt.Sprintf("<html>%d</html>\n", i))
		future := time.Now().Add(time.Duration(i+1) * time.Second)
		if err := os.Chtimes(list, future, future); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	waitUntil(t, "the broken list in status", 10*time.Second, func() bool { _, ok := s.problem(t, health.Blocklist, "ads"); return ok })
	if rc := rcodeOf(s.dns, "ads.example."); rc != dns.RcodeNameError {
		t.Errorf("while the list is broken ads.example. gets rcode %d, want the previous list's NXDOMAIN", rc)
	}
	write(t, list, "# mended\n0.0.0.0 ads.example.\n")
	future := time.Now().Add(10 * time.Second)
	if err := os.Chtimes(list, future, future); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the problem gone", 10*time.Second, func() bool { _, ok := s.problem(t, health.Blocklist, "ads"); return !ok })
	if rc := rcodeOf(s.dns, "ads.example."); rc != dns.RcodeNameError {
		t.Errorf("with the list mended ads.example. gets rcode %d, want NXDOMAIN", rc)
	}
	s.expectOnce(t, health.Blocklist, "ads", 5)
}

// TestSecondaryPrimaryGoneLoggedOnce: a secondary whose primary (a real knotd) goes away logs the
// failing refresh once however often it is retried, shows it in GET /status and in its zone's
// status with the copy in force, and logs once more when the primary is back.
func TestSecondaryPrimaryGoneLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	zoneFile := filepath.Join(dir, "primary.zone")
	write(t, zoneFile, "$ORIGIN sec.test.\n$TTL 300\n@ SOA ns hostmaster 7 2 2 3600 60\n@ NS ns\nns A 192.0.2.53\nwww A 192.0.2.77\n")
	primary, primaryAddr := dnstest.StartKnotOutage(t, "127.0.32.20", 0, []dnstest.Zone{{Origin: "sec.test.", File: zoneFile}})
	s := startHealthServer(t, dir, "127.0.32.21", `listen: [%q]
storage: `+filepath.Join(dir, "storage")+`
zones:
  - origin: sec.test.
    primaries: [`+strconv.Quote(primaryAddr)+`]
control:
  socket: %s
reload:
  watch_interval: 0s
`)
	ask := func() string {
		m, err := dnstest.Exchange(s.dns, dnstest.Query{Name: "www.sec.test.", Type: dns.TypeA})
		if err != nil || len(m.Answer) == 0 {
			return ""
		}
		return m.Answer[0].(*dns.A).A.Addr.String()
	}
	waitUntil(t, "the first transfer", 10*time.Second, func() bool { return ask() == "192.0.2.77" })
	// On a loaded machine the secondary's first refresh can come before knotd serves the zone:
	// that trouble starts and ends before this test's own, so only the lines after here count.
	waitUntil(t, "no problems once transferred", 10*time.Second, func() bool { return len(s.problems(t)) == 0 })
	mark := len(s.lines(t))

	primary.Stop()
	refresh := control.ZonePath("sec.test.") + "/refresh"
	// Requests that come while a refresh runs share its outcome: ask until three have failed.
	var p health.Problem
	for i := 0; p.Failures < 3; i++ {
		if i == 20 {
			t.Fatalf("status after 20 refreshes with the primary gone: %+v", s.problems(t))
		}
		if err := s.ctl.Do(http.MethodPost, refresh, nil); err == nil {
			t.Fatal("a refresh with the primary gone succeeded")
		}
		p, _ = s.problem(t, health.ZoneTransfer, "sec.test.")
	}
	var zs control.ZoneStatus
	if err := s.ctl.Do(http.MethodGet, control.ZonePath("sec.test."), &zs); err != nil {
		t.Fatal(err)
	}
	if !zs.Loaded || zs.Expired || zs.Serial != 7 || zs.LastError == "" || !zs.ErrorSince.Equal(p.Since) || zs.Failures < 3 {
		t.Errorf("zone show with the primary gone: %+v", zs)
	}
	if got := ask(); got != "192.0.2.77" {
		t.Errorf("the copy in force while the primary is gone answers %q", got)
	}

	primary.Start()
	waitUntil(t, "a refresh with the primary back", 10*time.Second, func() bool { return s.ctl.Do(http.MethodPost, refresh, nil) == nil })
	if ps := s.problems(t); len(ps) != 0 {
		t.Errorf("problems with the primary back: %+v", ps)
	}
	s.expectOnceFrom(t, mark, health.ZoneTransfer, "sec.test.", 3)
}

// TestPolicyZoneBrokenOnReload: a policy zone file broken before reloads keeps the policy in
// force, is logged once and listed for as long as it stays broken; mended, it is logged once
// more.
func TestPolicyZoneBrokenOnReload(t *testing.T) {
	dir := t.TempDir()
	rpz := filepath.Join(dir, "block.rpz")
	good := "$TTL 60\n@ SOA ns.rpz.block. h.rpz.block. 1 3600 600 86400 60\n@ NS ns\nblocked.example CNAME .\n"
	write(t, rpz, good)
	s := startHealthServer(t, dir, "127.0.32.14", `listen: [%q]
resolver:
  forward:
    - zone: unused.test.
      upstreams: ["127.0.32.250:9"]
policy:
  rpz:
    - origin: rpz.block.
      file: block.rpz
control:
  socket: %s
reload:
  watch_interval: 0s
`)
	if rc := rcodeOf(s.dns, "blocked.example."); rc != dns.RcodeNameError {
		t.Fatalf("blocked.example. gets rcode %d with the policy in force, want NXDOMAIN", rc)
	}
	for i := range 3 {
		write(t, rpz, fmt.Sprintf("$TTL 60\nblocked.example CNAME . ; no SOA, try %d\n", i))
		if err := s.ctl.Do(http.MethodPost, "/reload", nil); err == nil {
			t.Fatal("a reload with a broken policy zone succeeded")
		}
	}
	if p, ok := s.problem(t, health.PolicyLoad, "rpz.block."); !ok || p.Failures != 3 || p.LastError == "" {
		t.Fatalf("status with the policy zone broken: %+v", s.problems(t))
	}
	if rc := rcodeOf(s.dns, "blocked.example."); rc != dns.RcodeNameError {
		t.Errorf("blocked.example. gets rcode %d while the new policy zone is broken, want the running policy's NXDOMAIN", rc)
	}
	write(t, rpz, strings.Replace(good, " 1 3600", " 2 3600", 1))
	if err := s.ctl.Do(http.MethodPost, "/reload", nil); err != nil {
		t.Fatalf("reload with the policy zone mended: %v", err)
	}
	if ps := s.problems(t); len(ps) != 0 {
		t.Errorf("problems after the mend: %+v", ps)
	}
	s.expectOnce(t, health.PolicyLoad, "rpz.block.", 3)
}

// TestResolverOutageLoggedOnce: when the only root server (a real knotd on port 53) does not
// answer at all, the resolver's outage is logged once, after 10 s of nothing but failures, and
// listed; when the server is back, the first answer ends it.
func TestResolverOutageLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	const root = "127.0.32.200"
	write(t, filepath.Join(dir, "root.hints"), ". 3600000 NS a.root.test.\na.root.test. 3600000 A "+root+"\n")
	rootZone := filepath.Join(dir, "root.zone")
	write(t, rootZone, "$TTL 300\n. SOA a.root.test. h.root.test. 1 3600 600 86400 60\n. NS a.root.test.\na.root.test. A "+root+"\nwww.example. A 192.0.2.80\n")
	s := startHealthServer(t, dir, "127.0.32.15", `listen: [%q]
resolver:
  root_hints: root.hints
  timeout: 2s
control:
  socket: %s
reload:
  watch_interval: 0s
`)
	start := time.Now()
	n := 0
	waitUntil(t, "the outage in status", 30*time.Second, func() bool {
		n++
		if rc := rcodeOf(s.dns, fmt.Sprintf("n%d.example.", n)); rc != dns.RcodeServerFailure {
			t.Fatalf("query %d with no root server: rcode %d, want SERVFAIL", n, rc)
		}
		_, ok := s.problem(t, health.Resolution, "authoritative servers")
		return ok
	})
	if took := time.Since(start); took < 10*time.Second {
		t.Errorf("the outage was declared after %v, before 10 s of silence", took)
	}
	dnstest.StartKnotOutage(t, root, 53, []dnstest.Zone{{Origin: ".", File: rootZone}})
	waitUntil(t, "an answer with the root server up", 10*time.Second, func() bool { return rcodeOf(s.dns, "www.example.") == dns.RcodeSuccess })
	if ps := s.problems(t); len(ps) != 0 {
		t.Errorf("problems with the root server up: %+v", ps)
	}
	s.expectOnce(t, health.Resolution, "authoritative servers", 1)
}
