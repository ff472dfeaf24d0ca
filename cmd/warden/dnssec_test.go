package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"warden/internal/dnstest"
	"warden/internal/health"
	"warden/internal/transfer"
)

// A zone signed online, end to end: `warden serve` signs it when it loads, an AXFR of it passes
// dnssec-verify, `warden ctl zone ds` prints the DS that BIND's dnssec-dsfromkey makes from the
// key file, a changed zone file is re-signed and still verifies, and a restart keeps the keys.

const signedZone = `$TTL 300
@ SOA ns hostmaster 10 3600 600 86400 300
@ NS ns
ns A 192.0.2.1
www A 192.0.2.2
*.wild TXT "wild"
deep.ent.www2 A 192.0.2.3
sub NS ns.sub
ns.sub A 192.0.2.4
`

func TestServeSignsZone(t *testing.T) {
	for _, tool := range []string{"dnssec-verify", "dnssec-dsfromkey"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s (bind9-utils) is needed: %v", tool, err)
		}
	}
	dir := t.TempDir()
	zoneFile := filepath.Join(dir, "signed.test.zone")
	writeFile(t, zoneFile, signedZone)
	port, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.2.10", strconv.Itoa(port))
	socket := filepath.Join(dir, "control.sock")
	cfgPath := filepath.Join(dir, "warden.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`listen: [%q]
storage: storage
zones:
  - origin: signed.test.
    file: signed.test.zone
    allow_transfer: [127.0.0.0/8]
    dnssec:
      sign: true
      denial: nsec3
control:
  socket: %s
`, addr, socket))

	logs, stop := runServerUntilStopped(t, cfgPath)
	signed := axfrVerified(t, addr, dir, 10)
	if !strings.Contains(signed, "NSEC3PARAM") || !strings.Contains(signed, "CDS") || !strings.Contains(signed, "CDNSKEY") {
		t.Fatalf("the signed zone lacks NSEC3PARAM, CDS or CDNSKEY:\n%s", signed)
	}
	if fi, err := os.Stat(filepath.Join(dir, "keys")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("key directory: %v, mode %v; want keys/ beside the config, 0700", err, fi.Mode().Perm())
	}

	// The DS the server prints is the one BIND's tool makes from the KSK's file.
	keys := ctlOut(t, socket, "zone", "keys", "signed.test.")
	ksk := regexp.MustCompile(`(?m)^(\d+)\s+13\s+KSK\s+active`).FindStringSubmatch(keys)
	if ksk == nil || !regexp.MustCompile(`(?m)^\d+\s+13\s+ZSK\s+active`).MatchString(keys) {
		t.Fatalf("zone keys: want an active KSK and ZSK of algorithm 13:\n%s", keys)
	}
	ds := ctlOut(t, socket, "zone", "ds", "signed.test.")
	keyFile := filepath.Join(dir, "keys", fmt.Sprintf("Ksigned.test.+013+%05s.key", ksk[1]))
	bind, err := exec.Command("dnssec-dsfromkey", "-2", keyFile).CombinedOutput()
	if err != nil {
		t.Fatalf("dnssec-dsfromkey %s: %v\n%s", keyFile, err, bind)
	}
	if digest := strings.Fields(string(bind)); len(digest) < 1 || !strings.Contains(strings.ToLower(ds), strings.ToLower(digest[len(digest)-1])) {
		t.Fatalf("zone ds printed\n%s\nbut dnssec-dsfromkey makes\n%s", ds, bind)
	}

	// A changed file is re-signed; the new version verifies.
	writeFile(t, zoneFile, strings.Replace(signedZone, " 10 3600", " 11 3600", 1)+"new A 192.0.2.9\n")
	if out := ctlOut(t, socket, "reload"); out == "" {
		t.Fatal("reload printed nothing")
	}
	if after := axfrVerified(t, addr, dir, 11); !strings.Contains(after, "new.signed.test.") {
		t.Fatalf("the new name is not in the signed zone:\n%s", after)
	}
	if show := ctlOut(t, socket, "zone", "show", "signed.test."); !strings.Contains(show, "signed here, from serial 11") {
		t.Fatalf("zone show:\n%s", show)
	}

	// A key that can no longer be read stops the signing of the next version, not the serving
	// of the last signed one; zone show says why, and mending the key lets the change through.
	zsk := regexp.MustCompile(`(?m)^(\d+)\s+13\s+ZSK\s+active`).FindStringSubmatch(keys)
	private := filepath.Join(dir, "keys", fmt.Sprintf("Ksigned.test.+013+%05s.private", zsk[1]))
	good, err := os.ReadFile(private)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, private, "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: AAAA\n")
	writeFile(t, zoneFile, strings.Replace(signedZone, " 10 3600", " 12 3600", 1)+"new A 192.0.2.9\nlater A 192.0.2.10\n")
	// Three reloads fail to sign it; the failure is logged once, and zone show says since when.
	for range 3 {
		ctlOut(t, socket, "reload")
	}
	show := ctlOut(t, socket, "zone", "show", "signed.test.")
	if !strings.Contains(show, "signing error") || !strings.Contains(show, private) || !strings.Contains(show, "failing since") {
		t.Fatalf("zone show after a failed signing, want the signing error naming %s and since when:\n%s", private, show)
	}
	if !strings.Contains(ctlOut(t, socket, "status"), "PROBLEM: zone signing signed.test.: failing since ") {
		t.Fatalf("status does not list the failed signing:\n%s", ctlOut(t, socket, "status"))
	}
	if still := axfrVerified(t, addr, dir, 11); strings.Contains(still, "later.signed.test.") {
		t.Fatalf("a version that could not be signed is served:\n%s", still)
	}
	writeFile(t, private, string(good))
	ctlOut(t, socket, "reload")
	if mended := axfrVerified(t, addr, dir, 12); !strings.Contains(mended, "later.signed.test.") {
		t.Fatalf("the change is not served once the key is mended:\n%s", mended)
	}
	if show := ctlOut(t, socket, "zone", "show", "signed.test."); strings.Contains(show, "signing error") {
		t.Fatalf("zone show still has the signing error:\n%s", show)
	}
	lines, err := dnstest.ParseLog(logs.String())
	if err != nil {
		t.Fatal(err)
	}
	starts := dnstest.Matching(lines, health.ZoneSigning.Started, "zone", "signed.test.")
	ends := dnstest.Matching(lines, health.ZoneSigning.Ended, "zone", "signed.test.")
	if len(starts) != 1 || len(ends) != 1 || ends[0]["failures"] != "3" || !strings.Contains(starts[0]["err"], private) {
		t.Fatalf("signing failure lines: %d starting, %d ending (%v), want one each, the end counting 3 failures", len(starts), len(ends), ends)
	}

	// A restart keeps the keys and goes past the serials already sent out.
	stop()
	runServerUntilStopped(t, cfgPath)
	axfrVerified(t, addr, dir, 13)
	if again := ctlOut(t, socket, "zone", "keys", "signed.test."); tags(again) != tags(keys) {
		t.Fatalf("keys after restart:\n%s\nbefore:\n%s", again, keys)
	}
}

// axfrVerified transfers the zone once it has serial and runs dnssec-verify over it.
func axfrVerified(t *testing.T, addr, dir string, serial uint32) string {
	t.Helper()
	var text bytes.Buffer
	waitForIn(t, 10*time.Second, fmt.Sprintf("AXFR with serial %d", serial), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := transfer.AXFR(ctx, transfer.Peer{Addr: netip.MustParseAddrPort(addr)}, "signed.test.", transfer.Limits{})
		if err != nil || len(res.Full) == 0 {
			return false
		}
		text.Reset()
		for _, rr := range res.Full {
			fmt.Fprintln(&text, rr.String())
		}
		return strings.Contains(strings.Fields(res.Full[0].String())[6], strconv.Itoa(int(serial)))
	})
	path := filepath.Join(dir, fmt.Sprintf("axfr-%d.zone", serial))
	writeFile(t, path, text.String())
	if out, err := exec.Command("dnssec-verify", "-o", "signed.test.", path).CombinedOutput(); err != nil {
		t.Fatalf("dnssec-verify refuses the AXFR of serial %d: %v\n%s\n%s", serial, err, out, text.String())
	}
	return text.String()
}

func ctlOut(t *testing.T, socket string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(append(append([]string{"ctl"}, args...), "--control", socket), &out, &errb); code != 0 {
		t.Fatalf("warden ctl %s: exit %d: %s%s", strings.Join(args, " "), code, out.String(), errb.String())
	}
	return out.String()
}

// tags is the key tags and roles of `zone keys` output.
func tags(keys string) string {
	return strings.Join(regexp.MustCompile(`(?m)^\d+\s+\d+\s+[KZC]SK`).FindAllString(keys, -1), ",")
}
