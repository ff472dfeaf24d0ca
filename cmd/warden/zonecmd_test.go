package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const zoneSignInput = `$ORIGIN sign.test.
$TTL 3600
@     SOA ns hostmaster 10 7200 900 1209600 300
@     NS  ns
ns    A   192.0.2.1
www   A   192.0.2.2
*.w   TXT "wild"
sub   NS  ns.sub
ns.sub A  192.0.2.3
`

// dnssecVerify runs BIND's dnssec-verify on a signed zone file and fails the test when it refuses.
func dnssecVerify(t *testing.T, origin, file string) {
	t.Helper()
	out, err := exec.Command("dnssec-verify", "-o", origin, file).CombinedOutput()
	if err != nil {
		t.Fatalf("dnssec-verify refuses %s: %v\n%s", file, err, out)
	}
}

// TestZoneSign: `warden zone sign` makes keys, writes a zone dnssec-verify accepts, re-signs a
// later version with --next, warns once about an input that is signed already, and names the
// file of a zone that does not load.
func TestZoneSign(t *testing.T) {
	dir := t.TempDir()
	in, keys := filepath.Join(dir, "sign.test.zone"), filepath.Join(dir, "keys")
	if err := os.WriteFile(in, []byte(zoneSignInput), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, denial := range []string{"nsec", "nsec3"} {
		out := filepath.Join(dir, denial+".zone")
		code, _, errOut := runArgs("zone", "sign", "--zone", "sign.test.="+in, "--key-dir", keys, "--denial", denial, "--out", out)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", denial, code, errOut)
		}
		if !strings.Contains(errOut, "sign ") || !strings.Contains(errOut, "peak RSS") {
			t.Errorf("%s: no timing report on stderr:\n%s", denial, errOut)
		}
		dnssecVerify(t, "sign.test.", out)
	}
	if matches, _ := filepath.Glob(filepath.Join(keys, "Ksign.test.+013+*.private")); len(matches) != 2 {
		t.Fatalf("keys made: %v, want a KSK and a ZSK, kept for the second run", matches)
	}

	// The signed output as input, and a later version with one name more.
	next := filepath.Join(dir, "next.zone")
	if err := os.WriteFile(next, []byte(strings.Replace(zoneSignInput, "hostmaster 10", "hostmaster 11", 1)+"new A 192.0.2.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "next.signed")
	code, _, errOut := runArgs("zone", "sign", "--zone", "sign.test.="+filepath.Join(dir, "nsec.zone"), "--key-dir", keys, "--next", next, "--out", out)
	if code != 0 {
		t.Fatalf("--next: exit %d: %s", code, errOut)
	}
	if n := strings.Count(errOut, "is signed already"); n != 1 {
		t.Errorf("%d warnings about the signed input, want 1:\n%s", n, errOut)
	}
	if !strings.Contains(errOut, "serial 10 → 11") {
		t.Errorf("no re-sign step from serial 10 to 11:\n%s", errOut)
	}
	dnssecVerify(t, "sign.test.", out)
	signed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(signed), "new.sign.test.\t3600\tIN\tRRSIG\tA ") && !strings.Contains(string(signed), "new.sign.test. 3600 IN RRSIG A ") {
		t.Errorf("the new name has no signature in the output")
	}

	// Wrong input: a zone that does not load names its file; nothing is written.
	bad := filepath.Join(dir, "bad.zone")
	if err := os.WriteFile(bad, []byte("$ORIGIN sign.test.\n@ SOA ns hm 1 2 3 4 5\nwww A 300.1.1.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badOut := filepath.Join(dir, "bad.signed")
	code, _, errOut = runArgs("zone", "sign", "--zone", "sign.test.="+bad, "--key-dir", keys, "--out", badOut)
	if code != 1 || !strings.Contains(errOut, "bad.zone") {
		t.Errorf("bad zone: exit %d, stderr %q; want 1 and the file named", code, errOut)
	}
	if _, err := os.Stat(badOut); err == nil {
		t.Errorf("a signed file was written for a zone that does not load")
	}
	for _, args := range [][]string{
		{"zone", "sign", "--key-dir", keys, "--out", badOut},
		{"zone", "sign", "--zone", "sign.test.=" + in, "--out", badOut},
		{"zone", "sign", "--zone", "sign.test.=" + in, "--key-dir", keys, "--out", badOut, "--denial", "nsec5"},
		{"zone", "frobnicate"},
	} {
		if code, _, errOut := runArgs(args...); code != 2 || !strings.Contains(errOut, "Run 'warden zone --help'") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error", args, code, errOut)
		}
	}
}
