package live

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/config"
	"warden/internal/dnstest"
	"warden/internal/policy"
)

// logBuffer is a log destination the test reads while the guard writes.
type logBuffer = dnstest.SyncBuffer

// logger writes to b.
func logger(b *logBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// target is a query path reduced to its policy.
type target struct{ p atomic.Pointer[policy.Policy] }

func (t *target) Policy() *policy.Policy     { return t.p.Load() }
func (t *target) SetPolicy(p *policy.Policy) { t.p.Store(p) }

// loaded returns a target with the policy of cfg, put in force through a guard (versions in
// memory) and kept current by a Loader that the test closes at its end.
func loaded(t *testing.T, cfg *config.Config, log *slog.Logger) (*target, *Loader) {
	t.Helper()
	tg := &target{}
	l := NewLoader(NewGuard(tg, Config{}, log), log)
	t.Cleanup(l.Close)
	if _, err := l.Load(t.Context(), cfg, Change{Reason: "start", Force: true}, false); err != nil {
		t.Fatal(err)
	}
	return tg, l
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// decision says what the policy in force decides for a recursive question: "resolved",
// "nxdomain", "nodata", "local A 0.0.0.0, AAAA ::", ...
func decision(tg *target, name string, qtype uint16) string {
	m, _ := tg.Policy().Evaluate(policy.Query{Client: CheckClient, Name: strings.ToLower(name), Type: qtype, RD: true})
	return policy.Describe(m)
}

const rpzHead = `$TTL 60
@ SOA ns h 1 3600 600 86400 60
@ NS ns
`

// TestBlocklistsFromConfig: a hosts file answered with null addresses and an Adblock list with an
// exception answered NXDOMAIN, both loaded from a configuration file behind an RPZ zone; the
// exception and unlisted names resolve normally.
func TestBlocklistsFromConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "hosts"), "# StevenBlack style\n127.0.0.1 localhost\n0.0.0.0 ads.example tracker.example\n0.0.0.0 no/slash.example\n")
	writeFile(t, filepath.Join(dir, "filters.txt"), "! AdGuard style\n||tracker.example^\n@@||ok.tracker.example^\n||pass.example^\n")
	writeFile(t, filepath.Join(dir, "local.rpz"), rpzHead+"pass.example CNAME rpz-passthru.\n")
	cfg, err := config.Parse([]byte(`
policy:
  rpz:
    - {origin: local.rpz., file: local.rpz}
  blocklists:
    - {name: hosts, source: hosts, action: "null"}
    - {name: filters, source: filters.txt, format: adblock}
`), "warden.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	p, _ := loaded(t, cfg, logger(&logs))
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"ads.example.", dns.TypeA, "local A 0.0.0.0, AAAA ::"},
		{"ADS.example.", dns.TypeAAAA, "local A 0.0.0.0, AAAA ::"},
		{"x.ads.example.", dns.TypeA, "resolved"},                   // hosts lines block the name only
		{"tracker.example.", dns.TypeA, "local A 0.0.0.0, AAAA ::"}, // the earlier list wins
		{"a.b.tracker.example.", dns.TypeA, "nxdomain"},
		{"ok.tracker.example.", dns.TypeA, "resolved"},
		{"pass.example.", dns.TypeA, "resolved"}, // the RPZ zone comes first
		{"www.example.", dns.TypeA, "resolved"},
	} {
		if got := decision(p, tc.name, tc.qtype); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.name, dns.TypeToString[tc.qtype], got, tc.want)
		}
	}
	text := logs.String()
	for _, want := range []string{
		"blocklist in force\" name=hosts", "entries=2 names=2 skipped=1",
		"name=filters", "entries=3 names=3 skipped=0",
		"bytes=",
		"policy zone loaded\" zone=local.rpz.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
}

