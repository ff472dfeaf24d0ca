package config

import (
	"strings"
	"testing"
)

// FuzzParse feeds Parse arbitrary bytes: it must return a config or an error, never panic, and a
// config it returns must be valid and normalised.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		string(defaultYAML),
		"",
		"listen:\n  - \"[::1]:53\"\n  - 127.0.0.1:0\n",
		"listen: [127.0.0.1:53, 127.0.0.1:53]\n",
		"listen:\n  - [::1]:53\n",
		"zones:\n  - origin: Example.Test\n    file: fuzz.zone\n",
		"zones:\n  - {origin: \"exa mple\", file: /}\n  - ~\n  - a\n",
		"limits: {udp_payload: 99999999999999999999, udp_workers: -1, tcp_idle_timeout: 0}\n",
		"limits:\n  tcp_idle_timeout: 5x\nreload:\n  watch_interval: 10\n",
		"log: {level: debug, format: json}\nlog: {}\n",
		"lisen: 1\nlimits:\n  udp_payloa: 1\n",
		"a: &a [1]\nb: *a\n<<: *a\n",
		"!!map {listen: !!seq [1]}\n",
		"? listen\n: [\"1.2.3.4:5\"]\n",
		"---\nlog: {}\n---\nlog: {}\n",
		"listen: " + strings.Repeat("[", 70),
		"- - - - - x\n",
		"log:\n  level: |\n    info\n",
		"\t\x00\xff: [",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml", dir)
		if err != nil {
			if c != nil {
				t.Errorf("Parse returned a config with error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Parse accepted a config Validate rejects: %v", err)
		}
		for _, z := range c.Zones {
			if z.Origin != canonicalName(z.Origin) {
				t.Errorf("origin %q not canonical", z.Origin)
			}
		}
	})
}
