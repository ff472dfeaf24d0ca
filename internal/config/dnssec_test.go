package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDNSSECBlock(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.zone"), []byte("@ SOA ns h 1 1 1 1 1\n@ NS ns\nns A 192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := `zones:
  - origin: a.test
    file: a.zone
    dnssec:
      sign: true
      algorithm: ed25519
      denial: nsec3
      rrsig_lifetime: 72h
      rrsig_refresh: 24h
  - origin: b.test
    file: a.zone
    dnssec:
      sign: true
      key_dir: /var/lib/warden/keys
`
	c, err := Parse([]byte(good), "warden.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Zones[0].DNSSEC, c.Zones[1].DNSSEC
	if a.KeyDir != filepath.Join(dir, "keys") {
		t.Errorf("default key_dir %q, want keys/ beside the config file", a.KeyDir)
	}
	if b.KeyDir != "/var/lib/warden/keys" {
		t.Errorf("key_dir %q", b.KeyDir)
	}
	if a.Algorithm != "ed25519" || a.Denial != "nsec3" || a.RRSIGLifetime != 72*time.Hour || a.RRSIGRefresh != 24*time.Hour {
		t.Errorf("block read as %+v", a)
	}

	for _, tc := range []struct{ block, want string }{
		{"sign: true\n      algorithm: rsasha1", `zones[0].dnssec.algorithm: "rsasha1" is not one of ecdsap256sha256, ed25519, rsasha256`},
		{"sign: true\n      denial: nsec5", `zones[0].dnssec.denial: "nsec5" is not nsec or nsec3`},
		{"sign: true\n      rrsig_lifetime: 48h\n      rrsig_refresh: 48h", "zones[0].dnssec.rrsig_refresh: 48h0m0s is not shorter than rrsig_lifetime 48h0m0s"},
		{"sign: true\n      rrsig_lifetime: 10m", "zones[0].dnssec.rrsig_lifetime: 10m0s is shorter than an hour"},
		{"sign: false\n      denial: nsec3", "zones[0].dnssec.sign: policy keys are set but sign is false"},
		{"sign: true\n      zsk_lifetime: 90m", "zones[0].dnssec.zsk_lifetime: 1h30m0s is not longer than a ZSK rollover takes, at least 2h0m0s"},
		{"sign: true\n      propagation_delay: 1s\n      dnskey_ttl: 2\n      zsk_lifetime: 4s", "zones[0].dnssec.zsk_lifetime: 4s is not longer than a ZSK rollover takes, at least 4s"},
		{"sign: true\n      ksk_lifetime: 24h", "zones[0].dnssec.ksk_lifetime: 24h0m0s is not longer than a KSK rollover takes, at least 26h0m0s"},
		{"sign: true\n      propagation_delay: 1s\n      parent_ds_ttl: -1s", "zones[0].dnssec.parent_ds_ttl: -1s is negative"},
		{"sign: true\n      parent_ds_check: [192.0.2.1]", `zones[0].dnssec.parent_ds_check[0]: "192.0.2.1" is not an IP address and port`},
		{"sign: false\n      parent_ds_check: [\"192.0.2.1:53\"]", "zones[0].dnssec.sign: policy keys are set but sign is false"},
		{"sign: true\n      nsec3_salt: ab", "nsec3_salt"},
	} {
		text := "zones:\n  - origin: a.test\n    file: a.zone\n    dnssec:\n      " + tc.block + "\n"
		_, err := Parse([]byte(text), "warden.yaml", dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one with %q", tc.block, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "warden.yaml") {
			t.Errorf("%q: error %v does not name the file", tc.block, err)
		}
	}
}
