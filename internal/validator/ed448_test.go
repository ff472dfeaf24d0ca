package validator

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// ed448Zone signs a zone with BIND's dnssec-signzone and Ed448 keys from dnssec-keygen, now, so
// that the check is against another implementation of RFC 8080, and returns its records.
func ed448Zone(t *testing.T, origin string, now time.Time) []dns.RR {
	return bindSignedZone(t, origin, "ED448", now)
}

// bindSignedZone is ed448Zone with keys of algorithm alg (dnssec-keygen's name for it).
func bindSignedZone(t *testing.T, origin, alg string, now time.Time) []dns.RR {
	t.Helper()
	keygen, err := exec.LookPath("dnssec-keygen")
	if err != nil {
		t.Fatalf("dnssec-keygen (bind9-utils): %v", err)
	}
	signzone, err := exec.LookPath("dnssec-signzone")
	if err != nil {
		t.Fatalf("dnssec-signzone (bind9-utils): %v", err)
	}
	dir := t.TempDir()
	run := func(bin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, out)
		}
		// dnssec-keygen names the key on its last line; warnings (a deprecated algorithm) come first.
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return strings.TrimSpace(lines[len(lines)-1])
	}
	ksk := run(keygen, "-q", "-K", dir, "-a", alg, "-f", "KSK", origin)
	zsk := run(keygen, "-q", "-K", dir, "-a", alg, origin)
	var text strings.Builder
	fmt.Fprintf(&text, "$ORIGIN %s\n$TTL 300\n", origin)
	text.WriteString(`@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 192.0.2.1
www A 192.0.2.10
www A 192.0.2.11
www AAAA 2001:db8::10
*.wild A 192.0.2.20
@ MX 10 MAIL.Example.NET.
alias CNAME WWW
txt TXT "Ed448 over RFC 8080" "second string"
`)
	// An RRset whose records pass 4 KiB: the signed data must hold all of them.
	for i := range 24 {
		fmt.Fprintf(&text, "big TXT \"%03d %s\"\n", i, strings.Repeat("x", 240))
	}
	for _, k := range []string{ksk, zsk} {
		key, err := os.ReadFile(filepath.Join(dir, k+".key"))
		if err != nil {
			t.Fatal(err)
		}
		text.Write(key)
	}
	in := filepath.Join(dir, "zone")
	if err := os.WriteFile(in, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	stamp := func(at time.Time) string { return at.UTC().Format("20060102150405") }
	run(signzone, "-q", "-K", dir, "-o", origin, "-f", in+".signed",
		"-s", stamp(now.Add(-time.Hour)), "-e", stamp(now.Add(30*24*time.Hour)), in, ksk, zsk)
	signed, err := os.ReadFile(in + ".signed")
	if err != nil {
		t.Fatal(err)
	}
	var rrs []dns.RR
	zp := dns.NewZoneParser(strings.NewReader(string(signed)), origin, "signed")
	for r, ok := zp.Next(); ok; r, ok = zp.Next() {
		rrs = append(rrs, r)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("signed zone: %v", err)
	}
	return rrs
}

// signedSets splits a signed zone into its RRsets, the signatures over each and the DNSKEYs.
func signedSets(rrs []dns.RR) (map[string][]dns.RR, map[string][]*dns.RRSIG, []*dns.DNSKEY) {
	sets, sigs := map[string][]dns.RR{}, map[string][]*dns.RRSIG{}
	var keys []*dns.DNSKEY
	for _, r := range rrs {
		owner := strings.ToLower(r.Header().Name)
		if s, ok := r.(*dns.RRSIG); ok {
			k := owner + "/" + dns.TypeToString[s.TypeCovered]
			sigs[k] = append(sigs[k], s)
			continue
		}
		if k, ok := r.(*dns.DNSKEY); ok {
			keys = append(keys, k)
		}
		k := owner + "/" + dns.TypeToString[dns.RRToType(r)]
		sets[k] = append(sets[k], r)
	}
	return sets, sigs, keys
}

