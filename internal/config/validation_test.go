package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTrustAnchorConfig: the trust anchor is a file that must hold DS or DNSKEY records, or
// iana; iana is implied by the IANA root hints only; negative trust anchors need a domain and a
// time. Every error names the key.
func TestTrustAnchorConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.anchor")
	if err := os.WriteFile(good, []byte(". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.anchor")
	if err := os.WriteFile(bad, []byte(". IN A 192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hints := filepath.Join(dir, "root.hints")
	if err := os.WriteFile(hints, []byte(". 3600000 NS a.root.lab.\na.root.lab. 3600000 A 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	parse := func(text string) (*Config, error) {
		return Parse([]byte(text), filepath.Join(dir, "warden.yaml"), dir)
	}
	for _, c := range []struct {
		text, anchor string
	}{
		{"resolver:\n  root_hints: iana\n", "iana"},
		{"resolver:\n  root_hints: " + hints + "\n", ""},
		{"resolver:\n  root_hints: " + hints + "\n  trust_anchor: good.anchor\n", good},
		{"resolver:\n  forward:\n    - zone: .\n      upstreams: [\"127.0.0.1:53\"]\n  trust_anchor: iana\n", "iana"},
	} {
		cfg, err := parse(c.text)
		if err != nil {
			t.Errorf("%q: %v", c.text, err)
			continue
		}
		if got := cfg.Resolver.Anchor(); got != c.anchor {
			t.Errorf("%q: anchor %q, want %q", c.text, got, c.anchor)
		}
	}
	expiry := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct{ text, want string }{
		{"resolver:\n  root_hints: iana\n  trust_anchor: bad.anchor\n", "trust_anchor"},
		{"resolver:\n  root_hints: iana\n  trust_anchor: missing.anchor\n", "missing.anchor"},
		{"resolver:\n  root_hints: iana\n  negative_trust_anchors:\n    - domain: \"a..b\"\n      expiry: \"" + expiry + "\"\n", "negative_trust_anchors[0].domain"},
		{"resolver:\n  root_hints: iana\n  negative_trust_anchors:\n    - domain: broken.example.\n      expiry: tomorrow\n", "negative_trust_anchors[0].expiry"},
	} {
		if _, err := parse(c.text); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one naming %s", c.text, err, c.want)
		}
	}
	cfg, err := parse("resolver:\n  root_hints: iana\n  negative_trust_anchors:\n    - domain: broken.example.\n      expiry: \"" + expiry + "\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if ntas := cfg.Resolver.NTAs(); len(ntas) != 1 || ntas[0].Domain != "broken.example." || !ntas[0].FromConfig {
		t.Errorf("NTAs %+v", ntas)
	}
	// The flag overrides the file and is checked the same way.
	if err := ApplyTrustAnchorFlag(cfg, bad); err == nil || !strings.Contains(err.Error(), "--trust-anchor") {
		t.Errorf("--trust-anchor with a bad file: %v", err)
	}
	if err := ApplyTrustAnchorFlag(cfg, good); err != nil || cfg.Resolver.Anchor() != good {
		t.Errorf("--trust-anchor: %v, anchor %q", err, cfg.Resolver.Anchor())
	}
}
