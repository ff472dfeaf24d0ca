package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/health"
	"warden/internal/peers"
)

// brokenZoneText is a zone whose sixth line does not parse, so that both servers must name it.
const brokenZoneText = `$ORIGIN broken.test.
$TTL 300
@ SOA ns.broken.test. h.broken.test. 1 3600 600 86400 300
@ NS ns
ns A 192.0.2.1
www A 192.0.2.999
`

func mendedZoneText() string {
	return strings.Replace(brokenZoneText, "192.0.2.999", "192.0.2.77", 1)
}

// TestStartWithBrokenZone: a built warden whose configuration names two zones, one with a file
// that does not load, starts anyway, as knotd does with the same files: the good zone answers, the
// broken one gets knotd's answer (SERVFAIL, no AA, no records), one log line names the file and
// line, and `ctl status` and `ctl zone show` show it; mended and reloaded, it serves and the
// recovery is logged once. `warden check` still fails on the same configuration.
func TestStartWithBrokenZone(t *testing.T) {
	if testing.Short() {
		t.Skip("builds warden and runs knotd")
	}
	dir := t.TempDir()
	bin := dnstest.BuildWarden(t, dir)
	good := filepath.Join(dir, "good.zone")
	broken := filepath.Join(dir, "broken.zone")
	writeFile(t, good, zoneText(1, "192.0.2.10"))
	writeFile(t, broken, brokenZoneText)

	ip := fmt.Sprintf("127.0.40.%d", 10+rand.IntN(200))
	knot := dnstest.StartKnotWithBroken(t, ip, []dnstest.Zone{{Origin: "reload.test.", File: good}, {Origin: "broken.test.", File: broken}}, []string{"reload.test."})

	addr := fmt.Sprintf("%s:%d", ip, 20000+rand.IntN(20000))
	socket := filepath.Join(dir, "control.sock")
	cfgPath := filepath.Join(dir, "warden.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`listen: [%q]
zones:
  - origin: reload.test.
    file: good.zone
  - origin: broken.test.
    file: broken.zone
control:
  socket: %s
`, addr, socket))

	if out, err := exec.Command(bin, "check", "--config", cfgPath).CombinedOutput(); err == nil || !strings.Contains(string(out), broken+":6:") {
		t.Errorf("warden check with a broken zone file: %v\n%s\nwant a failure naming %s:6", err, out, broken)
	}

	logs := &syncBuffer{}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if a, err := askA(addr, "www.reload.test."); err == nil && a == "192.0.2.10" {
			break
		}
		select {
		case <-exited:
			t.Fatalf("warden did not start with one zone broken:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the good zone not answered within 10 s:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	fromKnot := headerOf(t, knot.Addr, "www.broken.test.")
	if fromKnot.Rcode != dns.RcodeServerFailure {
		t.Errorf("knotd answers the broken zone with %s; this test expects SERVFAIL", dns.RcodeToString[fromKnot.Rcode])
	}
	for _, name := range []string{"www.broken.test.", "broken.test."} {
		if got := headerOf(t, addr, name); got != fromKnot {
			t.Errorf("%s from warden: %+v; knotd answers %+v", name, got, fromKnot)
		}
	}

	ctl := func(args ...string) (int, string) {
		out, err := exec.Command(bin, append([]string{"ctl", "--control", socket}, args...)...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("warden ctl %v: %v", args, err)
		}
		return code, string(out)
	}
	code, out := ctl("status")
	for _, want := range []string{"1 not loaded", "zone broken.test.: not served; failing since ", broken + ":6:", "PROBLEM: zone file broken.test.: failing since "} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("ctl status: exit %d\n%s\nwant it to hold %q", code, out, want)
		}
	}
	code, out = ctl("zone", "show", "broken.test")
	for _, want := range []string{"state       NOT LOADED\n", "last error  ", broken + ":6:", "\nserved ", "nothing: no version has loaded (SERVFAIL)\n"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("ctl zone show: exit %d\n%s\nwant it to hold %q", code, out, want)
		}
	}
	starts := zoneFileLines(t, logs, health.ZoneFile.Started)
	if len(starts) != 1 || !strings.Contains(starts[0]["err"], broken+":6:") {
		t.Errorf("start lines for broken.test.: %v; want one naming %s:6\n%s", starts, broken, logs.String())
	}

	// A reload with the file unchanged still fails; it does not read the file again, so it
	// neither logs nor counts a failure.
	if code, out = ctl("reload"); code != 1 || !strings.Contains(out, broken) {
		t.Errorf("reload with the file still broken: exit %d\n%s", code, out)
	}

	writeFile(t, broken, mendedZoneText())
	later := time.Now().Add(2 * time.Second)
	_ = os.Chtimes(broken, later, later)
	if code, out = ctl("reload"); code != 0 {
		t.Fatalf("reload with the file mended: exit %d\n%s", code, out)
	}
	if a, err := askA(addr, "www.broken.test."); err != nil || a != "192.0.2.77" {
		t.Errorf("the mended zone: %q, %v", a, err)
	}
	if _, err := peers.KnotControl(knot.Dir, "zone-reload", "broken.test."); err != nil {
		t.Fatal(err)
	}
	dnstest.WaitUntil(t, "knotd serving the mended zone", func() bool {
		a, err := askA(knot.Addr, "www.broken.test.")
		return err == nil && a == "192.0.2.77"
	})
	if _, out = ctl("status"); !strings.Contains(out, "problems: none\n") || strings.Contains(out, "not loaded") {
		t.Errorf("status after the mend:\n%s", out)
	}
	if starts := zoneFileLines(t, logs, health.ZoneFile.Started); len(starts) != 1 {
		t.Errorf("%d start lines after the mend, want 1", len(starts))
	}
	ends := zoneFileLines(t, logs, health.ZoneFile.Ended)
	if len(ends) != 1 || ends[0]["failures"] != "1" {
		t.Errorf("end lines for broken.test.: %v; want one counting the failure at start\n%s", ends, logs.String())
	}
	if rc := rcodeOf(addr, "www.reload.test."); rc != dns.RcodeSuccess {
		t.Errorf("the good zone after the reload: rcode %d (-1: no answer)", rc)
	}
}

// header is what the two servers' answers for a zone they could not load are compared on.
type header struct {
	Rcode         uint16
	Authoritative bool
	Answers       int
}

func headerOf(t *testing.T, addr, name string) header {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m := dns.NewMsg(name, dns.TypeA)
	m.RecursionDesired = false
	r, err := dns.Exchange(ctx, m, "udp", addr)
	if err != nil {
		t.Fatalf("%s from %s: %v", name, addr, err)
	}
	return header{Rcode: r.Rcode, Authoritative: r.Authoritative, Answers: len(r.Answer)}
}

func zoneFileLines(t *testing.T, logs *syncBuffer, msg string) []dnstest.LogLine {
	t.Helper()
	lines, err := dnstest.ParseLog(logs.String())
	if err != nil {
		t.Fatal(err)
	}
	return dnstest.Matching(lines, msg, "zone", "broken.test.")
}

// TestCheckConfigOnly: `check --config-only` (the unit's check before each start) passes a
// configuration whose zone file does not load, since the server starts without that zone, while
// the full check fails naming file and line; a configuration error fails both.
func TestCheckConfigOnly(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.zone")
	writeFile(t, broken, brokenZoneText)
	cfgPath := filepath.Join(dir, "warden.yaml")
	writeFile(t, cfgPath, "zones:\n  - origin: broken.test.\n    file: broken.zone\n  - origin: gone.test.\n    file: gone.zone\n")
	check := func(args ...string) (int, string, string) {
		var out, errb strings.Builder
		code := run(append([]string{"check"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, errOut := check("--config", cfgPath); code != 1 || !strings.Contains(errOut, broken+":6:") || !strings.Contains(errOut, filepath.Join(dir, "gone.zone")) {
		t.Errorf("check of broken zone files: exit %d\n%s\nwant exit 1 naming %s:6 and gone.zone", code, errOut, broken)
	}
	if code, out, errOut := check("--config-only", "--config", cfgPath); code != 0 || !strings.Contains(out, "configuration OK") {
		t.Errorf("check --config-only with broken zone files: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := check("--config-only", "--config", cfgPath, "--corpus", cfgPath); code != 2 || !strings.Contains(errOut, "--config-only and --corpus") {
		t.Errorf("check --config-only --corpus: exit %d\n%s", code, errOut)
	}
	writeFile(t, cfgPath, "zones:\n  - origin: broken.test.\n    file: broken.zone\n  - origin: broken.test.\n    file: broken.zone\n")
	if code, _, errOut := check("--config-only", "--config", cfgPath); code != 1 || !strings.Contains(errOut, "warden.yaml:4: zones[1].origin") {
		t.Errorf("check --config-only with a zone configured twice: exit %d\n%s", code, errOut)
	}
}
