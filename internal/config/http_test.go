package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The http section: addresses parsed, the token file read relative to the config file, and every
// mistake named by file, line and key, or by the flag.
func TestHTTPConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "http.token"), []byte("abcdefghijklmnop0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "short.token"), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte("http:\n  listen: [127.0.4.1:9153, \"[::1]:9153\"]\n  token_file: http.token\n"), "warden.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.HTTP.Listen) != 2 || c.HTTP.TokenFile != filepath.Join(dir, "http.token") {
		t.Errorf("http: %+v", c.HTTP)
	}
	if d := Default(); len(d.HTTP.Listen) != 0 || d.HTTP.TokenFile != "" {
		t.Errorf("the default turns the HTTP listener on: %+v", d.HTTP)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"http:\n  listen: [localhost:9153]\n", `warden.yaml:2: http.listen[0]: "localhost:9153": want an IP address and port`},
		{"http:\n  listen: [127.0.4.1]\n", `warden.yaml:2: http.listen[0]: "127.0.4.1": want an IP address and port`},
		{"http:\n  listen: [127.0.4.1:1, 127.0.4.1:1]\n", `http.listen[1]: "127.0.4.1:1" is listed twice`},
		{"http:\n  listen: [127.0.4.1:1]\n  token_file: short.token\n", "warden.yaml:3: http.token_file: " + filepath.Join(dir, "short.token") + ": the token is 5 bytes; want at least 16"},
		{"http:\n  listen: [127.0.4.1:1]\n  token_file: missing.token\n", "warden.yaml:3: http.token_file: stat " + filepath.Join(dir, "missing.token")},
		{"http:\n  port: 1\n", "port"},
	} {
		_, err := Parse([]byte(tt.yaml), "warden.yaml", dir)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v; want an error with %q", tt.yaml, err, tt.want)
		}
	}
}

// --http replaces the file's addresses and names itself in an error; a bad one changes nothing.
func TestApplyHTTPFlags(t *testing.T) {
	c, err := Parse([]byte("http:\n  listen: [127.0.4.1:1]\n"), "warden.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyHTTPFlags(c, []string{"127.0.4.2:2", "127.0.4.3:3"}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.HTTP.Listen, " ") != "127.0.4.2:2 127.0.4.3:3" {
		t.Errorf("listen %v", c.HTTP.Listen)
	}
	err = ApplyHTTPFlags(c, []string{"nowhere"})
	if err == nil || !strings.Contains(err.Error(), `--http "nowhere"`) {
		t.Errorf("bad --http: %v; want the flag named", err)
	}
	if strings.Join(c.HTTP.Listen, " ") != "127.0.4.2:2 127.0.4.3:3" {
		t.Errorf("a refused --http changed the configuration: %v", c.HTTP.Listen)
	}
}
