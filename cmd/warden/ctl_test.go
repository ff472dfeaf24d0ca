package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"warden/internal/authority"
	"warden/internal/config"
	"warden/internal/control"
	"warden/internal/health"
	"warden/internal/pipeline"
	"warden/internal/policy"
	"warden/internal/policy/live"
	"warden/internal/rrl"
	"warden/internal/upstream"
	"warden/internal/wire"
)

// ctlZones is a zone manager of three zones: a primary, a secondary whose refresh raises its
// serial, and a secondary whose primary cannot be reached.
type ctlZones struct {
	mu    sync.Mutex
	zones []control.ZoneStatus
}

func newCtlZones(now time.Time) *ctlZones {
	return &ctlZones{zones: []control.ZoneStatus{
		{Zone: "example.com.", Role: "primary", Serial: 2026030101, Loaded: true, Records: 12, Source: "/etc/warden/example.com.zone"},
		{Zone: "sec.test.", Role: "secondary", Serial: 7, Loaded: true, Records: 5, Source: "192.0.2.1:53", Catalog: "catz.test.",
			LastRefresh: now.Add(-5 * time.Minute), NextRefresh: now.Add(55 * time.Minute), ExpiresAt: now.Add(7 * 24 * time.Hour), JournalFrom: 3},
		{Zone: "broken.test.", Role: "secondary", Source: "192.0.2.9:53", LastError: "192.0.2.9:53: connection refused"},
	}}
}

func (z *ctlZones) ZoneList() []control.ZoneStatus {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]control.ZoneStatus(nil), z.zones...)
}

func (z *ctlZones) Refresh(zone string) error    { return z.act(zone) }
func (z *ctlZones) Retransfer(zone string) error { return z.act(zone) }

func (z *ctlZones) act(zone string) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	for i := range z.zones {
		st := &z.zones[i]
		switch {
		case st.Zone != zone:
			continue
		case st.Role != "secondary":
			return control.ErrNotSecondary
		case st.LastError != "":
			return errors.New(st.LastError)
		}
		st.Serial++
		return nil
	}
	return control.ErrNoZone
}

const ctlToken = "ctl-test-token-0123456789abcdef"

