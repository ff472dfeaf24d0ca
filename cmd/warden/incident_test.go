package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/control"
	"warden/internal/dnstest"
	"warden/internal/health"
	"warden/internal/policy/live"
)

// The outage Warden exists to prevent, end to end: a policy that sends every name outside .cn to
// one address is (a) refused by `warden check` with the share of names it would change, and (b)
// when forced live under load, caught by the circuit breaker at its default settings, which
// suspends the bad rules and not their set: real answers are back within 3 s of the change going
// live, the malware block in the same set keeps blocking, the other policy keeps working, the
// alarm names the rules in the log, the status and the metrics, and a rollback restores the
// previous version.

const incidentTLDs = `$TTL 300
@ SOA ns.%[1]s h.%[1]s 1 3600 600 86400 300
@ NS ns.%[1]s
ns A 127.0.0.1
`

// incidentZones writes a .com and a .cn zone with hosts h0..h99 (www at 192.0.2.x for .com,
// 198.51.100.x for .cn) and returns them with the names people ask.
func incidentZones(t *testing.T, dir string) ([]dnstest.Zone, []string) {
	var zones []dnstest.Zone
	var names []string
	for _, tld := range []string{"com.", "cn."} {
		var b strings.Builder
		fmt.Fprintf(&b, incidentTLDs, tld)
		net := "192.0.2."
		if tld == "cn." {
			net = "198.51.100."
		}
		for i := range 100 {
			fmt.Fprintf(&b, "h%d.shop A %s%d\n", i, net, i+1)
			names = append(names, fmt.Sprintf("h%d.shop.%s", i, tld))
		}
		file := filepath.Join(dir, strings.TrimSuffix(tld, ".")+".zone")
		writeFile(t, file, b.String())
		zones = append(zones, dnstest.Zone{Origin: tld, File: file})
	}
	return zones, names
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

const localRPZ = `$TTL 60
@ SOA ns.rpz.local. h.rpz.local. 1 3600 600 86400 60
@ NS ns.rpz.local.
h13.shop.com.rpz.local. CNAME .
`

// The bad rule: every name to one address, except names under cn; beside a good one, the block of
// a malware name asked for all along.
const pushRPZ = `$TTL 60
@ SOA ns.rpz.push. h.rpz.push. 1 3600 600 86400 60
@ NS ns.rpz.push.
malware.example.rpz.push. CNAME .
*.rpz.push. A 198.18.0.66
*.cn.rpz.push. CNAME rpz-passthru.
cn.rpz.push. CNAME rpz-passthru.
`

func TestIncidentStoppedByTheSafetyNet(t *testing.T) {
	dir := t.TempDir()
	zones, names := incidentZones(t, dir)
	upstream := dnstest.StartKnot(t, zones)
	writeFile(t, filepath.Join(dir, "local.rpz"), localRPZ)
	writeFile(t, filepath.Join(dir, "push.rpz"), pushRPZ)
	corpus := filepath.Join(dir, "names.txt")
	writeFile(t, corpus, strings.Join(names, "\n")+"\n")
	addr := freePort(t)
	socket := filepath.Join(dir, "control.sock")
	base := fmt.Sprintf(`listen: [%q]
zones: []
resolver:
  forward: [{zone: ".", upstreams: [%q]}]
policy:
  rpz:
    - {origin: rpz.local., file: local.rpz}
control:
  socket: %s
`, addr, upstream, socket)
	writeFile(t, filepath.Join(dir, "base.yaml"), base)
	bad := strings.Replace(base, "    - {origin: rpz.local., file: local.rpz}\n",
		"    - {origin: rpz.local., file: local.rpz}\n    - {origin: rpz.push., file: push.rpz}\n", 1)
	writeFile(t, filepath.Join(dir, "bad.yaml"), bad)

	// (a) The check refuses the change and says how big it is.
	var out, errb bytes.Buffer
	code := run([]string{"check", "--config", filepath.Join(dir, "bad.yaml"), "--baseline", filepath.Join(dir, "base.yaml"), "--corpus", corpus}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "99 of 200 names (49.50%) would change answer") ||
		!strings.Contains(out.String(), "resolved -> local A 198.18.0.66") || !strings.Contains(errb.String(), "policy change refused") {
		t.Fatalf("check: exit %d\n%s%s", code, out.String(), errb.String())
	}

	errb.Reset()
	if code := run([]string{"check", "--config", filepath.Join(dir, "bad.yaml"), "--corpus", corpus, "--max-change", "150"}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "--max-change 150: want a percentage from 0 to 100") {
		t.Fatalf("check --max-change 150: exit %d: %s", code, errb.String())
	}

	// (b) The server runs with the good policy, under load.
	cfgPath := filepath.Join(dir, "warden.yaml")
	writeFile(t, cfgPath, base)
	f := &commonFlags{config: cfgPath}
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	logs, ctx := startServer(t, f, cfg)
	waitFor(t, "first answer", func() bool { a, err := askA(addr, "h1.shop.com."); return err == nil && a == "192.0.2.2" })
	// The malware name is asked by one question in 201, before the change and after.
	load := startLoad(t, ctx, addr, append(names[:len(names):len(names)], "malware.example."))

	// Forced live through the control interface (as an operator who overrode the check would).
	c := control.NewClient(socket)
	writeFile(t, cfgPath, bad)
	time.Sleep(time.Second) // some traffic first, so the check has recent names
	var d control.Done
	if err := c.Do(http.MethodPost, "/policy/reload", &d); err == nil || !strings.Contains(d.Report, "would change answer") {
		t.Fatalf("unforced reload: %v, %+v", err, d)
	}
	// The time to recovery is counted from before the request, which runs the check first:
	// the change goes live a little after that.
	sent := time.Now()
	if err := c.Do(http.MethodPost, "/policy/reload?force=1", &d); err != nil {
		t.Fatalf("forced reload: %v", err)
	}
	wentLive := time.Now()
	if a, err := askA(addr, "h7.shop.com."); err != nil || a != "198.18.0.66" {
		t.Fatalf("the bad change is not live: h7.shop.com. %s, %v", a, err)
	}
	waitForIn(t, 10*time.Second, "real answers again", func() bool { a, err := askA(addr, "h7.shop.com."); return err == nil && a == "192.0.2.8" })
	recovered := time.Since(sent)
	t.Logf("real answers back %v after the forced reload was sent (%v after it returned)",
		recovered.Round(10*time.Millisecond), time.Since(wentLive).Round(10*time.Millisecond))
	if recovered >= 3*time.Second {
		t.Errorf("real answers back only %v after the change went live, want under 3 s", recovered)
	}
	var st live.Status
	if err := c.Do(http.MethodGet, "/policy", &st); err != nil || len(st.Alarms) != 1 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	t.Logf("alarm: %s", st.Alarms[0])
	if st.Queries < 500 {
		t.Fatalf("only %d questions under load reached the policy", st.Queries)
	}
	// The wildcard is named (and, as the names under .cn make half the questions, the exception
	// that passes them through, new as well); the malware block is not.
	alarmNames := func(text string) bool {
		return strings.Contains(text, "*.") && !strings.Contains(text, "malware")
	}
	if !alarmNames(st.Alarms[0]) || !strings.Contains(st.Alarms[0], "of rule set rpz.push. suspended") {
		t.Errorf("the alarm does not name the wildcard alone: %s", st.Alarms[0])
	}
	for _, s := range st.Sets {
		if s.Suspended || (len(s.SuspendedRules) > 0) != (s.Name == "rpz.push.") {
			t.Fatalf("set %s suspended=%v, rules %q", s.Name, s.Suspended, s.SuspendedRules)
		}
		if s.Name == "rpz.push." && !slices.Contains(s.SuspendedRules, "*.") {
			t.Fatalf("rpz.push. suspended rules %q, want *. among them", s.SuspendedRules)
		}
	}
	var tripped string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "circuit breaker tripped") {
			tripped = line
		}
	}
	if !strings.Contains(tripped, "set=rpz.push.") || !alarmNames(tripped[strings.Index(tripped, "suspended="):]) {
		t.Fatalf("no alarm naming the rule in the log: %q", tripped)
	}
	m := metrics(t, socket)
	if !strings.Contains(m, "warden_policy_alarms 1\n") || !strings.Contains(m, `warden_policy_rule_suspended{rule="*.",set="rpz.push."} 1`) ||
		!strings.Contains(m, `warden_policy_set_suspended{set="rpz.push."} 0`) || strings.Contains(m, `rule="malware.example."`) {
		t.Fatalf("the metrics do not name the rule:\n%s", m)
	}
	// The previous behaviour is back, the malware block of the same set still blocks, and the
	// other policy still works.
	stillWorks := func(when string) {
		t.Helper()
		if a, err := askA(addr, "h8.shop.com."); err != nil || a != "192.0.2.9" {
			t.Fatalf("%s: h8.shop.com. %s, %v", when, a, err)
		}
		if a, err := askA(addr, "h8.shop.cn."); err != nil || a != "198.51.100.9" {
			t.Fatalf("%s: h8.shop.cn. %s, %v", when, a, err)
		}
		if r := ask(t, addr, "malware.example."); r.Rcode != dns.RcodeNameError {
			t.Fatalf("%s: the malware block of rpz.push. stopped working: %v", when, r)
		}
		if r := ask(t, addr, "h13.shop.com."); r.Rcode != dns.RcodeNameError {
			t.Fatalf("%s: the block of rpz.local. stopped working: %v", when, r)
		}
	}
	stillWorks("after the trip")
	// A reload of the same files does not bring the bad rule back while the alarm stands.
	if err := c.Do(http.MethodPost, "/policy/reload?force=1", &d); err != nil {
		t.Fatal(err)
	}
	stillWorks("after a reload")
	// Resuming the set puts the rule back, and the breaker catches it again.
	if err := c.Do(http.MethodPost, "/policy/resume?set=rpz.push.", &d); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(http.MethodGet, "/policy", &st); err != nil || len(st.Alarms) != 0 {
		t.Fatalf("after resume: %+v, %v", st.Alarms, err)
	}
	// The trip and the resumption are one line each in the log.
	lines, err := dnstest.ParseLog(logs.String())
	if err != nil {
		t.Fatal(err)
	}
	if trips, ends := dnstest.Matching(lines, health.Breaker.Started, "set", "rpz.push."), dnstest.Matching(lines, health.Breaker.Ended, "set", "rpz.push."); len(trips) != 1 || len(ends) != 1 {
		t.Fatalf("%d trip lines and %d end lines for rpz.push. before it trips again, want one each", len(trips), len(ends))
	}
	waitForIn(t, 5*time.Second, "the breaker to trip again", func() bool {
		return c.Do(http.MethodGet, "/policy", &st) == nil && len(st.Alarms) == 1
	})
	var status control.Status
	if err := c.Do(http.MethodGet, "/status", &status); err != nil || !slices.ContainsFunc(status.Problems, func(p health.Problem) bool {
		return p.Kind == health.Breaker.Name && p.Subject == "rpz.push." && p.Failures == 1
	}) {
		t.Fatalf("status with the breaker tripped again: %+v, %v", status.Problems, err)
	}
	stillWorks("after resuming and tripping again")
	// Rollback goes back past the bad change to the policy in force before it, the first one
	// (the reload of the same files added no version): there is nothing before that.
	if err := c.Do(http.MethodPost, "/policy/rollback", &d); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(http.MethodGet, "/policy", &st); err != nil || len(st.Sets) != 1 || st.Sets[0].Name != "rpz.local." || st.Version != 3 {
		t.Fatalf("after rollback: %+v, %v", st, err)
	}
	if err := c.Do(http.MethodPost, "/policy/rollback", &d); err == nil || !strings.Contains(err.Error(), "no earlier policy version") {
		t.Fatalf("a rollback past the first version: %v", err)
	}
	load.stop()
}

