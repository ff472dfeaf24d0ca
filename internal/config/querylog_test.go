package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The query_log section: the directory taken relative to the config file, the defaults, and
// each mistake named by file, line and key, or by the flag.
func TestQueryLogConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte("query_log:\n  dir: qlog\n  sample: 10\n"), "warden.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.QueryLog.Dir != filepath.Join(dir, "qlog") || c.QueryLog.Sample != 10 || c.QueryLog.MaxBytes != 1<<30 {
		t.Errorf("query_log: %+v", c.QueryLog)
	}
	if d := Default(); d.QueryLog.Dir != "" || d.QueryLog.Sample != 1 {
		t.Errorf("the default: %+v", d.QueryLog)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"query_log:\n  dir: file\n", `warden.yaml:2: query_log.dir: "` + filepath.Join(dir, "file") + `" is not a directory`},
		{"query_log:\n  dir: q\n  max_bytes: 1000\n", "warden.yaml:3: query_log.max_bytes: 1000 is below the least the log takes"},
		{"query_log:\n  dir: q\n  sample: 0\n", "warden.yaml:3: query_log.sample: 0: want 1"},
		{"query_log:\n  dir: q\n  sample: many\n", "warden.yaml:3"},
		{"query_log:\n  path: q\n", "path"},
	} {
		_, err := Parse([]byte(tt.yaml), "warden.yaml", dir)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v; want an error with %q", tt.yaml, err, tt.want)
		}
	}
	d := Default()
	if err := ApplyQueryLogFlag(d, filepath.Join(dir, "file")); err == nil || !strings.Contains(err.Error(), "--query-log") {
		t.Errorf("--query-log on a file: %v", err)
	}
	if err := ApplyQueryLogFlag(d, filepath.Join(dir, "qlog")); err != nil || d.QueryLog.Dir != filepath.Join(dir, "qlog") {
		t.Errorf("--query-log: %v %+v", err, d.QueryLog)
	}
}
