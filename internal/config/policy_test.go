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

func TestBlocklistSection(t *testing.T) {
	dir := testDir(t)
	good := `policy:
  rpz:
    - {origin: ads.rpz., file: a.zone}
  blocklists:
    - name: steven
      source: a.zone
      format: hosts
      action: "null"
      clients: [10.0.0.0/8]
    - {name: remote, source: "https://lists.example/ads.txt", refresh: 1h, shadow: true}
    - {name: quick, source: "http://127.0.0.1:8080/l", refresh: 1m, action: nodata, format: adblock}
`
	c, err := Parse([]byte(good), "warden.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	b := c.Policy.Blocklists
	if len(b) != 3 || b[0].Source != filepath.Join(dir, "a.zone") || b[0].Action != "null" || b[0].IsURL() || len(b[0].Clients) != 1 ||
		b[1].Source != "https://lists.example/ads.txt" || !b[1].IsURL() || b[1].Refresh != time.Hour || !b[1].Shadow || b[2].Format != "adblock" {
		t.Fatalf("parsed %+v", b)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"policy:\n  blocklists:\n    - source: a.zone\n", "warden.yaml:3: policy.blocklists[0].name: required"},
		{"policy:\n  blocklists:\n    - {name: a, source: a.zone}\n    - {name: a, source: b.zone}\n",
			`warden.yaml:4: policy.blocklists[1].name: blocklist "a" is already blocklists[0]`},
		{"policy:\n  rpz:\n    - {origin: ads., file: a.zone}\n  blocklists:\n    - {name: ads, source: b.zone}\n",
			`warden.yaml:5: policy.blocklists[0].name: "ads" is the name of policy zone rpz[0]`},
		{"policy:\n  blocklists:\n    - name: my list\n      source: a.zone\n", `warden.yaml:3: policy.blocklists[0].name: "my list": want letters`},
		{"policy:\n  blocklists:\n    - name: a\n", "warden.yaml:3: policy.blocklists[0].source: required"},
		{"policy:\n  blocklists:\n    - name: a\n      source: missing.txt\n", "warden.yaml:4: policy.blocklists[0].source: stat"},
		{"policy:\n  blocklists:\n    - name: a\n      source: sub\n", "warden.yaml:4: policy.blocklists[0].source: DIR/sub is not a regular file"},
		{"policy:\n  blocklists:\n    - name: a\n      source: ftp://lists.example/x\n", `warden.yaml:4: policy.blocklists[0].source: "ftp://lists.example/x": want a file or an http:// or https:// URL`},
		{"policy:\n  blocklists:\n    - name: a\n      source: https:///x\n", `policy.blocklists[0].source: "https:///x": want an http(s) URL with a host`},
		{"policy:\n  blocklists:\n    - name: a\n      source: \"http://[::1/x\"\n", `policy.blocklists[0].source: "http://[::1/x": parse`},
		{"policy:\n  blocklists:\n    - name: a\n      source: a.zone\n      format: csv\n", `warden.yaml:5: policy.blocklists[0].format: "csv": want auto, hosts, domains or adblock`},
		{"policy:\n  blocklists:\n    - name: a\n      source: a.zone\n      action: refused\n", `warden.yaml:5: policy.blocklists[0].action: "refused": want nxdomain, nodata or null`},
		{"policy:\n  blocklists:\n    - name: a\n      source: https://l.example/x\n      refresh: 30s\n", "warden.yaml:5: policy.blocklists[0].refresh: 30s: a URL is fetched at most every 1m0s"},
		{"policy:\n  blocklists:\n    - name: a\n      source: a.zone\n      refresh: -1s\n", "warden.yaml:5: policy.blocklists[0].refresh: -1s: want a positive duration"},
		{"policy:\n  blocklists:\n    - name: a\n      source: a.zone\n      refresh: 1ms\n", "warden.yaml:5: policy.blocklists[0].refresh: 1ms: want at least 100ms"},
		{"policy:\n  blocklists:\n    - {name: a, source: a.zone, allow: true}\n", `unknown key "allow"`},
	} {
		_, err := Parse([]byte(tc.yaml), "warden.yaml", dir)
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir, "DIR"), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}

	// Tests may fetch URLs more often.
	defer func(d time.Duration) { minURLRefresh = d }(minURLRefresh)
	minURLRefresh = 0
	if _, err := Parse([]byte("policy:\n  blocklists:\n    - {name: a, source: \"http://127.0.0.1:1/x\", refresh: 100ms}\n"), "warden.yaml", dir); err != nil {
		t.Errorf("with the minimum lowered: %v", err)
	}
}

func TestApplyBlocklistFlags(t *testing.T) {
	dir := testDir(t)
	c, err := Parse([]byte("policy:\n  blocklists:\n    - {name: ads, source: a.zone, action: \"null\"}\n"), "warden.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	err = ApplyBlocklistFlags(c, []string{
		"ads=" + filepath.Join(dir, "b.zone"),               // replaces the file's entry, keeping its other keys
		filepath.Join(dir, "a.zone"),                        // named after the file
		"https://lists.example/hosts.txt?format=raw&v=2",    // after the URL's path, '=' in the query
		"https://lists.example/x/hosts.txt",                 // the same name taken: -2
		"https://lists.example/",                            // no path: the host
		"remote=https://lists.example/adblock?name=a=b.txt", // named
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range c.Policy.Blocklists {
		got = append(got, b.Name+" "+strings.ReplaceAll(b.Source, dir, "DIR")+" "+b.Action)
	}
	want := []string{
		"ads DIR/b.zone null",
		"a DIR/a.zone ",
		"hosts https://lists.example/hosts.txt?format=raw&v=2 ",
		"hosts-2 https://lists.example/x/hosts.txt ",
		"lists.example https://lists.example/ ",
		"remote https://lists.example/adblock?name=a=b.txt ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after flags:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, v := range []string{"x=", filepath.Join(dir, "missing.txt"), "ftp://lists.example/x"} {
		err := ApplyBlocklistFlags(c, []string{v})
		if err == nil || !strings.Contains(err.Error(), "--blocklist") {
			t.Errorf("--blocklist %s: %v", v, err)
		}
	}
}
