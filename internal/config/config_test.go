package config

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testDir makes a directory holding a.zone and b.zone (readable zone files) and sub/ (a directory,
// which is not a zone file), for configs that name zone files.
func testDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"a.zone", "b.zone"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("; empty\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestParseValid(t *testing.T) {
	dir := testDir(t)
	def := Default()
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "empty file keeps every default and serves no zone",
			yaml: "",
			check: func(t *testing.T, c *Config) {
				if !reflect.DeepEqual(c.Listen, def.Listen) || c.Limits != def.Limits || c.Log != def.Log || c.Reload != def.Reload {
					t.Errorf("got %+v, want the defaults", c)
				}
				if len(c.Zones) != 0 {
					t.Errorf("zones = %v, want none", c.Zones)
				}
			},
		},
		{
			name: "comments only",
			yaml: "# nothing set yet\n",
			check: func(t *testing.T, c *Config) {
				if c.Limits != def.Limits {
					t.Errorf("limits = %+v, want defaults", c.Limits)
				}
			},
		},
		{
			name: "every key",
			yaml: `
listen:
  - 127.0.0.1:5300
  - "[::1]:5300"
  - 0.0.0.0:0
  - 0.0.0.0:0
  - tls://127.0.0.1
  - https://127.0.0.1:8443
  - "https://[::1]/q"
  - quic://127.0.0.1
tls:
  cert: a.zone
  key: b.zone
zones:
  - origin: Example.TEST
    file: a.zone
  - origin: "."
    file: ` + filepath.Join(dir, "b.zone") + `
limits:
  udp_payload: 4096
  udp_workers: 4
  tcp_idle_timeout: 1m30s
  tcp_max_connections: 10
  tcp_max_pipelined: 1
  tls_handshake_timeout: 2s
  tls_idle_timeout: 1m
  tls_max_connections: 50
  tls_max_connections_per_client: 5
  tls_max_streams: 10
log:
  level: debug
  format: json
reload:
  watch_interval: 0
`,
			check: func(t *testing.T, c *Config) {
				want := Listeners{
					ListenAddr{AddrPort: netip.MustParseAddrPort("127.0.0.1:5300")},
					ListenAddr{AddrPort: netip.MustParseAddrPort("[::1]:5300")},
					ListenAddr{AddrPort: netip.MustParseAddrPort("0.0.0.0:0")},
					ListenAddr{AddrPort: netip.MustParseAddrPort("0.0.0.0:0")},
					ListenAddr{Scheme: "tls", AddrPort: netip.MustParseAddrPort("127.0.0.1:853")},
					ListenAddr{Scheme: "https", AddrPort: netip.MustParseAddrPort("127.0.0.1:8443"), Path: "/dns-query"},
					ListenAddr{Scheme: "https", AddrPort: netip.MustParseAddrPort("[::1]:443"), Path: "/q"},
					ListenAddr{Scheme: "quic", AddrPort: netip.MustParseAddrPort("127.0.0.1:853")},
				}
				if c.TLS != (TLSConfig{Cert: filepath.Join(dir, "a.zone"), Key: filepath.Join(dir, "b.zone")}) {
					t.Errorf("tls = %+v, want both paths from the config's directory", c.TLS)
				}
				if !reflect.DeepEqual(c.Listen, want) {
					t.Errorf("listen = %v, want %v", c.Listen, want)
				}
				wantZones := Zones{
					{Origin: "example.test.", File: filepath.Join(dir, "a.zone")},
					{Origin: ".", File: filepath.Join(dir, "b.zone")},
				}
				if !reflect.DeepEqual(c.Zones, wantZones) {
					t.Errorf("zones = %+v, want %+v", c.Zones, wantZones)
				}
				wantLimits := LimitsConfig{UDPPayload: 4096, UDPWorkers: 4, TCPIdleTimeout: 90 * time.Second, TCPMaxConnections: 10, TCPMaxPipelined: 1,
					TLSHandshakeTimeout: 2 * time.Second, TLSIdleTimeout: time.Minute, TLSMaxConnections: 50, TLSMaxConnectionsPerClient: 5, TLSMaxStreams: 10}
				if c.Limits != wantLimits {
					t.Errorf("limits = %+v, want %+v", c.Limits, wantLimits)
				}
				if c.Log != (LogConfig{Level: "debug", Format: "json"}) {
					t.Errorf("log = %+v", c.Log)
				}
				if c.Reload.WatchInterval != 0 {
					t.Errorf("watch_interval = %v, want 0", c.Reload.WatchInterval)
				}
			},
		},
		{
			name: "a section left out or empty keeps its defaults",
			yaml: "limits:\n  udp_payload: 512\nlog:\nreload: {}\n",
			check: func(t *testing.T, c *Config) {
				want := def.Limits
				want.UDPPayload = 512
				if c.Limits != want || c.Log != def.Log || c.Reload != def.Reload {
					t.Errorf("got limits %+v log %+v reload %+v", c.Limits, c.Log, c.Reload)
				}
			},
		},
		{
			name: "flow style and quoted durations",
			yaml: "listen: [\"127.0.0.2:53\"]\nlimits: {tcp_idle_timeout: \"250ms\"}\nreload: {watch_interval: 100ms}\n",
			check: func(t *testing.T, c *Config) {
				if c.Limits.TCPIdleTimeout != 250*time.Millisecond || c.Reload.WatchInterval != 100*time.Millisecond {
					t.Errorf("got %v and %v", c.Limits.TCPIdleTimeout, c.Reload.WatchInterval)
				}
			},
		},
		{
			name: "origins are made fully qualified and lower-case",
			yaml: "zones:\n  - origin: WWW.Example.Test\n    file: a.zone\n  - origin: 0/25.2.0.192.in-addr.arpa\n    file: b.zone\n",
			check: func(t *testing.T, c *Config) {
				if c.Zones[0].Origin != "www.example.test." || c.Zones[1].Origin != "0/25.2.0.192.in-addr.arpa." {
					t.Errorf("origins = %q, %q", c.Zones[0].Origin, c.Zones[1].Origin)
				}
			},
		},
		{
			name: "a document marker is fine",
			yaml: "---\nlog:\n  level: warn\n...\n",
			check: func(t *testing.T, c *Config) {
				if c.Log.Level != "warn" {
					t.Errorf("level = %q", c.Log.Level)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), "warden.yaml", dir)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate after Parse: %v", err)
			}
		})
	}
}

