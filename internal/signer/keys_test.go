package signer

import (
	"crypto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"
)

func TestKeysKeptAcrossRestartsAndReadByBIND(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	for _, alg := range []string{"ecdsap256sha256", "ed25519", "rsasha256"} {
		a, _ := ParseAlgorithm(alg)
		p := Policy{Algorithm: a}.Defaults()
		origin := alg + ".example."
		first, made, err := OpenKeys(dir, origin, p, now)
		if err != nil || !made || len(first.Keys) != 2 {
			t.Fatalf("%s: first open: made %v, %d keys, %v", alg, made, len(first.Keys), err)
		}
		again, made, err := OpenKeys(dir, origin, p, now)
		if err != nil || made {
			t.Fatalf("%s: second open made keys (%v) or failed: %v", alg, made, err)
		}
		if keyList(again) != keyList(first) {
			t.Fatalf("%s: keys %s after a restart, %s before", alg, keyList(again), keyList(first))
		}
		for _, k := range first.Keys {
			fi, err := os.Stat(k.Base + ".private")
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s.private: %v, mode %v", k.Base, err, fi.Mode().Perm())
			}
		}
		// BIND's signer signs with the key files as they are, timing fields and all.
		zoneFile := filepath.Join(t.TempDir(), "z")
		text := "$TTL 300\n" + origin + " SOA ns." + origin + " h. 1 1 1 1 1\n" + origin + " NS ns." + origin + "\nns." + origin + " A 192.0.2.1\n"
		if err := os.WriteFile(zoneFile, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("dnssec-signzone", "-K", dir, "-d", filepath.Dir(zoneFile), "-S", "-o", origin, "-f", zoneFile+".signed", zoneFile).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: dnssec-signzone -K %s: %v\n%s", alg, dir, err, out)
		}
		signed, _ := os.ReadFile(zoneFile + ".signed")
		for _, k := range first.Keys {
			if !strings.Contains(string(signed), " "+strconv.Itoa(int(k.Tag()))+" "+origin) {
				t.Errorf("%s: dnssec-signzone did not sign with key %d:\n%s", alg, k.Tag(), out)
			}
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("key directory: %v, mode %v", err, fi.Mode().Perm())
	}
	// A policy for another algorithm keeps the keys there are: the new algorithm's come by an
	// algorithm rollover (Roll), not by opening the keys.
	if set, made, err := OpenKeys(dir, "ed25519.example.", Policy{Algorithm: dns.RSASHA256}.Defaults(), now); err != nil || made || len(set.Keys) != 2 || set.Keys[0].DNSKEY.Algorithm != dns.ED25519 {
		t.Errorf("algorithm change: made %v, %v, %v", made, set, err)
	}
}

func TestBrokenKeyFilesNamed(t *testing.T) {
	dir := t.TempDir()
	p := Policy{}.Defaults()
	keys, _, err := OpenKeys(dir, "example.test.", p, now)
	if err != nil {
		t.Fatal(err)
	}
	zsk := keys.Keys[len(keys.Keys)-1]
	for _, tc := range []struct {
		file, text, want string
	}{
		{".private", "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: AAAA\nCreated: 2026\n", ".private:4: Created"},
		{".private", "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: " + strings.Repeat("A", 42) + "E=\n", "does not belong to the public key"},
		{".key", "example.test. 3600 IN A 192.0.2.1\n", ".key:1: a A record, not DNSKEY"},
		{".key", "other.test. 3600 IN DNSKEY 256 3 13 AAAA\n", "for other.test., not example.test."},
	} {
		orig, _ := os.ReadFile(zsk.Base + tc.file)
		if err := os.WriteFile(zsk.Base+tc.file, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := OpenKeys(dir, "example.test.", p, now)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "zone example.test.") {
			t.Errorf("%s %q: error %v, want one naming the zone and %q", tc.file, tc.text, err, tc.want)
		}
		os.WriteFile(zsk.Base+tc.file, orig, 0o600)
	}
}

// TestNewKeyAvoidsTakenTags: a new key whose tag a key of the zone already has is drawn again,
// and the existing key's files stay as they were. The key generator first hands out the
// existing key's own material, which is what a collision is: the same tag for the same flags.
func TestNewKeyAvoidsTakenTags(t *testing.T) {
	dir := t.TempDir()
	p := Policy{}.Defaults()
	keys, _, err := OpenKeys(dir, "example.test.", p, now)
	if err != nil {
		t.Fatal(err)
	}
	old := keys.Keys[1] // the ZSK
	before := map[string][]byte{}
	for _, ext := range []string{".key", ".private"} {
		if before[ext], err = os.ReadFile(old.Base + ext); err != nil {
			t.Fatal(err)
		}
	}
	real := generateKey
	t.Cleanup(func() { generateKey = real })
	calls := 0
	generateKey = func(pub *dns.DNSKEY, bits int) (crypto.PrivateKey, error) {
		calls++
		if calls == 1 {
			pub.PublicKey = old.DNSKEY.PublicKey
			return old.Signer, nil
		}
		return real(pub, bits)
	}
	k, err := newKey(dir, "example.test.", old.DNSKEY.Algorithm, old.DNSKEY.Flags, Timing{Created: now, Publish: now, Activate: now}, keys.Keys)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Fatalf("%d keys generated, want 2 (the colliding one drawn again)", calls)
	}
	if k.Tag() == old.Tag() {
		t.Fatalf("the new key has tag %d, the existing key's", k.Tag())
	}
	for ext, data := range before {
		if now, err := os.ReadFile(old.Base + ext); err != nil || string(now) != string(data) {
			t.Errorf("%s%s changed or went: %v", old.Base, ext, err)
		}
	}
	again, _, err := OpenKeys(dir, "example.test.", p, now)
	if err != nil || len(again.Keys) != 3 {
		t.Fatalf("after the new key: %v, %v; want the three keys", keyList(again), err)
	}

	// The REVOKE bit changes a key's tag (RFC 5011): a key whose revoked tag is taken is drawn
	// again as well.
	calls = 0
	generateKey = func(pub *dns.DNSKEY, bits int) (crypto.PrivateKey, error) {
		calls++
		if calls == 1 {
			pub.PublicKey, pub.Flags = old.DNSKEY.PublicKey, old.DNSKEY.Flags&^dns.FlagREVOKE
			return old.Signer, nil
		}
		return real(pub, bits)
	}
	revoked := *old.DNSKEY
	revoked.Flags |= dns.FlagREVOKE
	if _, err := newKey(dir, "example.test.", old.DNSKEY.Algorithm, old.DNSKEY.Flags, Timing{Created: now, Publish: now, Activate: now}, []*Key{{DNSKEY: &revoked}}); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("%d keys generated, want 2: the first one's tag is the revoked key's", calls)
	}
}
