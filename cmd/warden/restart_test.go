package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
)

// The policy's versions across a restart, end to end: a server with a state directory puts a
// changed policy zone in force, stops, starts again on the changed file, and `warden policy
// rollback` puts back the rules from before the change, as real queries show. And a first start
// has nothing to roll back to.

const restartZone = `$TTL 300
@ SOA ns h 1 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
old A 192.0.2.1
new A 192.0.2.2
new2 A 192.0.2.3
both A 192.0.2.4
`

func restartRPZ(names ...string) string {
	var b strings.Builder
	b.WriteString("$TTL 60\n@ SOA ns.rpz.local. h.rpz.local. 1 3600 600 86400 60\n@ NS ns.rpz.local.\n")
	for _, n := range names {
		fmt.Fprintf(&b, "%s.restart.test.rpz.local. CNAME .\n", n)
	}
	return b.String()
}

// runServerUntilStopped runs the server of cfgPath until stop is called; stop waits for it.
func runServerUntilStopped(t *testing.T, cfgPath string) (logs *syncBuffer, stop func()) {
	t.Helper()
	f := &commonFlags{config: cfgPath}
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	logs = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, f, cfg, slog.New(slog.NewTextHandler(logs, nil))) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("server did not stop")
		}
	}
	t.Cleanup(stop)
	return logs, stop
}

// rcodeOf asks the server for name and returns the answer's RCODE, or -1 when none came.
func rcodeOf(addr, name string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := dns.Exchange(ctx, dns.NewMsg(name, dns.TypeA), "udp", addr)
	if err != nil {
		return -1
	}
	return int(r.Rcode)
}

// wardenPolicy runs `warden policy ARGS --control socket` (the flag after the arguments).
func wardenPolicy(socket string, args ...string) (int, string) {
	var out, errb strings.Builder
	code := run(append(append([]string{"policy"}, args...), "--control", socket), &out, &errb)
	return code, out.String() + errb.String()
}

func TestPolicyRollbackAfterRestart(t *testing.T) {
	dir := t.TempDir()
	zoneFile := filepath.Join(dir, "restart.test.zone")
	writeFile(t, zoneFile, restartZone)
	upstream := dnstest.StartKnot(t, []dnstest.Zone{{Origin: "restart.test.", File: zoneFile}})
	rpz := filepath.Join(dir, "local.rpz")
	writeFile(t, rpz, restartRPZ("old", "both"))
	addr := freePort(t)
	socket := filepath.Join(dir, "control.sock")
	cfgPath := filepath.Join(dir, "warden.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`listen: [%q]
zones: []
resolver:
  forward: [{zone: restart.test., upstreams: [%q]}]
policy:
  rpz:
    - {origin: rpz.local., file: local.rpz}
state_dir: state
control:
  socket: %s
`, addr, upstream, socket))
	blocked := func(names ...string) {
		t.Helper()
		for _, n := range []string{"old", "new", "new2", "both"} {
			want := dns.RcodeSuccess
			for _, b := range names {
				if n == b {
					want = dns.RcodeNameError
				}
			}
			name := n + ".restart.test."
			waitFor(t, name+" answered "+dns.RcodeToString[uint16(want)], func() bool { return rcodeOf(addr, name) == want })
		}
	}

	_, stop := runServerUntilStopped(t, cfgPath)
	blocked("old", "both")
	// Right after the first start there is nothing to go back to, and every rule stays.
	if code, out := wardenPolicy(socket, "rollback"); code == 0 || !strings.Contains(out, "no earlier policy version") {
		t.Fatalf("rollback after the first start: exit %d: %s", code, out)
	}
	blocked("old", "both")

	writeFile(t, rpz, restartRPZ("new", "new2", "both"))
	if code, out := wardenPolicy(socket, "reload", "--force"); code != 0 {
		t.Fatalf("policy reload --force: exit %d: %s", code, out)
	}
	blocked("new", "new2", "both")
	stop()

	// The restart, on the changed file.
	logs, _ := runServerUntilStopped(t, cfgPath)
	blocked("new", "new2", "both")
	code, out := wardenPolicy(socket, "status")
	if code != 0 || !regexp.MustCompile(`(?m)^versions:\n  1  \S+ \S+  start  \+rpz\.local\.\(2\)\n  2  \S+ \S+  reload \(control\)  rpz\.local\. 2→3\n\z`).MatchString(out) {
		t.Fatalf("status after the restart: exit %d:\n%s\n%s", code, out, logs.String())
	}
	if code, out := wardenPolicy(socket, "rollback"); code != 0 || !strings.Contains(out, "policy version 3 in force: rollback to version 1") {
		t.Fatalf("rollback after the restart: exit %d: %s\n%s", code, out, logs.String())
	}
	blocked("old", "both")
	if code, out := wardenPolicy(socket, "resume", "rpz.local."); code != 0 || !strings.Contains(out, "not suspended") {
		t.Errorf("resume of a set in service: exit %d: %s", code, out)
	}
}
