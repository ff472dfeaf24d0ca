package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/transfer"
	"warden/internal/tsig"
)

// Changes to zones signed online arrive three ways besides the file: a dynamic UPDATE to a
// signed primary, and an IXFR into a signed secondary. Each is re-signed incrementally: the AXFR
// of the result passes dnssec-verify, the IXFR out of it carries only the change (the changed
// RRsets, their signatures, the denial records around them, the SOA's), and the signatures of
// the RRsets that did not change are the ones they had.

// signedChangeZone is a zone with enough names that a whole re-sign could not pass for an
// incremental one.
func signedChangeZone(origin string, serial int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 300\n@ SOA ns hostmaster %d 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.2\n", origin, serial)
	for i := range 200 {
		fmt.Fprintf(&b, "h%d A 10.0.%d.%d\n", i, i/256, i%256)
	}
	return b.String()
}

func TestSignedZoneChanges(t *testing.T) {
	for _, tool := range []string{"dnssec-verify", "nsupdate"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s (bind9-utils, dnsutils) is needed: %v", tool, err)
		}
	}
	key := replKey(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "upd.test.zone"), signedChangeZone("upd.test.", 1))
	writeFile(t, filepath.Join(dir, "sec.test.zone"), signedChangeZone("sec.test.", 1))
	primary, signer := loopback(t, "127.0.6.20"), loopback(t, "127.0.6.21")

	// The primary of sec.test. serves it unsigned. (Its NOTIFY would leave from 127.0.0.1, not
	// from the address the secondary knows it by: the secondary is told to refresh instead.)
	yamlServer(t, dir, "primary", fmt.Sprintf(`listen: [%q]
storage: %s
control: {socket: ""}
keys: [{name: %s, algorithm: hmac-sha256, secret: %q}]
zones:
  - {origin: sec.test., file: sec.test.zone, key: %s, allow_transfer: [127.0.0.0/8], allow_update: [127.0.0.0/8]}
`, primary, filepath.Join(dir, "primary-storage"), replKeyName, replKeySecret, replKeyName))
	socket := filepath.Join(dir, "signer.sock")
	// The signing server: upd.test. is its own (dynamic updates), sec.test. a secondary.
	_, logs := yamlServer(t, dir, "signer", fmt.Sprintf(`listen: [%q]
storage: %s
control: {socket: %s}
keys: [{name: %s, algorithm: hmac-sha256, secret: %q}]
zones:
  - origin: upd.test.
    file: upd.test.zone
    key: %s
    allow_transfer: [127.0.0.0/8]
    allow_update: [127.0.0.0/8]
    dnssec: {sign: true, key_dir: keys}
  - origin: sec.test.
    primaries: [%q]
    key: %s
    allow_transfer: [127.0.0.0/8]
    dnssec: {sign: true, key_dir: keys, denial: nsec3}
`, signer, filepath.Join(dir, "signer-storage"), socket, replKeyName, replKeySecret, replKeyName, primary, replKeyName))

	for _, c := range []struct {
		origin string
		change func()
	}{
		{"upd.test.", func() {
			nsupdate(t, signer, "zone upd.test.\nupdate add new.upd.test. 300 A 198.51.100.1\nupdate delete h7.upd.test. A\nsend\n")
		}},
		{"sec.test.", func() {
			nsupdate(t, primary, "zone sec.test.\nupdate add new.sec.test. 300 A 198.51.100.1\nupdate delete h7.sec.test. A\nsend\n")
			waitSerial(t, primary, "sec.test.", 2)
			ctlOut(t, socket, "zone", "refresh", "sec.test.")
		}},
	} {
		t.Run(c.origin, func(t *testing.T) {
			before := signedAXFR(t, signer, c.origin, key, 0)
			c.change()
			after := signedAXFR(t, signer, c.origin, key, before.SOA.Serial+1)
			if !strings.Contains(after.text, "new."+c.origin) || strings.Contains(after.text, "\nh7."+c.origin) {
				t.Fatalf("the change is not in the signed zone:\n%s", after.text)
			}
			// Untouched RRsets keep their signatures: nothing was signed whole.
			for _, name := range []string{"www.", "h100."} {
				if b, a := before.sigs[name+c.origin], after.sigs[name+c.origin]; b == "" || b != a {
					t.Errorf("%s%s: signature %q before the change, %q after; want the same", name, c.origin, b, a)
				}
			}
			// IXFR out carries the change alone.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := transfer.IXFR(ctx, transfer.Peer{Addr: netip.MustParseAddrPort(signer), Key: key}, c.origin, before.SOA, transfer.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Diffs) != 1 {
				t.Fatalf("IXFR from serial %d: %d diffs, %d records whole; want one diff", before.SOA.Serial, len(res.Diffs), len(res.Full))
			}
			d := res.Diffs[0]
			var changed []string
			for _, rr := range append(append([]dns.RR{}, d.Removed...), d.Added...) {
				changed = append(changed, rr.Header().Name+" "+dns.TypeToString[dns.RRToType(rr)])
			}
			list := strings.Join(changed, "\n")
			// Out: h7's A and its RRSIG, its denial record and RRSIG, its neighbour's, the SOA's
			// RRSIG; in: the new name's, the neighbours' denial records, the SOA's RRSIG.
			if len(changed) > 24 {
				t.Errorf("IXFR carries %d records for a change of two:\n%s", len(changed), list)
			}
			for _, want := range []string{"new." + c.origin + " A", "new." + c.origin + " RRSIG", "h7." + c.origin + " A", c.origin + " RRSIG"} {
				if !strings.Contains(list+"\n", want+"\n") {
					t.Errorf("IXFR lacks %s:\n%s", want, list)
				}
			}
			if strings.Contains(list, "www."+c.origin) {
				t.Errorf("IXFR carries records of www, which did not change:\n%s", list)
			}
		})
	}
	if !strings.Contains(logs.String(), `why="IXFR (1 changes) from`) {
		t.Errorf("the signed secondary did not take the change by IXFR:\n%s", logs.String())
	}
}