// ctlServer serves deps on a Unix socket and on 127.0.0.1:0 behind ctlToken until the test ends,
// and returns the `warden ctl` flags that reach each.
func ctlServer(t *testing.T, deps control.Deps) (socket, http []string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "control.sock")
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, ctlToken+"\n")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	h := control.Handler(deps)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 2)
	go func() { served <- control.Serve(ctx, path, h, log) }()
	go func() { served <- control.ServeTCP(ctx, l, []byte(ctlToken), h, log) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-served; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	})
	waitFor(t, "the control socket", func() bool {
		c, err := net.Dial("unix", path)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return []string{"--control", path}, []string{"--url", "http://" + l.Addr().String(), "--token-file", tokenFile}
}

func newCtlGuard() *live.Guard {
	empty, _ := authority.New(nil)
	pipe := pipeline.NewPipeline(wire.Limits{}, &pipeline.Snapshot{Authority: empty})
	g := live.NewGuard(pipe, live.Config{Keep: 4}, slog.New(slog.DiscardHandler))
	_, _ = g.Put(live.Proposal{}, live.Change{Reason: "start", Force: true})
	return g
}

func ctlDeps() control.Deps {
	return control.Deps{
		Policy: newCtlGuard(),
		PolicyReload: func(force bool) (policy.Report, error) {
			if !force {
				return policy.Report{Names: 10, Changed: 5}, fmt.Errorf("%w: 5 of 10 names (50.00%%), the limit is 1%%", control.ErrTooBig)
			}
			return policy.Report{Names: 10, Changed: 5}, nil
		},
		Zones:       newCtlZones(time.Now()),
		Reload:      func(context.Context) (string, error) { return "reloaded: 3 zones", nil },
		Version:     "v-test",
		Started:     time.Now().Add(-90 * time.Minute),
		Listeners:   []string{"127.0.0.1:53", "[::1]:53"},
		RateLimiter: func() *rrl.Limiter { return ctlLimiter },
		Injections:  ctlInjections{},
	}
}

// ctlInjections shows two injections, as the resolver's Hold-On would after an injector forged
// the same name twice.
type ctlInjections struct{}

func (ctlInjections) Snapshot() upstream.Detections {
	return upstream.Detections{Total: 2,
		Servers: []upstream.DetectionCount{{Key: "198.18.43.2:53", Count: 2}},
		Names:   []upstream.DetectionCount{{Key: "blocked.test.", Count: 2}}}
}

// ctlLimiter is the limiter the test server shows.
var ctlLimiter = newCtlLimiter()

// newCtlLimiter is a limiter at 1 response a second with slip 2 that has seen 6 identical
// responses at once: 1 sent, 5 over the rate, 2 of them slipped.
func newCtlLimiter() *rrl.Limiter {
	l := rrl.New(rrl.Config{Rate: 1, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
	k := &rrl.Key{Client: netip.MustParseAddr("192.0.2.1"), Class: rrl.Error}
	now := time.Now()
	for range 6 {
		l.Check(k, now)
	}
	return l
}

type ctlCase struct {
	args       string
	code       int
	out, err   []string // what stdout and stderr must hold
	notOut     string   // what stdout must not hold
	outIsEmpty bool
}

func runCtl(t *testing.T, flags []string, tc ctlCase) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append(append([]string{"ctl"}, flags...), strings.Fields(tc.args)...), &out, &errb)
	if code != tc.code {
		t.Errorf("ctl %s: exit %d, want %d\nstdout: %s\nstderr: %s", tc.args, code, tc.code, out.String(), errb.String())
		return
	}
	for _, w := range tc.out {
		if !strings.Contains(out.String(), w) {
			t.Errorf("ctl %s: stdout\n%s\nwant it to hold %q", tc.args, out.String(), w)
		}
	}
	for _, w := range tc.err {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("ctl %s: stderr\n%s\nwant it to hold %q", tc.args, errb.String(), w)
		}
	}
	if tc.outIsEmpty && out.Len() > 0 {
		t.Errorf("ctl %s: stdout %q, want none", tc.args, out.String())
	}
}

