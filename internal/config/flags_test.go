package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
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
			wantErr: `--listen "localhost:53": not an IP address and port, as 127.0.0.1:53 or [::1]:53`,
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
			name:    "zone flag with a bad origin and a missing file",
			base:    func(*testing.T) *Config { return Default() },
			zones:   []string{"bad name=DIR/nope.zone"},
			wantErr: `--zone "bad name=DIR/nope.zone": zones[0].origin: "bad name." is not a valid domain name` + "\n" + `--zone "bad name=DIR/nope.zone": zones[0].file: stat DIR/nope.zone: no such file or directory`,
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
	c, err := Parse([]byte("zones:\n  - origin: a.test.\n    file: a.zone\n"), "warden.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "a.zone")); err != nil {
		t.Fatal(err)
	}
	err = ApplyFlags(c, []string{"127.0.0.9:53"}, nil)
	want := "warden.yaml:3: zones[0].file: stat " + filepath.Join(dir, "a.zone") + ": no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	if c.Listen[0] != netip.MustParseAddrPort("127.0.0.1:1053") {
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