// TestParseErrors checks each kind of problem and the whole message: every line must name the
// file, the line (and column, for what the YAML itself gets wrong) and the key.
func TestParseErrors(t *testing.T) {
	dir := testDir(t)
	tests := []struct {
		name string
		yaml string
		want string // DIR stands for the test directory
	}{
		{
			name: "unknown top-level key",
			yaml: "lisen:\n  - 127.0.0.1:53\n",
			want: `warden.yaml:1:1: unknown key "lisen" (did you mean "listen"?)`,
		},
		{
			name: "unknown keys are all reported, nested ones under their section",
			yaml: "limits:\n  udp_payloa: 1232\n  TCP_idle_timeout: 5s\nlog:\n  colour: true\n",
			want: `warden.yaml:2:3: limits: unknown key "udp_payloa" (did you mean "udp_payload"?)` + "\n" +
				`warden.yaml:3:3: limits: unknown key "TCP_idle_timeout" (did you mean "tcp_idle_timeout"?)` + "\n" +
				`warden.yaml:5:3: log: unknown key "colour"`,
		},
		{
			name: "YAML's null for the null action",
			yaml: "policy:\n  blocklists:\n    - name: ads\n      source: a.zone\n      action: null\n",
			want: `warden.yaml:5:15: policy.blocklists[0].action: null is YAML's empty value; write "null" in quotes for the null action`,
		},
		{
			name: "YAML's null, spelt any way, where any string is expected",
			yaml: "log:\n  level: ~\nzones:\n  - {origin: NULL, file: a.zone}\nlisten: [Null]\nlimits:\n  tcp_idle_timeout: null\n",
			want: `warden.yaml:2:10: log.level: ~ is YAML's empty value; write "~" in quotes for the word ~` + "\n" +
				`warden.yaml:4:14: zones[0].origin: NULL is YAML's empty value; write "NULL" in quotes for the word NULL` + "\n" +
				`warden.yaml:5:10: listen[0]: Null is YAML's empty value; write "Null" in quotes for the word Null` + "\n" +
				`warden.yaml:7:21: limits.tcp_idle_timeout: null is YAML's empty value; write "null" in quotes for the word null`,
		},
		{
			name: "a string key with no value",
			yaml: "zones:\n  - origin: example.com.\n    file:\n",
			want: `warden.yaml:3:11: zones[0].file: no value; write "" for an empty string, or leave the key out for its default`,
		},
		{
			name: "encrypted listener without a certificate",
			yaml: "listen:\n  - tls://127.0.0.1:853\n",
			want: `warden.yaml:2: listen[0]: tls://127.0.0.1:853 needs tls.cert and tls.key (or --tls-cert and --tls-key)`,
		},
		{
			name: "certificate and key missing, one without the other",
			yaml: "listen:\n  - quic://127.0.0.1\ntls:\n  cert: nosuch.pem\n",
			want: `warden.yaml:3: tls.key: required with cert` + "\n" +
				`warden.yaml:4: tls.cert: stat DIR/nosuch.pem: no such file or directory`,
		},
		{
			name: "certificate is a directory",
			yaml: "tls:\n  cert: sub\n  key: a.zone\n",
			want: `warden.yaml:2: tls.cert: DIR/sub is not a regular file`,
		},
		{
			name: "bad encrypted listeners",
			yaml: "listen:\n  - ftp://127.0.0.1:21\n  - tls://127.0.0.1:853/x\n  - https://localhost/dns-query\n  - 127.0.0.1:853\n  - quic://127.0.0.1:853\n  - tls://127.0.0.1:853\n",
			want: `warden.yaml:2:5: listen[0]: "ftp://127.0.0.1:21" has scheme "ftp"; want tls://, https:// or quic://` + "\n" +
				`warden.yaml:3:5: listen[1]: "tls://127.0.0.1:853/x" has a path; tls:// takes none` + "\n" +
				`warden.yaml:4:5: listen[2]: "https://localhost/dns-query" is not an IP address with an optional port after the scheme`,
		},
		{
			name: "encrypted listener on a port taken by a plain one",
			yaml: "listen:\n  - 127.0.0.1:853\n  - quic://127.0.0.1:853\n  - tls://127.0.0.1:853\ntls: {cert: a.zone, key: b.zone}\n",
			want: `warden.yaml:3: listen[1]: quic://127.0.0.1:853 is already listen[0]` + "\n" +
				`warden.yaml:4: listen[2]: tls://127.0.0.1:853 is already listen[0]`,
		},
		{
			name: "tls limits",
			yaml: "limits:\n  tls_handshake_timeout: 0\n  tls_max_connections: 10\n  tls_max_connections_per_client: 11\n  tls_max_streams: 5000\n",
			want: `warden.yaml:2: limits.tls_handshake_timeout: 0s is not positive` + "\n" +
				`warden.yaml:4: limits.tls_max_connections_per_client: 11 is outside 1..tls_max_connections (10)` + "\n" +
				`warden.yaml:5: limits.tls_max_streams: 5000 is outside 1..1000`,
		},
		{
			name: "unknown key in a zone",
			yaml: "zones:\n  - origin: a.test.\n    file: a.zone\n    type: primary\n",
			want: `warden.yaml:4:5: zones[0]: unknown key "type"`,
		},
		{
			name: "invalid origin",
			yaml: "listen:\n  - 127.0.0.1:53\nzones:\n  - origin: a.test.\n    file: a.zone\n  - file: b.zone\n    origin: exa mple.\n",
			want: `warden.yaml:7: zones[1].origin: "exa mple." is not a valid domain name`,
		},
		{
			name: "origin with an escape, an empty label, a long label",
			yaml: "zones:\n  - {origin: 'a\\065.test', file: a.zone}\n  - {origin: a..test, file: a.zone}\n  - {origin: " +
				strings.Repeat("x", 64) + ".test, file: a.zone}\n",
			want: `warden.yaml:2: zones[0].origin: "a\\065.test." is not a valid domain name` + "\n" +
				`warden.yaml:3: zones[1].origin: "a..test." is not a valid domain name` + "\n" +
				`warden.yaml:4: zones[2].origin: "` + strings.Repeat("x", 64) + `.test." is not a valid domain name`,
		},
		{
			name: "missing origin and file point at the zone's entry",
			yaml: "zones:\n  - file: a.zone\n  - origin: b.test\n",
			want: "warden.yaml:2: zones[0].origin: required\nwarden.yaml:3: zones[1].file: required",
		},
		{
			name: "duplicate origin, compared in canonical form",
			yaml: "zones:\n  - origin: a.test.\n    file: a.zone\n  - origin: A.Test\n    file: b.zone\n",
			want: `warden.yaml:4: zones[1].origin: zone "a.test." is already zones[0]`,
		},
		{
			name: "no listener",
			yaml: "listen: []\n",
			want: "warden.yaml:1: listen: at least one address is required",
		},
		{
			name: "duplicate listener",
			yaml: "listen:\n  - 127.0.0.1:53\n  - \"[::1]:53\"\n  - 127.0.0.1:53\n",
			want: "warden.yaml:4: listen[2]: 127.0.0.1:53 is already listen[0]",
		},
		{
			name: "listener that is not IP:port",
			yaml: "listen:\n  - localhost:53\n  - 127.0.0.1\n  - 53\n",
			want: `warden.yaml:2:5: listen[0]: "localhost:53" is not an IP address and port, as 127.0.0.1:53 or "[::1]:53"` + "\n" +
				`warden.yaml:3:5: listen[1]: "127.0.0.1" is not an IP address and port, as 127.0.0.1:53 or "[::1]:53"` + "\n" +
				`warden.yaml:4:5: listen[2]: want an IP address and port, as 127.0.0.1:53, got the number 53`,
		},
		{
			name: "unquoted IPv6 listener",
			yaml: "listen:\n  - [::1]:53\n",
			want: `warden.yaml:2:10: value is not allowed in this context (an IPv6 address with a port must be quoted: "[::1]:53")`,
		},
		{
			name: "listen as a single string",
			yaml: "listen: 127.0.0.1:53\n",
			want: `warden.yaml:1:9: listen: want a list, got the string "127.0.0.1:53"`,
		},
		{
			name: "udp_payload out of range, both ends",
			yaml: "limits:\n  udp_payload: 511\n",
			want: "warden.yaml:2: limits.udp_payload: 511 is outside 512..4096",
		},
		{
			name: "udp_payload above range",
			yaml: "limits:\n  udp_payload: 4097\n",
			want: "warden.yaml:2: limits.udp_payload: 4097 is outside 512..4096",
		},
		{
			name: "negative and zero counts and durations",
			yaml: "limits:\n  udp_workers: -1\n  tcp_idle_timeout: -1s\n  tcp_max_connections: 0\n  tcp_max_pipelined: -5\nreload:\n  watch_interval: -2s\n",
			want: "warden.yaml:2: limits.udp_workers: -1 is outside 0..1024 (0 means one per CPU)\n" +
				"warden.yaml:3: limits.tcp_idle_timeout: -1s is not positive\n" +
				"warden.yaml:4: limits.tcp_max_connections: 0 is less than 1\n" +
				"warden.yaml:5: limits.tcp_max_pipelined: -5 is less than 1\n" +
				"warden.yaml:7: reload.watch_interval: -2s is neither 0 (off) nor at least 100ms",
		},
		{
			name: "idle timeout of 0",
			yaml: "limits:\n  tcp_idle_timeout: 0\n",
			want: "warden.yaml:2: limits.tcp_idle_timeout: 0s is not positive",
		},
		{
			name: "watch interval too short",
			yaml: "reload:\n  watch_interval: 1ms\n",
			want: "warden.yaml:2: reload.watch_interval: 1ms is neither 0 (off) nor at least 100ms",
		},
		{
			name: "durations without a unit or with a bad one",
			yaml: "limits:\n  tcp_idle_timeout: 10\nreload:\n  watch_interval: 5x\n",
			want: "warden.yaml:2:21: limits.tcp_idle_timeout: 10 has no unit; write it as 10s, 500ms or 1m30s\n" +
				`warden.yaml:4:19: reload.watch_interval: "5x" is not a duration, as 10s, 500ms or 1m30s`,
		},
		{
			name: "numbers of the wrong kind",
			yaml: "limits:\n  udp_payload: big\n  udp_workers: 1.5\n  tcp_max_connections: 99999999999999999999\n",
			want: `warden.yaml:2:16: limits.udp_payload: want a whole number, got the string "big"` + "\n" +
				"warden.yaml:3:16: limits.udp_workers: want a whole number, got the number 1.5\n" +
				"warden.yaml:4:24: limits.tcp_max_connections: 99999999999999999999 is out of range",
		},
		{
			name: "log level and format",
			yaml: "log:\n  level: verbose\n  format: xml\n",
			want: `warden.yaml:2: log.level: "verbose" is not one of debug, info, warn, error` + "\n" +
				`warden.yaml:3: log.format: "xml" is not one of text, json`,
		},
		{
			name: "a section that is not a mapping",
			yaml: "limits: 5\n",
			want: "warden.yaml:1:9: limits: want keys and values, got the number 5",
		},
		{
			name: "a zone that is not a mapping",
			yaml: "zones:\n  - a.test=a.zone\n",
			want: `warden.yaml:2:5: zones[0]: want keys and values, got the string "a.test=a.zone"`,
		},
		{
			name: "a string key given a list",
			yaml: "log:\n  level: [info]\n",
			want: "warden.yaml:2:10: log.level: want a single value, got a list",
		},
		{
			name: "the whole file a list",
			yaml: "- listen\n",
			want: "warden.yaml:1:1: want keys and values, got a list",
		},
		{
			name: "duplicate key",
			yaml: "log:\n  level: info\nlog:\n  level: debug\n",
			want: `warden.yaml:3:1: mapping key "log" already defined at [1:1]`,
		},
		{
			name: "anchors, aliases, merge keys and tags",
			yaml: "limits: &l\n  udp_payload: 1232\nlog:\n  <<: {level: info}\nreload:\n  watch_interval: !!str 2s\nzones: *z\n",
			want: "warden.yaml:1:9: limits: anchors (&) are not supported\n" +
				"warden.yaml:4:3: log: merge keys (<<) are not supported\n" +
				"warden.yaml:6:19: reload.watch_interval: tags (!) are not supported\n" +
				"warden.yaml:7:8: zones: aliases (*) are not supported",
		},
		{
			name: "two documents",
			yaml: "log:\n  level: info\n---\nlog:\n  level: debug\n",
			want: "warden.yaml:4: a second YAML document; a config file holds one",
		},
		{
			name: "nesting too deep",
			yaml: "listen: " + strings.Repeat("[", 100) + "\n",
			want: "warden.yaml:1: nested more than 64 levels deep",
		},
		{
			name: "a resolver's server port outside 1 to 65535",
			yaml: "resolver:\n  server_port: 70000\n",
			want: `warden.yaml:2: resolver.server_port: 70000 is not a port (1 to 65535)`,
		},
		{
			name: "huge values are clipped in messages",
			yaml: "log:\n  level: " + strings.Repeat("x", 1000) + "\n",
			want: `warden.yaml:2: log.level: "` + strings.Repeat("x", 80) + `"... is not one of debug, info, warn, error`,
		},
		{
			name: "problems beyond a screenful are counted, not listed",
			yaml: "listen:\n" + strings.Repeat("  - nope\n", maxErrors+7),
			want: "", // checked by line count below
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), "warden.yaml", dir)
			if err == nil {
				t.Fatalf("Parse succeeded with %+v; want an error", c)
			}
			if c != nil {
				t.Errorf("Parse returned a config with its error")
			}
			got := err.Error()
			if tt.want == "" {
				lines := strings.Split(got, "\n")
				if len(lines) != maxErrors+1 || lines[maxErrors] != "warden.yaml: 7 more problems not shown" {
					t.Errorf("got %d lines ending %q", len(lines), lines[len(lines)-1])
				}
				return
			}
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if got != want {
				t.Errorf("error:\n%s\nwant:\n%s", got, want)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "warden.yaml" || e.Line == 0 {
				t.Errorf("first error %#v does not carry file and line", e)
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	data := bytes.Repeat([]byte("# padding\n"), maxConfigSize/10+1)
	_, err := Parse(data, "big.yaml", "")
	if err == nil || !strings.HasPrefix(err.Error(), "big.yaml: ") {
		t.Errorf("err = %v, want a size error naming big.yaml", err)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default is invalid: %v", err)
	}
	if want := (Listeners{ListenAddr{AddrPort: netip.MustParseAddrPort("127.0.0.1:1053")}}); !reflect.DeepEqual(c.Listen, want) {
		t.Errorf("listen = %v, want %v", c.Listen, want)
	}
	if len(c.Zones) != 1 || c.Zones[0].Origin != "example.test." || c.Zones[0].File != "" ||
		!bytes.Equal(c.Zones[0].Data, exampleZone) {
		t.Fatalf("zones = %+v, want the built-in example.test.", c.Zones)
	}
	want := LimitsConfig{UDPPayload: 1232, UDPWorkers: 0, TCPIdleTimeout: 10 * time.Second, TCPMaxConnections: 1000, TCPMaxPipelined: 100,
		TLSHandshakeTimeout: 5 * time.Second, TLSIdleTimeout: 30 * time.Second, TLSMaxConnections: 1000, TLSMaxConnectionsPerClient: 20, TLSMaxStreams: 100}
	if c.Limits != want {
		t.Errorf("limits = %+v, want %+v", c.Limits, want)
	}
	if c.Log != (LogConfig{Level: "info", Format: "text"}) || c.Reload.WatchInterval != 2*time.Second {
		t.Errorf("log = %+v, reload = %+v", c.Log, c.Reload)
	}

	// Each call is a fresh copy: changing one must not leak into the next.
	c.Listen[0] = ListenAddr{AddrPort: netip.MustParseAddrPort("10.0.0.1:1")}
	c.Zones[0].Origin = "changed."
	c.Limits.UDPPayload = 4096
	if d := Default(); d.Listen[0].AddrPort.Port() != 1053 || d.Zones[0].Origin != "example.test." || d.Limits.UDPPayload != 1232 {
		t.Errorf("Default shares state between calls: %+v", d)
	}
}

// TestDefaultFileParses checks that default.yaml, read as an operator's file beside the example
// zone, means the same as Default: it is the documented reference configuration.
func TestDefaultFileParses(t *testing.T) {
	c, err := Load("default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	abs, _ := filepath.Abs("example.test.zone")
	if !reflect.DeepEqual(c.Listen, d.Listen) || c.Limits != d.Limits || c.Log != d.Log || c.Reload != d.Reload ||
		len(c.Zones) != 1 || c.Zones[0].Origin != d.Zones[0].Origin || c.Zones[0].File != abs {
		t.Errorf("default.yaml as a file: %+v\nDefault(): %+v", c, d)
	}
}

func TestLoad(t *testing.T) {
	dir := testDir(t)
	path := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(path, []byte("zones:\n  - origin: a.test\n    file: a.zone\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Relative zone paths start at the config file's directory, not the working directory.
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Zones[0].File, filepath.Join(dir, "a.zone"); got != want {
		t.Errorf("zone file = %q, want %q", got, want)
	}

	if err := os.WriteFile(path, []byte("zones:\n  - origin: a.test\n    file: nope.zone\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A missing zone file is the zone's trouble, not the configuration's: the server starts
	// without that zone, and opening it names the file.
	c, err = Load(path)
	if err != nil {
		t.Fatalf("a configuration naming a missing zone file: %v", err)
	}
	if _, err := c.Zones[0].Open(); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "nope.zone")) {
		t.Errorf("opening the missing zone file: %v; want an error naming it", err)
	}
	if _, err := (ZoneConfig{Origin: "a.test.", File: dir}).Open(); err == nil || err.Error() != dir+" is not a regular file" {
		t.Errorf("opening a directory as a zone file: %v", err)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing.yaml")) {
		t.Errorf("err = %v, want one naming the missing file", err)
	}
}

func TestValidateInCode(t *testing.T) {
	// A config built in code has no lines to point at; its errors still name the key.
	c := Default()
	c.Listen = append(c.Listen, ListenAddr{})
	c.Zones = append(c.Zones, ZoneConfig{Origin: "example.test."}, ZoneConfig{Origin: "Example.Test", Data: []byte{}})
	c.Log.Format = ""
	want := "listen[1]: not a valid IP address and port\n" +
		`zones[1].origin: zone "example.test." is already zones[0]` + "\n" +
		"zones[1].file: required\n" +
		`zones[2].origin: "Example.Test" is not fully qualified and lower-case; write "example.test."` + "\n" +
		`log.format: "" is not one of text, json`
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Errorf("err:\n%v\nwant:\n%s", err, want)
	}
}

func TestZoneOpen(t *testing.T) {
	dir := testDir(t)
	for _, z := range []ZoneConfig{
		{Origin: "example.test.", Data: []byte("; built in\n")},
		{Origin: "a.test.", File: filepath.Join(dir, "a.zone")},
	} {
		r, err := z.Open()
		if err != nil {
			t.Fatalf("%s: %v", z.Source(), err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil || len(data) == 0 {
			t.Errorf("%s: read %q, %v", z.Source(), data, err)
		}
	}
	if _, err := (ZoneConfig{Origin: "x."}).Open(); err == nil {
		t.Error("Open of a zone with neither file nor data succeeded")
	}
	if got := (ZoneConfig{Origin: "example.test.", Data: []byte{}}).Source(); got != "built-in zone example.test." {
		t.Errorf("Source = %q", got)
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	c := Default()
	c.Log = LogConfig{Level: "warn", Format: "json"}
	log := c.Logger(&buf)
	log.Info("hidden")
	log.Warn("shown", "k", 1)
	if got := buf.String(); strings.Contains(got, "hidden") || !strings.HasPrefix(got, "{") || !strings.Contains(got, `"msg":"shown"`) {
		t.Errorf("json logger wrote %q", got)
	}

	buf.Reset()
	c.Log = LogConfig{Level: "debug", Format: "text"}
	c.Logger(&buf).Debug("seen")
	if got := buf.String(); !strings.Contains(got, "level=DEBUG msg=seen") {
		t.Errorf("text logger wrote %q", got)
	}

	// An invalid level falls back to info, so the config's own errors can still be logged.
	buf.Reset()
	c.Log = LogConfig{Level: "loud", Format: "yaml"}
	l := c.Logger(&buf)
	l.Debug("no")
	l.Info("yes")
	if got := buf.String(); strings.Contains(got, "msg=no") || !strings.Contains(got, "msg=yes") {
		t.Errorf("fallback logger wrote %q", got)
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		".":                             true,
		"example.test.":                 true,
		"_dmarc.example.test.":          true,
		"0/25.2.0.192.in-addr.arpa.":    true,
		"xn--bcher-kva.test.":           true,
		strings.Repeat("a.", 127):       true, // 254 characters: 255 octets on the wire
		strings.Repeat("a.", 127) + "b": false,
		"example.test":                  false, // not fully qualified
		".example.test.":                false,
		"a..test.":                      false,
		"exa mple.":                     false,
		"a\\.b.":                        false,
		"bücher.test.":                  false,
		strings.Repeat("x", 63) + ".":   true,
		strings.Repeat("x", 64) + ".":   false,
		"":                              false,
	} {
		if got := validName(name); got != want {
			t.Errorf("validName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestStateDir: state_dir is unset by default, relative to the config file's directory when
// relative, and an error naming the key and line (or the flag) when a file stands in its way.
func TestStateDir(t *testing.T) {
	if d := Default().StateDir; d != "" {
		t.Fatalf("default state_dir %q, want none", d)
	}
	dir := t.TempDir()
	c, err := Parse([]byte("state_dir: state\n"), "warden.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "state"); c.StateDir != want {
		t.Errorf("state_dir %q, want %q", c.StateDir, want)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Parse([]byte("listen: [127.0.0.1:53]\nstate_dir: file\n"), "warden.yaml", dir)
	if err == nil || !strings.Contains(err.Error(), "warden.yaml:2") || !strings.Contains(err.Error(), "state_dir: ") ||
		!strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("state_dir naming a file: %v", err)
	}
	c = Default()
	if err := ApplyStateDirFlag(c, file); err == nil || !strings.Contains(err.Error(), "--state-dir") {
		t.Errorf("--state-dir naming a file: %v", err)
	}
	if err := ApplyStateDirFlag(c, dir); err != nil || c.StateDir != dir {
		t.Errorf("--state-dir %s: %v, state_dir %q", dir, err, c.StateDir)
	}
}