// TestCtlCommands runs each command over the socket and over HTTP with the token.
func TestCtlCommands(t *testing.T) {
	for _, transport := range []string{"socket", "http"} {
		t.Run(transport, func(t *testing.T) {
			socket, http := ctlServer(t, ctlDeps())
			flags := map[string][]string{"socket": socket, "http": http}[transport]
			for _, tc := range []ctlCase{
				{args: "status", out: []string{"warden v-test, up 1h30m (since ", "listening on 127.0.0.1:53, [::1]:53\n",
					"zones: 3 (1 primary, 2 secondary); 1 not loaded, 1 failing\n", "policy: version 1 (start, since ", "), 0 rule sets\n",
					"rate limiting: 1 a second per key, slip 2; 3 dropped, 2 slipped (TC=1), 0 would be limited (log only); table 1 of 262144 keys\n",
					"injected replies detected (Hold-On): 2\n  from server 198.18.43.2:53: 2\n  for name blocked.test.: 2\n"}},
				{args: "status --json", out: []string{`"injections": {`, `"key": "blocked.test.",`}},
				{args: "status --json", out: []string{`"rate_limit": {`, `"dropped": 3,`, `"slipped": 2,`, `"capacity": 262144`}},
				{args: "status --json", out: []string{"{\n  \"version\": \"v-test\",\n", `"not_loaded": 1,`}},
				{args: "reload", out: []string{"reloaded: 3 zones\n"}},
				{args: "zone list", out: []string{
					"zone          role       serial      records  state       refreshed  next    source\n",
					"broken.test.  secondary  0           0        NOT LOADED  -          -       192.0.2.9:53\n",
					"example.com.  primary    2026030101  12       ok          -          -       /etc/warden/example.com.zone\n",
					"sec.test.     secondary  7           5        ok          5m ago     in 55m  192.0.2.1:53\n",
					"broken.test.: 192.0.2.9:53: connection refused\n"}},
				{args: "--json zone list", out: []string{"\"zones\": [\n", `"zone": "sec.test.",`, `"journal_from": 3`}, notOut: "next_refresh\": \"0001"},
				{args: "zone show SEC.TEST", out: []string{"zone          sec.test.\n", "catalog       catz.test.\n", "state         ok\n", "serial        7\n",
					" (5m ago)\n", " (in 55m)\n", " (in 7d)\n", "journal       from serial 3\n"}},
				{args: "zone show broken.test.", out: []string{"state       NOT LOADED\n", "last error  192.0.2.9:53: connection refused\n"}},
				{args: "zone show sec.test --json", out: []string{`"catalog": "catz.test.",`}},
				{args: "zone refresh sec.test", out: []string{"zone sec.test. refreshed: serial 8\n"}},
				{args: "zone retransfer sec.test.", out: []string{"zone sec.test. transferred: serial 9\n"}},
				{args: "--json zone refresh sec.test", out: []string{`"message": "zone sec.test. refreshed: serial 10"`, `"serial": 10`}},
				{args: "policy status", out: []string{"policy version 1 (start, since ", "rule set  rules  hits  state\n"}},
				{args: "policy status --json", out: []string{`"reason": "start"`}},
				{args: "policy reload", code: 1, out: []string{"5 of 10 names"}, err: []string{"warden ctl: policy change refused: it would change too many answers: 5 of 10 names (50.00%), the limit is 1%\n"}},
				{args: "policy reload --force", out: []string{"policy reloaded\n"}},

				{args: "zone show nope.test", code: 1, err: []string{"warden ctl: zone nope.test.: no such zone is served\n"}, outIsEmpty: true},
				{args: "zone refresh nope.test", code: 1, err: []string{"warden ctl: refresh zone nope.test.: no such zone is served\n"}},
				{args: "zone refresh example.com", code: 1, err: []string{"warden ctl: refresh zone example.com.: the zone is not a secondary"}},
				{args: "zone retransfer broken.test", code: 1, err: []string{"warden ctl: retransfer zone broken.test.: 192.0.2.9:53: connection refused\n"}},
				{args: "policy rollback", code: 1, err: []string{"warden ctl: no earlier policy version"}},
				{args: "policy resume rpz.none.", code: 1, err: []string{`warden ctl: no rule set of that name in force: "rpz.none."`}},
				{args: "zone show a..test", code: 2, err: []string{`warden ctl zone show: zone name "a..test" has an empty label`}},
				{args: "bogus", code: 2, err: []string{"warden ctl: unknown command \"bogus\"\nRun 'warden ctl --help' for usage.\n"}, outIsEmpty: true},
				{args: "zone", code: 2, err: []string{`unknown command "zone" (did you mean zone ds?)`, "warden ctl --help"}},
				{args: "zone show", code: 2, err: []string{`unknown command "zone show"`}},
				{args: "zone show a b", code: 2, err: []string{`unknown command "zone show a b"`}},
				{args: "policy resume", code: 2, err: []string{"warden ctl policy resume: say which rule set"}},
				{args: "policy frob", code: 2, err: []string{`warden ctl: unknown policy action "frob"`}},
				{args: "zone list --force", code: 2, err: []string{"--force goes only with policy reload"}},
				{args: "status --nope", code: 2, err: []string{"warden ctl: unknown flag --nope\n", "warden ctl --help"}},
				{args: "stauts", code: 2, err: []string{`unknown command "stauts" (did you mean status?)`}},
				{args: "status --jsn", code: 2, err: []string{"unknown flag --jsn (did you mean --json?)"}},
			} {
				runCtl(t, flags, tc)
			}
		})
	}
}

