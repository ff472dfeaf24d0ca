package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestApplyFlags(t *testing.T) {
	dir := testDir(t)
	a, b := filepath.Join(dir, "a.zone"), filepath.Join(dir, "b.zone")
	fromFile := func(t *testing.T) *Config {
		c, err := Parse([]byte("listen:\n  - 127.0.0.1:5300\nzones:\n  - origin: a.test.\n    file: a.zone\n"), "warden.yaml", dir)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name       string
		base       func(t *testing.T) *Config
		listen     []string
		zones      []string
		wantListen []string
		wantZones  []ZoneConfig
		wantErr    string // DIR stands for the test directory
	}{
		{
			name:       "no flags leave the default alone",
			base:       func(*testing.T) *Config { return Default() },
			wantListen: []string{"127.0.0.1:1053"},
			wantZones:  []ZoneConfig{{Origin: "example.test.", Data: exampleZone}},
		},
		{
			name:       "listen flags replace the listeners",
			base:       fromFile,
			listen:     []string{"127.0.0.1:53", "[::1]:53"},
			wantListen: []string{"127.0.0.1:53", "[::1]:53"},
			wantZones:  []ZoneConfig{{Origin: "a.test.", File: a}},
		},
		{
			name:       "zone flags replace the built-in example zone",
			base:       func(*testing.T) *Config { return Default() },
			zones:      []string{"B.Test=" + b, "a.test.=" + a},
			wantListen: []string{"127.0.0.1:1053"},
			wantZones:  []ZoneConfig{{Origin: "b.test.", File: b}, {Origin: "a.test.", File: a}},
		},
		{
			name:       "zone flags add to the zones of a file",
			base:       fromFile,
			zones:      []string{"b.test=" + b},
			wantListen: []string{"127.0.0.1:5300"},
			wantZones:  []ZoneConfig{{Origin: "a.test.", File: a}, {Origin: "b.test.", File: b}},
		},
		{
			name:    "listen flag that is not IP:port",
			base:    fromFile,
			listen:  []string{"127.0.0.1:53", "localhost:53"},
			wantErr: `--listen "localhost:53": not an IP address and port, as 127.0.0.1:53 or "[::1]:53"`,
		},
		{
			name:    "the same listener twice",
			base:    fromFile,
			listen:  []string{"127.0.0.1:53", "127.0.0.1:53"},
			wantErr: `--listen "127.0.0.1:53": listen[1]: 127.0.0.1:53 is already listen[0]`,
		},
		{
			name:    "zone flag without =",
			base:    fromFile,
			zones:   []string{"b.test", "=b.zone", "b.test="},
			wantErr: `--zone "b.test": want ORIGIN=FILE, as example.test.=example.test.zone` + "\n" + `--zone "=b.zone": want ORIGIN=FILE, as example.test.=example.test.zone` + "\n" + `--zone "b.test=": want ORIGIN=FILE, as example.test.=example.test.zone`,
		},
		{
			name:    "zone flag with a bad origin and a missing file (the file is the zone loader's to report)",
			base:    func(*testing.T) *Config { return Default() },
			zones:   []string{"bad name=DIR/nope.zone"},
			wantErr: `--zone "bad name=DIR/nope.zone": zones[0].origin: "bad name." is not a valid domain name`,
		},
		{
			name:    "zone flag repeating a zone of the file",
			base:    fromFile,
			zones:   []string{"A.TEST=" + b},
			wantErr: `--zone "A.TEST=` + b + `": zones[1].origin: zone "a.test." is already zones[0]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.base(t)
			before := c.clone()
			zones := make([]string, len(tt.zones))
			for i, z := range tt.zones {
				zones[i] = strings.ReplaceAll(z, "DIR", dir)
			}
			err := ApplyFlags(c, tt.listen, zones)
			if tt.wantErr != "" {
				if want := strings.ReplaceAll(tt.wantErr, "DIR", dir); err == nil || err.Error() != want {
					t.Errorf("err:\n%v\nwant:\n%s", err, want)
				}
				if !reflect.DeepEqual(c, before) {
					t.Errorf("a failed ApplyFlags changed the config")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var listen []string
			for _, a := range c.Listen {
				listen = append(listen, a.String())
			}
			if !reflect.DeepEqual(listen, tt.wantListen) {
				t.Errorf("listen = %v, want %v", listen, tt.wantListen)
			}
			if !reflect.DeepEqual([]ZoneConfig(c.Zones), tt.wantZones) {
				t.Errorf("zones = %+v, want %+v", c.Zones, tt.wantZones)
			}
		})
	}
}

// TestApplyFlagsLinesStay checks that, after flags are applied, a problem with a key the file set
// still points at its line.
func TestApplyFlagsLinesStay(t *testing.T) {
	dir := testDir(t)
	c, err := Parse([]byte("policy:\n  rpz:\n    - origin: a.rpz.\n      file: a.zone\n"), "warden.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "a.zone")); err != nil {
		t.Fatal(err)
	}
	err = ApplyFlags(c, []string{"127.0.0.9:53"}, nil)
	want := "warden.yaml:4: policy.rpz[0].file: stat " + filepath.Join(dir, "a.zone") + ": no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	if c.Listen[0].AddrPort != netip.MustParseAddrPort("127.0.0.1:1053") {
		t.Errorf("listen changed to %v by a failed ApplyFlags", c.Listen)
	}
}

func TestApplyResolverFlags(t *testing.T) {
	c := Default()
	if c.Resolver.Enabled() {
		t.Fatal("recursion on by default")
	}
	if err := ApplyResolverFlags(c, "iana", nil, false); err != nil || !c.Resolver.Enabled() {
		t.Fatalf("iana: %v", err)
	}
	if err := ApplyResolverFlags(c, "", nil, true); err != nil || c.Resolver.Enabled() {
		t.Fatalf("--no-recursion: %v", err)
	}
	err := ApplyResolverFlags(c, "/no/such/hints", nil, false)
	if err == nil || !strings.Contains(err.Error(), "--root-hints") || !strings.Contains(err.Error(), "resolver.root_hints") {
		t.Fatalf("missing hints file: %v", err)
	}
	if c.Resolver.Enabled() {
		t.Fatal("a failed flag changed the config")
	}
	if n := c.Resolver.AllowedNets(); len(n) != len(DefaultAllow) {
		t.Fatalf("default allow %v", n)
	}
}

func TestForwardFlags(t *testing.T) {
	c := Default()
	if err := ApplyResolverFlags(c, "", []string{"127.0.0.1:5300,tls://127.0.0.1:853#dns.test", "Corp.Example=127.0.0.2:53"}, false); err != nil {
		t.Fatal(err)
	}
	f := c.Resolver.Forward
	if !c.Resolver.Enabled() || len(f) != 2 || f[0].Zone != "." || len(f[0].Upstreams) != 2 || f[1].Zone != "corp.example." {
		t.Fatalf("%+v", f)
	}
	err := ApplyResolverFlags(c, "", []string{"corp.example.=ftp://x"}, false)
	if err == nil || !strings.Contains(err.Error(), "--forward") {
		t.Fatalf("bad upstream: %v", err)
	}
	if err := ApplyResolverFlags(c, "", []string{"corp.example.="}, false); err == nil {
		t.Fatal("empty upstream list accepted")
	}
}

func TestResolverTTLRange(t *testing.T) {
	_, err := Parse([]byte("resolver:\n  min_ttl: 2h\n  max_ttl: 1h\n"), "warden.yaml", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "warden.yaml:2") || !strings.Contains(err.Error(), "resolver.min_ttl") {
		t.Fatalf("error %v", err)
	}
	c, err := Parse([]byte("resolver:\n  stale_ttl: 0\n  max_ttl: 1h\n"), "warden.yaml", t.TempDir())
	if err != nil || c.Resolver.StaleTTL != 0 || c.Resolver.MaxTTL.Hours() != 1 {
		t.Fatalf("%v %+v", err, c)
	}
}

func TestApplyTransferFlags(t *testing.T) {
	c := Default()
	if err := ApplyTransferFlags(c, []string{"Example.COM=192.0.2.1", "example.com.=[2001:db8::1]:5300"}, "xfr:hmac-sha256:c2VjcmV0", nil); err != nil {
		t.Fatal(err)
	}
	if len(c.Zones) != 1 {
		t.Fatalf("zones = %+v; want only example.com. (the built-in zone gives way)", c.Zones)
	}
	z := c.Zones[0]
	want := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:53"), netip.MustParseAddrPort("[2001:db8::1]:5300")}
	if z.Origin != "example.com." || !slices.Equal(z.Primaries, want) || z.Key != "xfr." || !z.IsSecondary() {
		t.Fatalf("zone = %+v", z)
	}
	if k, ok := c.Keys.Find("XFR"); !ok || k.Algorithm != "hmac-sha256" || string(k.SecretBytes()) != "secret" {
		t.Fatalf("key = %+v, %v", k, ok)
	}
	for _, tc := range []struct {
		secondary []string
		tsig      string
		want      string
	}{
		{[]string{"example.com."}, "", `--secondary "example.com.": want ORIGIN=ADDR[:PORT]`},
		{[]string{"example.com.=nowhere"}, "", `"nowhere" is not an IP address`},
		{nil, "xfr:hmac-md5:c2VjcmV0", `--tsig: algorithm: "hmac-md5" is not one of`},
		{nil, "xfr:hmac-sha256:not base64!", "--tsig: secret: not base64"},
		{nil, "xfr-hmac-sha256", "--tsig: want NAME:ALGORITHM:BASE64SECRET"},
	} {
		err := ApplyTransferFlags(Default(), tc.secondary, tc.tsig, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %q: err = %v; want it to contain %q", tc.secondary, tc.tsig, err, tc.want)
		}
	}
}

func TestReplicationConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"zones:\n  - origin: a.\n    primaries: [192.0.2.1:53]\n    key: nokey\n", `zones[0].key: no key "nokey." in keys`},
		{"zones:\n  - origin: a.\n    primaries: [192.0.2.1:53]\n    allow_update: [127.0.0.1/32]\n", "a secondary takes no updates"},
		{"zones:\n  - origin: a.\n    role: catalogue\n", `"catalogue" is not a role`},
		{"zones:\n  - origin: a.\n    primaries: [192.0.2.1:53]\n    catalog: cat.\n", "only a primary's zones are listed"},
		{"keys:\n  - name: k\n    algorithm: hmac-sha256\n    secret: c2VjcmV0\n  - name: K.\n    algorithm: hmac-sha512\n    secret: c2VjcmV0\n", `keys[1].name: key "K." is already keys[0]`},
	} {
		_, err := Parse([]byte(tc.yaml), "warden.yaml", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v; want it to contain %q", tc.yaml, err, tc.want)
		}
	}
	c, err := Parse([]byte("zones:\n  - origin: cat.\n    role: catalog\n  - origin: a.\n    primaries: [\"192.0.2.1:53\"]\n"), "warden.yaml", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !c.Zones[0].IsProducedCatalog() || !c.Zones[1].IsSecondary() {
		t.Fatalf("zones = %+v", c.Zones)
	}
}
