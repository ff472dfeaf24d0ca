package live

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/config"
)

// rules writes an RPZ file for origin rpz.test. blocking names (CNAME .), and returns its
// configuration.
func rules(t *testing.T, dir string, names ...string) config.RPZConfig {
	t.Helper()
	var b strings.Builder
	b.WriteString(rpzHead)
	for _, n := range names {
		fmt.Fprintf(&b, "%s CNAME .\n", n)
	}
	file := filepath.Join(dir, "test.rpz")
	writeFile(t, file, b.String())
	return config.RPZConfig{Origin: "rpz.test.", File: file}
}

func propose(t *testing.T, cfgs ...config.RPZConfig) Proposal {
	t.Helper()
	p, _, err := LoadPolicy(cfgs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func versionsOf(g *Guard) []string {
	var out []string
	for _, v := range g.Status().Versions {
		out = append(out, fmt.Sprintf("%d %s: %s", v.N, v.Reason, strings.Join(v.Changes, " ")))
	}
	return out
}

// corpus is the names the tests' changes are checked on.
var corpus = []string{"a.example.", "b.example.", "c.example.", "d.example."}

// strict is a check that refuses any change of answer.
var strict = Check{MaxChange: 0}

// TestFirstVersion: the first policy put in force is version 1, with nothing to roll back to:
// a rollback fails and the rules stay in force.
func TestFirstVersion(t *testing.T) {
	dir := t.TempDir()
	tg := &target{}
	g := NewGuard(tg, Config{}, slog.New(slog.DiscardHandler))
	if _, err := g.Put(propose(t, rules(t, dir, "a.example")), Change{Reason: "start", Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Rollback(); !errors.Is(err, ErrNoEarlierVersion) {
		t.Fatalf("rollback after the first start: %v", err)
	}
	if got := decision(tg, "a.example.", dns.TypeA); got != "nxdomain" {
		t.Errorf("a.example. after the refused rollback: %s", got)
	}
	if got := versionsOf(g); !slices.Equal(got, []string{"1 start: +rpz.test.(1)"}) {
		t.Errorf("versions %q", got)
	}
}

// TestUnchangedReload: a reload of the same content adds no version and keeps the rules in
// force, counters and all; a change of content or of a set's configuration is a version.
func TestUnchangedReload(t *testing.T) {
	dir := t.TempDir()
	tg := &target{}
	var logs logBuffer
	g := NewGuard(tg, Config{}, logger(&logs))
	c := rules(t, dir, "a.example")
	if _, err := g.Put(propose(t, c), Change{Reason: "start", Force: true}); err != nil {
		t.Fatal(err)
	}
	first := tg.Policy()
	for range 2 {
		if _, err := g.Put(propose(t, c), Change{Reason: "reload (signal)", Check: strict}); err != nil {
			t.Fatal(err)
		}
	}
	if tg.Policy() != first || len(g.Status().Versions) != 1 || !strings.Contains(logs.String(), "policy unchanged: no new version") {
		t.Fatalf("an unchanged reload: versions %q\n%s", versionsOf(g), logs.String())
	}
	shadow := c
	shadow.Shadow = true
	if _, err := g.Put(propose(t, shadow), Change{Reason: "reload (signal)", Check: strict}); err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(g); len(got) != 2 || got[1] != "2 reload (signal): ~rpz.test.(1)" {
		t.Errorf("a set's configuration changed: versions %q", got)
	}
}

// TestRepair: returning to the content of a version that was in force skips the check, and the
// log says so; returning to a version a rollback undid does not.
func TestRepair(t *testing.T) {
	dir := t.TempDir()
	tg := &target{}
	var logs logBuffer
	g := NewGuard(tg, Config{Recent: func() []string { return corpus }}, logger(&logs))
	good, bad := rules(t, dir, "a.example"), config.RPZConfig{}
	goodProp := propose(t, good)
	if _, err := g.Put(goodProp, Change{Reason: "start", Force: true}); err != nil {
		t.Fatal(err)
	}
	bad = rules(t, dir, "a.example", "b.example", "c.example")
	if _, err := g.Put(propose(t, bad), Change{Reason: "reload (signal)", Check: strict}); !errors.Is(err, ErrTooBig) {
		t.Fatalf("a change of 2 of 4 names passed a check allowing none: %v", err)
	}
	if _, err := g.Put(propose(t, bad), Change{Reason: "reload (control)", Force: true, Check: strict}); err != nil {
		t.Fatal(err)
	}
	// The file is put back as it was: a repair, although it changes 2 of 4 names.
	good = rules(t, dir, "a.example")
	report, err := g.Put(propose(t, good), Change{Reason: "reload (signal)", Check: strict})
	if err != nil {
		t.Fatalf("the repair was refused: %v", err)
	}
	if got := decision(tg, "b.example.", dns.TypeA); got != "resolved" || report.Names != 0 {
		t.Errorf("after the repair b.example. is %s; report %+v", got, report)
	}
	if !strings.Contains(logs.String(), "a repair, put in force without the blast-radius check") {
		t.Errorf("the log does not say the check was skipped:\n%s", logs.String())
	}
	if got := versionsOf(g); !slices.Equal(got, []string{
		"1 start: +rpz.test.(1)", "2 reload (control): rpz.test. 1→3", "3 reload (signal): rpz.test. 3→1",
	}) {
		t.Errorf("versions %q", got)
	}

	// Rolled back, the bad content is no repair: it is checked again.
	bad = rules(t, dir, "a.example", "b.example", "c.example")
	if _, err := g.Put(propose(t, bad), Change{Reason: "reload (control)", Force: true, Check: strict}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Put(propose(t, bad), Change{Reason: "blocklist refresh", Check: strict}); !errors.Is(err, ErrTooBig) {
		t.Errorf("the content a rollback undid came back unchecked: %v", err)
	}
}

// TestRollbackAfterRestart: with a state directory, the versions outlive the guard: a new one
// that starts on the changed files adds no version, and its rollback puts back the version before
// the change, compiled again from the stored bytes of the policy zone and of the blocklist.
func TestRollbackAfterRestart(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	list := filepath.Join(dir, "list.txt")
	writeFile(t, list, "ads.example\n")
	cfg := func(blocked ...string) *config.Config {
		t.Helper()
		c := rules(t, dir, blocked...)
		cfg, err := config.Parse([]byte(fmt.Sprintf("policy:\n  rpz:\n    - {origin: %s, file: %s}\n  blocklists:\n    - {name: ads, source: %s}\n",
			c.Origin, c.File, list)), "warden.yaml", dir)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Reload.WatchInterval = 0
		return cfg
	}
	start := func() (*target, *Guard, *logBuffer) {
		t.Helper()
		tg, logs := &target{}, &logBuffer{}
		g := NewGuard(tg, Config{StateDir: state}, logger(logs))
		l := NewLoader(g, logger(logs))
		defer l.Close() // a stop; the policy in force stays
		if _, err := l.Load(t.Context(), cfg("old.example", "both.example"), Change{Reason: "start", Force: true}, false); err != nil {
			t.Fatal(err)
		}
		return tg, g, logs
	}

	tg, g, _ := start()
	if _, err := g.Put(propose(t, rules(t, dir, "new.example", "both.example")), Change{Reason: "reload (signal)", Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := decision(tg, "old.example.", dns.TypeA); got != "resolved" {
		t.Fatalf("old.example. after the change: %s", got)
	}

	// The restart: the files now hold the changed policy zone, and no blocklist.
	tg = &target{}
	var logs logBuffer
	g = NewGuard(tg, Config{StateDir: state}, logger(&logs))
	if _, err := g.Put(propose(t, rules(t, dir, "new.example", "both.example")), Change{Reason: "start", Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := versionsOf(g); !slices.Equal(got, []string{"1 start: +rpz.test.(2) +ads(1)", "2 reload (signal): ~rpz.test.(2) -ads"}) {
		t.Fatalf("versions after the restart %q\n%s", got, logs.String())
	}
	if got := decision(tg, "new.example.", dns.TypeA); got != "nxdomain" {
		t.Fatalf("new.example. after the restart: %s", got)
	}
	v, err := g.Rollback()
	if err != nil || v.N != 3 || v.Reason != "rollback to version 1" {
		t.Fatalf("rollback after the restart: %+v, %v", v, err)
	}
	for name, want := range map[string]string{"old.example.": "nxdomain", "both.example.": "nxdomain", "new.example.": "resolved", "ads.example.": "nxdomain"} {
		if got := decision(tg, name, dns.TypeA); got != want {
			t.Errorf("%s after the rollback: %s, want %s", name, got, want)
		}
	}
	if _, err := g.Rollback(); !errors.Is(err, ErrNoEarlierVersion) {
		t.Errorf("a second rollback: %v", err)
	}

	// A third start on the same files: the rollback is kept too, and undone content is no repair.
	g = NewGuard(&target{}, Config{StateDir: state}, logger(&logs))
	if got := len(g.Status().Versions); got != 3 {
		t.Errorf("%d versions after the third start", got)
	}
}

// TestStoreBound: a guard keeps at most Keep versions on disk, and the objects of those only.
func TestStoreBound(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	g := NewGuard(&target{}, Config{StateDir: state, Keep: 3}, slog.New(slog.DiscardHandler))
	for i := range 6 {
		names := []string{"a.example"}
		for j := range i {
			names = append(names, fmt.Sprintf("n%d.example", j))
		}
		if _, err := g.Put(propose(t, rules(t, dir, names...)), Change{Reason: "reload", Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	store := filepath.Join(state, "policy")
	if got := strings.Join(files(t, filepath.Join(store, "versions")), " "); got != "00000004.json 00000005.json 00000006.json" {
		t.Errorf("versions on disk: %s", got)
	}
	if got := files(t, filepath.Join(store, "objects")); len(got) != 3 {
		t.Errorf("objects on disk: %v, want those of the 3 versions kept", got)
	}
	if got := len(g.Status().Versions); got != 3 {
		t.Errorf("%d versions in memory", got)
	}
}

// TestStateDirUnusable: a state directory that cannot be used, or that holds a corrupt object,
// never stops the policy: the guard logs the path and goes on in memory, and a rollback to rules
// it cannot read back fails and changes nothing.
func TestStateDirUnusable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "not-a-dir")
	writeFile(t, file, "")
	tg := &target{}
	var logs logBuffer
	g := NewGuard(tg, Config{StateDir: file}, logger(&logs))
	if _, err := g.Put(propose(t, rules(t, dir, "a.example")), Change{Reason: "start", Force: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "policy versions kept in memory only") || !strings.Contains(logs.String(), file) {
		t.Errorf("log:\n%s", logs.String())
	}
	if decision(tg, "a.example.", dns.TypeA) != "nxdomain" || g.Status().StateDir != "" {
		t.Error("the policy did not go in force without its state directory")
	}

	state := t.TempDir()
	g = NewGuard(&target{}, Config{StateDir: state}, logger(&logs))
	if _, err := g.Put(propose(t, rules(t, dir, "a.example")), Change{Reason: "start", Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Put(propose(t, rules(t, dir, "b.example")), Change{Reason: "reload", Force: true}); err != nil {
		t.Fatal(err)
	}
	objects := filepath.Join(state, "policy", "objects")
	for _, name := range files(t, objects) {
		writeFile(t, filepath.Join(objects, name), "garbage\n")
	}
	tg = &target{}
	g = NewGuard(tg, Config{StateDir: state}, logger(&logs))
	if _, err := g.Put(propose(t, rules(t, dir, "b.example")), Change{Reason: "start", Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Rollback(); err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), objects) {
		t.Errorf("rollback to corrupt rules: %v", err)
	}
	if decision(tg, "b.example.", dns.TypeA) != "nxdomain" || len(g.Status().Versions) != 2 {
		t.Error("the failed rollback changed the policy in force")
	}
	os.RemoveAll(filepath.Join(state, "policy", "versions"))
	if err := os.WriteFile(filepath.Join(state, "policy", "versions"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	logs = logBuffer{}
	g = NewGuard(&target{}, Config{StateDir: state}, logger(&logs))
	if _, err := g.Put(propose(t, rules(t, dir, "b.example")), Change{Reason: "start", Force: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), filepath.Join(state, "policy", "versions")) {
		t.Errorf("a versions directory that is a file is not named in the log:\n%s", logs.String())
	}
}

// TestChanges: what a version changed, as status shows it.
func TestChanges(t *testing.T) {
	src := func(name string, rules int, object string) Source {
		return Source{RPZ: &config.RPZConfig{Origin: name}, Name: name, Rules: rules, Object: object}
	}
	local1, local4 := src("rpz.local.", 1, "a"), src("rpz.local.", 4, "b")
	ads := Source{Blocklist: &config.BlocklistConfig{Name: "ads"}, Name: "ads", Rules: 900, Object: "c"}
	for _, tc := range []struct {
		before, after []Source
		want          string
	}{
		{nil, []Source{local1, ads}, "+rpz.local.(1) +ads(900)"},
		{[]Source{local1, ads}, []Source{src("rpz.new.", 3, "d"), local4}, "+rpz.new.(3) rpz.local. 1→4 -ads"},
		{[]Source{local1}, []Source{src("rpz.local.", 1, "e")}, "~rpz.local.(1)"},
		{[]Source{local1, ads}, []Source{local1, ads}, ""},
		{[]Source{local1}, nil, "-rpz.local."},
	} {
		if got := strings.Join(Changes(tc.before, tc.after), " "); got != tc.want {
			t.Errorf("%v -> %v: %q, want %q", tc.before, tc.after, got, tc.want)
		}
	}
}

// TestIncludeNeverUnchanged: a policy zone that includes another file is read again at every
// reload as a change, since the bytes hashed do not hold what it includes.
func TestIncludeNeverUnchanged(t *testing.T) {
	for text, want := range map[string]bool{"$include x\n": true, "a CNAME .\n$INCLUDE other.rpz\n": true, "a CNAME .\n$TTL 60\n": false, "$": false} {
		if got := hasInclude([]byte(text)); got != want {
			t.Errorf("hasInclude(%q) = %v", text, got)
		}
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "more.rpz"), "b.example CNAME .\n")
	file := filepath.Join(dir, "test.rpz")
	writeFile(t, file, rpzHead+"$INCLUDE more.rpz\n")
	c := config.RPZConfig{Origin: "rpz.test.", File: file}
	tg := &target{}
	g := NewGuard(tg, Config{}, slog.New(slog.DiscardHandler))
	for range 2 {
		if _, err := g.Put(propose(t, c), Change{Reason: "reload", Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(g.Status().Versions); n != 2 || decision(tg, "b.example.", dns.TypeA) != "nxdomain" {
		t.Errorf("%d versions; b.example. %s", n, decision(tg, "b.example.", dns.TypeA))
	}
}

// TestRollbackClearsStaleSuspension: a rule set suspended while it was in force, then resumed
// after a newer version replaced it, comes back unsuspended on a rollback to its version: only a
// standing alarm keeps anything suspended.
func TestRollbackClearsStaleSuspension(t *testing.T) {
	dir := t.TempDir()
	tg := &target{}
	var logs logBuffer
	g := NewGuard(tg, Config{}, logger(&logs))
	if _, err := g.Put(propose(t, rules(t, dir, "a.example")), Change{Reason: "start", Force: true}); err != nil {
		t.Fatal(err)
	}
	old := tg.Policy().Sets()[0]
	old.SetSuspended(true)
	if old.SuspendRules("a.example.") != 1 {
		t.Fatalf("rule names: %v", old.Rules())
	}
	if _, err := g.Put(propose(t, rules(t, dir, "a.example", "b.example")), Change{Reason: "reload", Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Rollback(); err != nil {
		t.Fatal(err)
	}
	back := tg.Policy().Sets()[0]
	if back != old {
		t.Fatal("the rollback did not put the first version's set back")
	}
	if back.Suspended() || len(back.SuspendedRules()) != 0 {
		t.Errorf("after the rollback, with no alarm standing: set suspended %v, rules %v", back.Suspended(), back.SuspendedRules())
	}
}