func TestEd448SignedByBIND(t *testing.T) {
	if !SupportedAlgorithm(dns.ED448) {
		t.Fatal("ED448 (16) is not a supported algorithm")
	}
	now := time.Now()
	opts := Options{Now: func() time.Time { return now }}
	const origin = "ed448.test."
	sets, sigs, keys := signedSets(ed448Zone(t, origin, now))
	if len(keys) != 2 || keys[0].Algorithm != dns.ED448 {
		t.Fatalf("signed zone has keys %v, want two of algorithm 16", keys)
	}
	checked := 0
	for k, set := range sets {
		if owner, _, _ := strings.Cut(k, "/"); owner == "ns."+origin && len(sigs[k]) == 0 {
			continue
		}
		v := opts.VerifyRRset(set, sigs[k], keys)
		if v.State != Secure {
			t.Errorf("%s: %v, want secure", k, v.Result)
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("checked %d RRsets, want the zone's 10 or more", checked)
	}
	if n := len(sets["big."+origin+"/TXT"]); n != 24 || len(sigs["big."+origin+"/TXT"]) == 0 {
		t.Fatalf("the large TXT RRset has %d records and %d signatures, want 24 and some", n, len(sigs["big."+origin+"/TXT"]))
	}

	t.Run("wildcard expansion", func(t *testing.T) {
		k := "*.wild." + origin + "/A"
		var expanded []dns.RR
		for _, r := range sets[k] {
			c := r.Clone()
			c.Header().Name = "Deep.Name.wild." + origin
			expanded = append(expanded, c)
		}
		v := opts.VerifyRRset(expanded, sigs[k], keys)
		if v.State != Secure || v.Wildcard != "*.wild."+origin {
			t.Fatalf("expanded wildcard: %v (wildcard %q), want secure from *.wild.%s", v.Result, v.Wildcard, origin)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		k := "www." + origin + "/A"
		changed := []dns.RR{sets[k][0].Clone(), sets[k][1]}
		changed[0].(*dns.A).Addr = changed[0].(*dns.A).Addr.Next()
		if v := opts.VerifyRRset(changed, sigs[k], keys); v.State != Bogus || v.EDE != EDEBogus {
			t.Errorf("changed address: %v, want bogus (EDE 6)", v.Result)
		}
		short := sigs[k][0].Clone().(*dns.RRSIG)
		short.Signature = short.Signature[:len(short.Signature)-8]
		if v := opts.VerifyRRset(sets[k], []*dns.RRSIG{short}, keys); v.State != Bogus {
			t.Errorf("shortened signature: %v, want bogus", v.Result)
		}
		flipped := sigs[k][0].Clone().(*dns.RRSIG)
		b := []byte(flipped.Signature)
		b[10] ^= 'A' ^ 'B'
		flipped.Signature = string(b)
		if v := opts.VerifyRRset(sets[k], []*dns.RRSIG{flipped}, keys); v.State != Bogus {
			t.Errorf("altered signature: %v, want bogus", v.Result)
		}
		var cut []*dns.DNSKEY
		for _, key := range keys {
			c := key.Clone().(*dns.DNSKEY)
			c.PublicKey = c.PublicKey[:len(c.PublicKey)-4]
			cut = append(cut, c)
		}
		if v := opts.VerifyRRset(sets[k], sigs[k], cut); v.State == Secure {
			t.Errorf("shortened keys: %v, want not secure", v.Result)
		}
		later := Options{Now: func() time.Time { return now.Add(60 * 24 * time.Hour) }}
		if v := later.VerifyRRset(sets[k], sigs[k], keys); v.State != Bogus || v.EDE != EDESignatureExpired {
			t.Errorf("after expiry: %v, want bogus (EDE 7)", v.Result)
		}
	})
}

// TestEveryAlgorithmSignedByBIND: zones BIND signs with each algorithm Warden checks validate
// whole, the RRset of more than 4 KiB included (the DNS library's own verification fails those).
func TestEveryAlgorithmSignedByBIND(t *testing.T) {
	now := time.Now()
	opts := Options{Now: func() time.Time { return now }}
	for _, alg := range []string{"RSASHA1", "NSEC3RSASHA1", "RSASHA256", "RSASHA512", "ECDSAP256SHA256", "ECDSAP384SHA384", "ED25519", "ED448"} {
		t.Run(alg, func(t *testing.T) {
			origin := strings.ToLower(alg) + ".test."
			sets, sigs, keys := signedSets(bindSignedZone(t, origin, alg, now))
			if len(sets["big."+origin+"/TXT"]) != 24 {
				t.Fatalf("the large TXT RRset has %d records, want 24", len(sets["big."+origin+"/TXT"]))
			}
			for k, set := range sets {
				if len(sigs[k]) == 0 {
					continue // glue and the like: not signed
				}
				if v := opts.VerifyRRset(set, sigs[k], keys); v.State != Secure {
					t.Errorf("%s: %v, want secure", k, v.Result)
				}
				// The TTL is not in the signed data (the original TTL is).
				c := slices.Clone(set)
				c[0] = c[0].Clone()
				c[0].Header().TTL++
				if v := opts.VerifyRRset(c, sigs[k], keys); v.State != Secure {
					t.Errorf("%s with another TTL: %v, want secure", k, v.Result)
				}
			}
			big := slices.Clone(sets["big."+origin+"/TXT"])
			big = big[:len(big)-1]
			if v := opts.VerifyRRset(big, sigs["big."+origin+"/TXT"], keys); v.State == Secure {
				t.Errorf("the large RRset without one record verified")
			}
		})
	}
}
