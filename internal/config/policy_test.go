package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPolicySection(t *testing.T) {
	dir := testDir(t)
	good := "policy:\n  rpz:\n    - origin: One.RPZ\n      file: a.zone\n      override: cname\n      cname: walled.example.\n" +
		"      max_policy_ttl: 60s\n      clients: [10.0.0.0/8]\n    - {origin: two.rpz., file: b.zone, shadow: true}\n"
	c, err := Parse([]byte(good), "warden.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	z := c.Policy.RPZ
	if len(z) != 2 || z[0].Origin != "one.rpz." || z[0].File != filepath.Join(dir, "a.zone") || z[0].MaxPolicyTTL != 60*time.Second ||
		len(z[0].Clients) != 1 || !z[1].Shadow {
		t.Fatalf("parsed %+v", z)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"policy:\n  rpz:\n    - file: a.zone\n", "warden.yaml:3: policy.rpz[0].origin: required"},
		{"policy:\n  rpz:\n    - origin: a.rpz\n      file: missing.zone\n", "warden.yaml:4: policy.rpz[0].file: stat"},
		{"policy:\n  rpz:\n    - origin: a.rpz\n      file: a.zone\n      override: block\n", `warden.yaml:5: policy.rpz[0].override: "block": want given`},
		{"policy:\n  rpz:\n    - origin: a.rpz\n      file: a.zone\n      override: cname\n", "warden.yaml:3: policy.rpz[0].cname: \"\": override cname needs"},
		{"policy:\n  rpz:\n    - origin: a.rpz\n      file: a.zone\n      max_policy_ttl: 1500ms\n", "warden.yaml:5: policy.rpz[0].max_policy_ttl: 1.5s"},
		{"policy:\n  rpz:\n    - {origin: a.rpz, file: a.zone}\n    - {origin: A.rpz., file: b.zone}\n", "warden.yaml:4: policy.rpz[1].origin: policy zone \"a.rpz.\" is already rpz[0]"},
		{"policy:\n  rpz:\n    - {origin: a.rpz, file: a.zone, zone: x}\n", `unknown key "zone"`},
	} {
		_, err := Parse([]byte(tc.yaml), "warden.yaml", dir)
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir, "DIR"), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestApplyPolicyFlags(t *testing.T) {
	dir := testDir(t)
	c, err := Parse([]byte("policy:\n  rpz:\n    - {origin: a.rpz, file: a.zone}\n"), "warden.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyPolicyFlags(c, []string{"b.rpz=" + filepath.Join(dir, "b.zone"), "A.rpz.=" + filepath.Join(dir, "b.zone")}); err != nil {
		t.Fatal(err)
	}
	if z := c.Policy.RPZ; len(z) != 2 || z[0].Origin != "a.rpz." || z[0].File != filepath.Join(dir, "b.zone") || z[1].Origin != "b.rpz." {
		t.Fatalf("after flags: %+v", z)
	}
	for _, v := range []string{"norpz", "c.rpz=" + filepath.Join(dir, "missing.zone")} {
		if err := ApplyPolicyFlags(c, []string{v}); err == nil || !strings.Contains(err.Error(), "--rpz") {
			t.Errorf("--rpz %s: %v", v, err)
		}
	}
}
