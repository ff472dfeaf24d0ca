package config

import (
	"strings"
	"testing"
)

// TestUser: user names an account of this system; one that does not exist is an error naming the
// line or the flag.
func TestUser(t *testing.T) {
	if Default().User != "" {
		t.Fatalf("default user %q, want none", Default().User)
	}
	c, err := Parse([]byte("user: root\n"), "warden.yaml", t.TempDir())
	if err != nil || c.User != "root" {
		t.Fatalf("user: root: %v, %q", err, c.User)
	}
	_, err = Parse([]byte("listen: [127.0.0.1:53]\nuser: no-such-user-here\n"), "warden.yaml", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "warden.yaml:2") || !strings.Contains(err.Error(), `no user "no-such-user-here"`) {
		t.Fatalf("unknown user: %v", err)
	}
	err = ApplyUserFlag(Default(), "no-such-user-here")
	if err == nil || !strings.Contains(err.Error(), `--user "no-such-user-here"`) {
		t.Fatalf("unknown --user: %v", err)
	}
	d := Default()
	if err := ApplyUserFlag(d, "0"); err != nil || d.User != "0" {
		t.Fatalf("--user 0: %v, %q", err, d.User)
	}
}