// loopback is ip with a port free for UDP and TCP.
func loopback(t *testing.T, ip string) string {
	t.Helper()
	port, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// signedZoneCopy is one AXFR of a signed zone: its text, its SOA, and the signature over the A
// RRset of each name.
type signedZoneCopy struct {
	text string
	SOA  *dns.SOA
	sigs map[string]string
}

// signedAXFR transfers origin from addr once its serial is at least serial (0: any), and runs
// dnssec-verify over it.
func signedAXFR(t *testing.T, addr, origin string, key *tsig.Key, serial uint32) signedZoneCopy {
	t.Helper()
	var got signedZoneCopy
	waitForIn(t, 15*time.Second, fmt.Sprintf("%s at serial %d or later", origin, serial), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := transfer.AXFR(ctx, transfer.Peer{Addr: netip.MustParseAddrPort(addr), Key: key}, origin, transfer.Limits{})
		if err != nil || res.SOA == nil || dns.CompareSerial(res.SOA.Serial, serial) < 0 {
			return false
		}
		var b strings.Builder
		got = signedZoneCopy{SOA: res.SOA, sigs: map[string]string{}}
		for _, rr := range res.Full {
			fmt.Fprintln(&b, rr.String())
			if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == dns.TypeA {
				got.sigs[s.Hdr.Name] += s.Signature
			}
		}
		got.text = b.String()
		return true
	})
	path := filepath.Join(t.TempDir(), fmt.Sprintf("%s%d", origin, got.SOA.Serial))
	if err := os.WriteFile(path, []byte(got.text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("dnssec-verify", "-o", origin, path).CombinedOutput(); err != nil {
		t.Fatalf("dnssec-verify refuses the AXFR of %s at serial %d: %v\n%s", origin, got.SOA.Serial, err, out)
	}
	return got
}

// TestSignedFileLoadedForSigning: a zone file that is signed already, given to a zone with
// dnssec.sign, is served signed with the server's own keys, and the log says once that the
// file's DNSSEC records were replaced.
func TestSignedFileLoadedForSigning(t *testing.T) {
	dir := t.TempDir()
	plain, presigned := filepath.Join(dir, "plain.zone"), filepath.Join(dir, "pre.test.zone")
	writeFile(t, plain, signedChangeZone("pre.test.", 5))
	if code, _, errOut := runArgs("zone", "sign", "--zone", "pre.test.="+plain, "--key-dir", filepath.Join(dir, "other-keys"), "--out", presigned); code != 0 {
		t.Fatalf("zone sign: exit %d: %s", code, errOut)
	}
	addr := loopback(t, "127.0.6.22")
	_, logs := yamlServer(t, dir, "server", fmt.Sprintf(`listen: [%q]
storage: %s
control: {socket: ""}
zones:
  - origin: pre.test.
    file: pre.test.zone
    allow_transfer: [127.0.0.0/8]
    dnssec: {sign: true, key_dir: keys}
`, addr, filepath.Join(dir, "storage")))
	served := signedAXFR(t, addr, "pre.test.", nil, 5)
	waitForIn(t, 5*time.Second, "the warning", func() bool { return strings.Contains(logs.String(), "zone file is signed already") })
	if n := strings.Count(logs.String(), "zone file is signed already"); n != 1 {
		t.Errorf("%d warnings about the signed file, want 1:\n%s", n, logs.String())
	}
	fileText, err := os.ReadFile(presigned)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(served.text, "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[3] == "DNSKEY" && strings.Contains(string(fileText), f[len(f)-1]) {
			t.Errorf("the file's DNSKEY is served: %s", line)
		}
	}
}