func TestCtlErrors(t *testing.T) {
	socket, http := ctlServer(t, control.Deps{Version: "v-bare"})
	dir := t.TempDir()
	url, tokenFile := http[1], http[3]
	wrong := filepath.Join(dir, "wrong")
	writeFile(t, wrong, "not-the-token-but-long-enough\n")
	short := filepath.Join(dir, "short")
	writeFile(t, short, "short\n")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	missing := filepath.Join(dir, "control.sock")

	for _, tc := range []struct {
		flags []string
		ctlCase
	}{
		{socket, ctlCase{args: "status", out: []string{"warden v-bare", "zones: this server has no zone manager\n", "policy: this server has no policy guard\n", "rate limiting: off\n"}}},
		{socket, ctlCase{args: "zone list", code: 1, err: []string{"warden ctl: this server was started without a zone manager: no zone control\n"}}},
		{http, ctlCase{args: "reload", code: 1, err: []string{"warden ctl: this control interface cannot reload the server; send it SIGHUP\n"}}},
		{http, ctlCase{args: "policy status", code: 1, err: []string{"without a policy guard"}}},
		{[]string{"--control", missing}, ctlCase{args: "status", code: 2,
			err: []string{"warden ctl: cannot reach warden at " + missing + ": no such file — is `warden serve` running with control enabled?\n"}}},
		{[]string{"--url", closed, "--token-file", tokenFile}, ctlCase{args: "zone list", code: 2,
			err: []string{"warden ctl: cannot reach warden at " + closed + ": connection refused — is `warden serve` running with control enabled?\n"}}},
		{[]string{"--url", url, "--token-file", wrong}, ctlCase{args: "status", code: 1, err: []string{"warden ctl: the control token was refused\n"}, outIsEmpty: true}},
		{[]string{"--url", url, "--token-file", short}, ctlCase{args: "status", code: 2, err: []string{"warden ctl: --token-file: " + short + ": the token is 5 bytes; want at least 16"}}},
		{[]string{"--url", url, "--token-file", filepath.Join(dir, "none")}, ctlCase{args: "status", code: 2, err: []string{"warden ctl: --token-file: stat " + filepath.Join(dir, "none") + ": no such file"}}},
		{[]string{"--url", url}, ctlCase{args: "status", code: 2, err: []string{"warden ctl: --url needs --token-file"}}},
		{[]string{"--token-file", tokenFile}, ctlCase{args: "status", code: 2, err: []string{"warden ctl: --token-file goes with --url"}}},
		{append(socket, http...), ctlCase{args: "status", code: 2, err: []string{"warden ctl: give --control or --url, not both"}}},
		{[]string{"--url", "127.0.0.1:8953", "--token-file", tokenFile}, ctlCase{args: "status", code: 2, err: []string{`warden ctl: control URL "127.0.0.1:8953"`}}},
		{nil, ctlCase{args: "", code: 2, err: []string{"warden ctl: say which command\nRun 'warden ctl --help' for usage.\n"}}},
		{nil, ctlCase{args: "help", out: []string{"Usage: warden ctl", "zone retransfer ZONE"}}},
		{nil, ctlCase{args: "--help", out: []string{"Usage: warden ctl"}}},
	} {
		runCtl(t, tc.flags, tc.ctlCase)
	}
}

