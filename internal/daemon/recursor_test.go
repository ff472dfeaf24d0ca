package daemon

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"warden/internal/config"
)

func parseConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(text), filepath.Join(dir, "warden.yaml"), dir)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// The resolution stage exists only when the configuration asks for recursion, and a root hints
// file or an upstream that cannot be used is an error that names it.
func TestNewRecursorFromConfig(t *testing.T) {
	if rec, err := NewRecursor(config.Default(), quiet); err != nil || rec != nil {
		t.Fatalf("the default configuration: recursor %v, err %v; want none", rec, err)
	}

	hints := filepath.Join(t.TempDir(), "root.hints")
	if err := os.WriteFile(hints, []byte(".  3600000 NS a.root.lab.\na.root.lab. 3600000 A 127.0.0.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := NewRecursor(parseConfig(t, "resolver:\n  root_hints: "+hints+"\n"), quiet)
	if err != nil || rec == nil {
		t.Fatalf("root hints: recursor %v, err %v", rec, err)
	}
	rec, err = NewRecursor(parseConfig(t, "resolver:\n  forward:\n    - zone: corp.example.\n      upstreams: [\"127.0.0.1:5300\"]\n"), quiet)
	if err != nil || rec == nil {
		t.Fatalf("forwarding: recursor %v, err %v", rec, err)
	}

	missing := filepath.Join(t.TempDir(), "missing.hints")
	cfg := parseConfig(t, "resolver:\n  root_hints: "+hints+"\n")
	cfg.Resolver.RootHints = missing
	if _, err := NewRecursor(cfg, quiet); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("a missing hints file: err %v; want one naming %s", err, missing)
	}
	bad := filepath.Join(t.TempDir(), "bad.hints")
	if err := os.WriteFile(bad, []byte("this is not a zone file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Resolver.RootHints = bad
	if _, err := NewRecursor(cfg, quiet); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("a broken hints file: err %v; want one naming %s", err, bad)
	}
}

// logTo logs to w, for tests that show the log when they fail.
func logTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
