package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"warden/internal/dnstest"
	"warden/internal/health"
)

// TestCtlShowsZoneErrors: a zone file that stops loading is shown by `ctl status` and `ctl zone
// show` with the serial still in force, and `ctl reload` fails (exit 1) for as long as the file
// on disk is not in force, also when the watch found the broken file first; a good file clears it.
func TestCtlShowsZoneErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "reload.test.zone")
	writeFile(t, file, zoneText(1, "192.0.2.10"))
	addr := freePort(t)
	socket := filepath.Join(dir, "control.sock")
	cfgFile := filepath.Join(dir, "warden.yaml")
	writeFile(t, cfgFile, "listen: [\""+addr+"\"]\nzones:\n  - origin: reload.test.\n    file: reload.test.zone\nreload:\n  watch_interval: 100ms\ncontrol:\n  socket: "+socket+"\n")
	f := &commonFlags{config: cfgFile}
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	logs, _ := startServer(t, f, cfg)
	waitFor(t, "first answer", func() bool { a, err := askA(addr, "www.reload.test."); return err == nil && a == "192.0.2.10" })

	ctl := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := run(append([]string{"ctl", "--control", socket}, args...), &out, &out)
		return code, out.String()
	}
	touch := func(text string, ahead time.Duration) {
		t.Helper()
		writeFile(t, file, text)
		later := time.Now().Add(ahead)
		_ = os.Chtimes(file, later, later)
	}

	touch("www A 192.0.2.99\n", time.Second)
	waitFor(t, "the broken file seen by the watch", func() bool {
		_, out := ctl("zone", "show", "reload.test")
		return strings.Contains(out, "last error")
	})
	code, out := ctl("zone", "show", "reload.test")
	for _, want := range []string{"state       failing\n", "serial      1\n", "last error  ", file, "\nsince ", "1 failure\n", "\nserved ", " serial 1, the last good version\n"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("zone show: exit %d\n%s\nwant it to hold %q", code, out, want)
		}
	}
	code, out = ctl("status")
	if want := "zone reload.test.: serial 1 in force; failing since "; code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "1 failing") {
		t.Errorf("status: exit %d\n%s\nwant %q and 1 failing", code, out, want)
	}
	if want := "problems: 1\nPROBLEM: zone file reload.test.: failing since "; !strings.Contains(out, want) {
		t.Errorf("status:\n%s\nwant %q", out, want)
	}
	// The watch read the file already; a reload asked for afterwards still fails.
	if code, out = ctl("reload"); code != 1 || !strings.Contains(out, file) || strings.Contains(out, "reloaded") {
		t.Errorf("reload with a broken zone file: exit %d\n%s\nwant exit 1 naming %s", code, out, file)
	}

	// A file whose serial did not increase is not in force either.
	touch(zoneText(1, "192.0.2.20"), 2*time.Second)
	waitFor(t, "the same-serial file seen by the watch", func() bool {
		_, out := ctl("zone", "show", "reload.test")
		return strings.Contains(out, "not newer than the serial in force 1")
	})
	if code, out = ctl("reload"); code != 1 || !strings.Contains(out, "not newer") {
		t.Errorf("reload with a same-serial file: exit %d\n%s\nwant exit 1", code, out)
	}

	touch(zoneText(2, "192.0.2.20"), 3*time.Second)
	waitFor(t, "the good file in force", func() bool { a, err := askA(addr, "www.reload.test."); return err == nil && a == "192.0.2.20" })
	if code, out = ctl("reload"); code != 0 {
		t.Errorf("reload with a good file: exit %d\n%s", code, out)
	}
	if code, out = ctl("zone", "show", "reload.test"); code != 0 || strings.Contains(out, "last error") || !strings.Contains(out, "serial   2\n") {
		t.Errorf("zone show after the fix: exit %d\n%s", code, out)
	}
	if _, out = ctl("status"); strings.Contains(out, "failing") || strings.Contains(out, "last error") || !strings.Contains(out, "problems: none\n") {
		t.Errorf("status after the fix:\n%s", out)
	}
	// The watch tick, the reloads, the broken file and the one of the same serial: one run of
	// failures, one line as it began and one as it ended.
	lines, err := dnstest.ParseLog(logs.String())
	if err != nil {
		t.Fatal(err)
	}
	starts := dnstest.Matching(lines, health.ZoneFile.Started, "zone", "reload.test.")
	ends := dnstest.Matching(lines, health.ZoneFile.Ended, "zone", "reload.test.")
	// The watch may read a file between its writing and its new time, and then again: at least
	// the two files that failed are counted.
	if len(starts) != 1 || len(ends) != 1 {
		t.Fatalf("%d start lines, %d end lines; want one each", len(starts), len(ends))
	}
	if n, err := strconv.Atoi(ends[0]["failures"]); err != nil || n < 2 {
		t.Errorf("the end line %v counts %q failures, want the two files that failed at least", ends[0], ends[0]["failures"])
	}
}
