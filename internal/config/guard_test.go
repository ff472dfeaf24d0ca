package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Retired cookie secrets are read as the current one is (hex, or a file relative to the
// configuration), and every mistake is named with its key and line.
func TestCookiePreviousSecrets(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "old.key"), []byte("0x00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.key"), []byte("not a secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const current = "ffeeddccbbaa99887766554433221100"
	c, err := Parse([]byte("cookies:\n  secret: "+current+"\n  previous_secrets:\n    - old.key\n    - 0123456789abcdef0123456789abcdef\n"), "warden.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Cookies.PreviousHex()
	if want := []string{"00112233445566778899aabbccddeeff", "0123456789abcdef0123456789abcdef"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("previous secrets %q %v, want %q", got, err, want)
	}

	for _, tt := range []struct {
		name, yaml, want string
	}{
		{"retired secrets without a current one",
			"cookies:\n  previous_secrets: [" + current + "]\n",
			"warden.yaml:2: cookies.previous_secrets: given without secret: set secret to the new secret, which makes the cookies"},
		{"a file that holds no secret",
			"cookies:\n  secret: " + current + "\n  previous_secrets:\n    - junk.key\n",
			"warden.yaml:4: cookies.previous_secrets[0]: file DIR/junk.key does not hold 32 hex digits"},
		{"a missing file",
			"cookies:\n  secret: " + current + "\n  previous_secrets: [gone.key]\n",
			"warden.yaml:3: cookies.previous_secrets[0]: neither 32 hex digits nor a readable file: open DIR/gone.key: no such file or directory"},
		{"an empty entry",
			"cookies:\n  secret: " + current + "\n  previous_secrets: [\"\"]\n",
			"warden.yaml:3: cookies.previous_secrets[0]: empty: want 32 hex digits or a file holding them"},
		{"the current secret again",
			"cookies:\n  secret: " + current + "\n  previous_secrets: [old.key, " + strings.ToUpper(current) + "]\n",
			"warden.yaml:3: cookies.previous_secrets[1]: the same secret as secret"},
		{"too many",
			"cookies:\n  secret: " + current + "\n  previous_secrets: [old.key, 10000000000000000000000000000000, 20000000000000000000000000000000, 30000000000000000000000000000000]\n",
			"warden.yaml:3: cookies.previous_secrets: 4 secrets, at most 3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "warden.yaml", dir)
			if err == nil {
				t.Fatal("accepted")
			}
			if want := strings.ReplaceAll(tt.want, "DIR", dir); err.Error() != want {
				t.Errorf("error:\n%s\nwant:\n%s", err, want)
			}
		})
	}
}
