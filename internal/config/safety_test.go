package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestControlSection(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"good.token":  "  0123456789abcdef-long-enough\n",
		"short.token": "0123456789abcde\n",
		"empty.token": "\n\n",
		"space.token": "0123456789 abcdef0123\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Parse([]byte("control:\n  socket: run/c.sock\n  http:\n    listen: 127.0.0.1:8953\n    token_file: good.token\n"), "warden.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if h := c.Control.HTTP; c.Control.Socket != filepath.Join(dir, "run/c.sock") || h.Listen != "127.0.0.1:8953" || h.TokenFile != filepath.Join(dir, "good.token") {
		t.Fatalf("parsed %+v", c.Control)
	}
	if tok, err := ReadToken(c.Control.HTTP.TokenFile); err != nil || string(tok) != "0123456789abcdef-long-enough" {
		t.Fatalf("ReadToken: %q, %v", tok, err)
	}
	// A token file without a listener is harmless: a client's configuration may name it.
	if _, err := Parse([]byte("control:\n  http: {token_file: missing.token}\n"), "warden.yaml", dir); err != nil {
		t.Fatalf("token_file alone: %v", err)
	}
	if d := Default().Control; d.HTTP.Listen != "" || d.HTTP.TokenFile != "" {
		t.Fatalf("HTTP control is on by default: %+v", d)
	}

	for _, tc := range []struct{ yaml, want string }{
		{"control:\n  http:\n    listen: 127.0.0.1:8953\n", "warden.yaml:2: control.http.token_file: required when http.listen is set"},
		{"control:\n  http:\n    listen: 127.0.0.1:8953\n    token_file: short.token\n", "warden.yaml:4: control.http.token_file: DIR/short.token: the token is 15 bytes; want at least 16"},
		{"control:\n  http:\n    listen: 127.0.0.1:8953\n    token_file: empty.token\n", "control.http.token_file: DIR/empty.token: the token is 0 bytes"},
		{"control:\n  http:\n    listen: 127.0.0.1:8953\n    token_file: space.token\n", `control.http.token_file: DIR/space.token: byte 10 of the token is ' '`},
		{"control:\n  http:\n    listen: 127.0.0.1:8953\n    token_file: missing.token\n", "warden.yaml:4: control.http.token_file: stat DIR/missing.token: no such file"},
		{"control:\n  http:\n    listen: 127.0.0.1:8953\n    token_file: /dev/null\n", "control.http.token_file: /dev/null is not a regular file"},
		{"control:\n  http:\n    listen: localhost:8953\n    token_file: good.token\n", `warden.yaml:3: control.http.listen: "localhost:8953": want an IP address and port`},
		{"control:\n  http:\n    listen: 127.0.0.1\n    token_file: good.token\n", `control.http.listen: "127.0.0.1": want an IP address and port`},
		{"control:\n  socket: /" + strings.Repeat("s", 110) + "\n", "warden.yaml:2: control.socket: \"/sss"},
		{"control:\n  http:\n    port: 8953\n", `unknown key "port"`},
	} {
		_, err := Parse([]byte(tc.yaml), "warden.yaml", dir)
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir, "DIR"), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// FuzzParseToken: a token file's content is accepted only as printable ASCII of the minimum
// length, and never panics.
func FuzzParseToken(f *testing.F) {
	for _, seed := range []string{"", "\n", "0123456789abcdef", " 0123456789abcdef\r\n", "0123456789abcdef\x00", "é0123456789abcdef"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := ParseToken(data)
		if err != nil {
			return
		}
		if len(tok) < MinTokenLen {
			t.Fatalf("accepted %d bytes", len(tok))
		}
		for _, b := range tok {
			if b <= ' ' || b > '~' {
				t.Fatalf("accepted byte %q", b)
			}
		}
	})
}