// TestBlocklistRefresh: a list from a URL, refreshed on a short interval, changes the answers
// when it changes; a refresh that fails, or that returns an empty list, keeps the list in force;
// Close stops the fetching goroutines.
func TestBlocklistRefresh(t *testing.T) {
	before := runtime.NumGoroutine()
	var body atomic.Pointer[string]
	var status, fetches atomic.Int64
	set := func(code int, text string) { status.Store(int64(code)); body.Store(&text) }
	set(200, "||one.example^\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, *body.Load())
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server on %s", srv.URL)
	}
	cfg, err := config.Parse([]byte("policy:\n  blocklists:\n    - {name: remote, source: \""+srv.URL+"/list.txt\", refresh: 1m}\n"), "warden.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Validation keeps URLs at one fetch a minute or less; the test needs quicker.
	cfg.Policy.Blocklists[0].Refresh = 20 * time.Millisecond
	var logs logBuffer
	p, l := loaded(t, cfg, logger(&logs))
	if got := decision(p, "one.example.", dns.TypeA); got != "nxdomain" {
		t.Fatalf("one.example after the first load: %s", got)
	}

	set(200, "||two.example^\n")
	dnstest.WaitUntil(t, "the changed list in force", func() bool {
		return decision(p, "two.example.", dns.TypeA) == "nxdomain"
	})
	if got := decision(p, "one.example.", dns.TypeA); got != "resolved" {
		t.Errorf("one.example after it left the list: %s", got)
	}

	for _, bad := range []struct {
		code      int
		text, log string
	}{
		{http.StatusInternalServerError, "oops", "500 Internal Server Error"},
		{http.StatusOK, "<html>not a list</html>\n", "no entries"},
	} {
		set(bad.code, bad.text)
		n := fetches.Load()
		dnstest.WaitUntil(t, "two more fetches", func() bool { return fetches.Load() >= n+2 })
		dnstest.WaitUntil(t, "the failure logged", func() bool { return strings.Contains(logs.String(), bad.log) })
		if got := decision(p, "two.example.", dns.TypeA); got != "nxdomain" {
			t.Errorf("after a failed refresh (%s): two.example: %s", bad.log, got)
		}
	}
	if !strings.Contains(logs.String(), "the previous list stays in force") {
		t.Errorf("log:\n%s", logs.String())
	}

	l.Close()
	n := fetches.Load()
	time.Sleep(100 * time.Millisecond)
	if fetches.Load() != n {
		t.Error("still fetching after Close")
	}
	if got := decision(p, "two.example.", dns.TypeA); got != "nxdomain" {
		t.Errorf("after Close the policy in force should stay: %s", got)
	}
	srv.Close()
	dnstest.WaitUntil(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestBlocklistReload: a reload rereads lists (files too, with watching off), restarts the
// fetching when the lists change, keeps a list whose configuration is unchanged while its new
// fetch fails, and keeps the whole running policy when an RPZ zone does not load.
func TestBlocklistReload(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "list.txt")
	writeFile(t, list, "a.example\n")
	parse := func(text string) *config.Config {
		t.Helper()
		cfg, err := config.Parse([]byte(text), "warden.yaml", dir)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Reload.WatchInterval = 0 // files are read again only on reload
		return cfg
	}
	one := "policy:\n  blocklists:\n    - {name: one, source: list.txt}\n"
	var logs logBuffer
	p, l := loaded(t, parse(one), logger(&logs))
	if got := decision(p, "a.example.", dns.TypeA); got != "nxdomain" {
		t.Fatalf("a.example: %s", got)
	}

	// The same configuration, the file changed: reread on reload (SIGHUP), not before.
	writeFile(t, list, "b.example\n")
	later := time.Now().Add(time.Hour)
	os.Chtimes(list, later, later)
	time.Sleep(50 * time.Millisecond)
	if got := decision(p, "b.example.", dns.TypeA); got != "resolved" {
		t.Fatalf("b.example before the reload: %s", got)
	}
	if _, err := l.Load(t.Context(), parse(one), Change{Reason: "reload"}, true); err != nil {
		t.Fatal(err)
	}
	dnstest.WaitUntil(t, "the file reread", func() bool { return decision(p, "b.example.", dns.TypeA) == "nxdomain" })

	// A second list added, the first unchanged but unreadable now: it stays in force.
	other := filepath.Join(dir, "other.txt")
	writeFile(t, other, "0.0.0.0 c.example\n")
	two := parse(one + "    - {name: two, source: other.txt, action: nodata}\n")
	if err := os.Remove(list); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(t.Context(), two, Change{Reason: "reload"}, false); err != nil {
		t.Fatal(err)
	}
	if got := decision(p, "b.example.", dns.TypeA); got != "nxdomain" {
		t.Errorf("b.example, its list unreadable after the reload: %s", got)
	}
	if got := decision(p, "c.example.", dns.TypeA); got != "nodata" {
		t.Errorf("c.example from the added list: %s", got)
	}
	if !strings.Contains(logs.String(), "the version loaded before the reload stays in force") {
		t.Errorf("log:\n%s", logs.String())
	}

	// An RPZ zone that does not load: the reload fails and the policy in force stays.
	writeFile(t, filepath.Join(dir, "bad.rpz"), "not a zone\n")
	writeFile(t, list, "a.example\n")
	bad := parse("policy:\n  rpz:\n    - {origin: bad.rpz., file: bad.rpz}\n  blocklists:\n    - {name: two, source: other.txt}\n")
	if _, err := l.Load(t.Context(), bad, Change{Reason: "reload"}, true); err == nil {
		t.Fatal("a broken policy zone loaded")
	}
	if got := decision(p, "c.example.", dns.TypeA); got != "nodata" {
		t.Errorf("c.example after the failed reload: %s", got)
	}

	// No lists at all: the fetching stops and the policy goes.
	if _, err := l.Load(t.Context(), parse(""), Change{Reason: "reload"}, false); err != nil {
		t.Fatal(err)
	}
	if got := decision(p, "b.example.", dns.TypeA); got != "resolved" {
		t.Errorf("b.example with no policy: %s", got)
	}
	if p.Policy() != nil {
		t.Error("an empty policy is still in the snapshot")
	}
}