// metrics scrapes the control socket's /metrics.
func metrics(t *testing.T, socket string) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}, Timeout: 5 * time.Second}
	resp, err := c.Get("http://warden/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func ask(t *testing.T, addr, name string) *dns.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r, err := dns.Exchange(ctx, dns.NewMsg(name, dns.TypeA), "udp", addr)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func waitForIn(t *testing.T, d time.Duration, what string, check func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if check() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

// load is traffic on the server for the length of the test: dnsperf at a fixed rate when it is
// installed, else a loop of queries.
type load struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *load) stop() {
	l.cancel()
	<-l.done
}

func startLoad(t *testing.T, parent context.Context, addr string, names []string) *load {
	ctx, cancel := context.WithTimeout(parent, 60*time.Second)
	l := &load{cancel: cancel, done: make(chan struct{})}
	host, port, _ := strings.Cut(addr, ":")
	if path, err := exec.LookPath("dnsperf"); err == nil {
		file := filepath.Join(t.TempDir(), "queries")
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "%s A\n", n)
		}
		writeFile(t, file, b.String())
		var out syncBuffer
		cmd := exec.CommandContext(ctx, path, "-s", host, "-p", port, "-d", file, "-l", "60", "-Q", "3000", "-c", "4")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = cmd.Wait(); close(l.done) }()
		return l
	}
	go func() {
		defer close(l.done)
		for i := 0; ctx.Err() == nil; i++ {
			_, _ = askA(addr, names[i%len(names)])
		}
	}()
	return l
}
