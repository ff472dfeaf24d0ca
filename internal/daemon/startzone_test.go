package daemon

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/control"
	"warden/internal/health"
)

// TestEveryZoneBrokenAtStart: a server whose only zones all fail to load (one file missing, one
// that does not parse) starts anyway, as knotd and named do, and answers SERVFAIL for both; status
// lists both with the file (and line) at fault. The missing file, once written, is taken by a
// reload; the other, once mended, by the file watch alone; each recovery is logged once.
func TestEveryZoneBrokenAtStart(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "run.test.zone")
	broken := filepath.Join(dir, "other.test.zone")
	write(t, broken, "$ORIGIN other.test.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 192.0.2.53\nwww A 192.0.2.300\n")
	cfgText := `listen: [%q]
zones:
  - origin: run.test.
    file: run.test.zone
  - origin: other.test.
    file: other.test.zone
control:
  socket: %s
reload:
  watch_interval: 100ms
`
	s := startHealthServer(t, dir, "127.0.40.21", cfgText)
	for _, name := range []string{"www.run.test.", "www.other.test.", "other.test."} {
		if rc := rcodeOf(s.dns, name); rc != dns.RcodeServerFailure {
			t.Errorf("%s with its zone not loaded: rcode %d, want SERVFAIL", name, rc)
		}
	}
	for origin, want := range map[string]string{"run.test.": missing, "other.test.": broken + ":6:"} {
		p, ok := s.problem(t, health.ZoneFile, origin)
		if !ok || !strings.Contains(p.LastError, want) || p.Failures != 1 {
			t.Errorf("problem of %s: %+v (listed %v); want one failure naming %s", origin, p, ok, want)
		}
		var zs control.ZoneStatus
		if err := s.ctl.Do(http.MethodGet, control.ZonePath(origin), &zs); err != nil {
			t.Fatal(err)
		}
		if zs.Loaded || !strings.Contains(zs.LastError, want) || zs.ErrorSince.IsZero() {
			t.Errorf("zone show of %s: %+v", origin, zs)
		}
	}

	writeZone(t, missing, 1, "192.0.2.1")
	if err := s.ctl.Do(http.MethodPost, "/reload", nil); err == nil || !strings.Contains(err.Error(), broken) {
		t.Errorf("reload with other.test. still broken: %v; want an error naming %s", err, broken)
	}
	waitAnswer(t, s.dns, "192.0.2.1")
	s.expectOnce(t, health.ZoneFile, "run.test.", 1)

	write(t, broken, "$ORIGIN other.test.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 192.0.2.53\nwww A 192.0.2.30\n")
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(broken, later, later); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the mended other.test. served after the watch", 10*time.Second, func() bool {
		return rcodeOf(s.dns, "www.other.test.") == dns.RcodeSuccess
	})
	s.expectOnce(t, health.ZoneFile, "other.test.", 1)
	if ps := s.problems(t); len(ps) != 0 {
		t.Errorf("problems after both zones were mended: %+v", ps)
	}
}