// `warden policy` keeps working as before, over the same code.
func TestPolicyCommandStillWorks(t *testing.T) {
	socket, _ := ctlServer(t, ctlDeps())
	var out, errb bytes.Buffer
	if code := run([]string{"policy", "status", "--control", socket[1]}, &out, &errb); code != 0 || !strings.Contains(out.String(), "policy version 1 (start") {
		t.Fatalf("policy status: exit %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"policy", "reload", "--control", socket[1], "--force"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "policy reloaded") {
		t.Fatalf("policy reload --force: exit %d\n%s%s", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := run([]string{"policy", "rollback", "--control", socket[1]}, &out, &errb); code != 1 || !strings.HasPrefix(errb.String(), "warden policy: no earlier policy version") {
		t.Fatalf("policy rollback: exit %d: %q", code, errb.String())
	}
}

// The server started from a configuration with control.http answers `warden ctl --url` with
// the token, and refuses a wrong one.
func TestServeControlHTTP(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(ctlToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(dir, "wrong")
	writeFile(t, wrong, "not-the-token-but-long-enough\n")
	ctl := freePort(t) // a UDP port found free; TCP on it is as likely free, and checked below
	dnsAddr := freePort(t)
	cfgPath := filepath.Join(dir, "warden.yaml")
	writeFile(t, cfgPath, fmt.Sprintf("listen: [%q]\nzones: []\ncontrol:\n  socket: \"\"\n  http: {listen: %q, token_file: token}\n", dnsAddr, ctl))
	f := &commonFlags{config: cfgPath}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, f, cfg)
	flags := []string{"--url", "http://" + ctl, "--token-file", tokenFile}
	waitFor(t, "the control listener", func() bool {
		var out, errb bytes.Buffer
		return run(append(append([]string{"ctl"}, flags...), "status"), &out, &errb) == 0
	})
	runCtl(t, flags, ctlCase{args: "status", out: []string{"listening on " + dnsAddr + "\n", "zones: 0 (0 primary, 0 secondary)\n", "policy: version "}})
	runCtl(t, []string{"--url", "http://" + ctl, "--token-file", wrong}, ctlCase{args: "status", code: 1, err: []string{"the control token was refused"}})
}

// `warden policy status` shows the rules suspended in a set still in force, in its state column.
func TestPrintStatusSuspendedRules(t *testing.T) {
	var b strings.Builder
	printStatus(&b, live.Status{Version: 2, Reason: "reload", Sets: []live.RuleSetStatus{
		{Name: "rpz.local.", Rules: 1, Hits: 9},
		{Name: "rpz.push.", Rules: 3, Hits: 1319, SuspendedRules: []string{"*."}},
		{Name: "rpz.bad.", Rules: 2, Hits: 7, Suspended: true},
	}, Alarms: []string{"rule *. of rule set rpz.push. suspended at ..."}})
	for _, want := range []string{
		"rpz.local.  1      9     in force\n",
		"rpz.push.   3      1319  in force, SUSPENDED: *.\n",
		"rpz.bad.    2      7     SUSPENDED\n",
		"ALARM: rule *. of rule set rpz.push. suspended at ...\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}

// `warden ctl status` lists the problems with their start times and counts; `zone show` of a
// zone that never loaded says nothing is served.
func TestPrintProblems(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.Local)
	since := now.Add(-130 * time.Second)
	var b strings.Builder
	printServerStatus(&b, control.Status{Version: "v", Problems: []health.Problem{
		{Kind: "upstream", Subject: "192.0.2.53:53", Since: since, Failures: 31, LastError: "upstream: timeout"},
		{Kind: "blocklist", Subject: "ads", Since: since, Failures: 1, LastError: "ads.txt: no entries"},
	}}, now)
	for _, want := range []string{
		"problems: 2\n",
		"PROBLEM: upstream 192.0.2.53:53: failing since " + stamp(since) + " (2m ago), 31 failures: upstream: timeout\n",
		"PROBLEM: blocklist ads: failing since " + stamp(since) + " (2m ago), 1 failure: ads.txt: no entries\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
	b.Reset()
	printServerStatus(&b, control.Status{Version: "v"}, now)
	if !strings.Contains(b.String(), "problems: none\n") {
		t.Errorf("no problems: none in\n%s", b.String())
	}
	b.Reset()
	printZone(&b, control.ZoneStatus{Zone: "new.test.", Role: "primary", LastError: "new.zone:1: no SOA", ErrorSince: since, Failures: 2}, now)
	for _, want := range []string{"state       NOT LOADED\n", "since       " + stamp(since) + " (2m ago), 2 failures\n", "served      nothing: no version has loaded (SERVFAIL)\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}
