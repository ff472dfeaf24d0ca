package dnstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"warden/internal/peers"
)

// Denial is how a zone signed by SignZone denies names.
type Denial uint8

const (
	DenialNSEC   Denial = iota
	DenialNSEC3         // NSEC3 with no extra iterations and no salt (RFC 9276)
	DenialOptOut        // the same, with opt-out: unsigned delegations have no NSEC3 of their own
)

func (d Denial) String() string {
	return [...]string{"NSEC", "NSEC3", "NSEC3 opt-out"}[d]
}

// SignedZone is a zone signed at test time.
type SignedZone struct {
	Zone
	// KSKFile is the key-signing key's public key file (a DNSKEY record in master-file form), a
	// trust anchor for a validating resolver.
	KSKFile string
}

// SignZone signs z with a new ECDSA P-256 key pair (a KSK and a ZSK) using BIND's dnssec-keygen
// and dnssec-signzone, and returns the signed file, written into a directory of the test. The
// signatures are valid from an hour before now for 30 days, dnssec-signzone's default. Without
// the BIND tools the test is skipped (an error when CI=true).
func SignZone(t testing.TB, z Zone, denial Denial) SignedZone {
	t.Helper()
	keygen := peerBin(t, "dnssec-keygen")
	signzone := peerBin(t, "dnssec-signzone")
	dir := t.TempDir()
	run := func(bin string, args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr)
		}
		return strings.TrimSpace(string(out))
	}
	ksk := run(keygen, "-q", "-K", dir, "-a", "ECDSAP256SHA256", "-f", "KSK", z.Origin)
	zsk := run(keygen, "-q", "-K", dir, "-a", "ECDSAP256SHA256", z.Origin)
	text, err := os.ReadFile(z.File)
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	in.Write(text)
	for _, k := range []string{ksk, zsk} {
		key, err := os.ReadFile(filepath.Join(dir, k+".key"))
		if err != nil {
			t.Fatal(err)
		}
		in.WriteString("\n")
		in.Write(key)
	}
	input := filepath.Join(dir, "unsigned.zone")
	if err := os.WriteFile(input, []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "signed.zone")
	args := []string{"-q", "-K", dir, "-o", z.Origin, "-f", out}
	switch denial {
	case DenialNSEC3:
		args = append(args, "-3", "-", "-H", "0")
	case DenialOptOut:
		args = append(args, "-3", "-", "-H", "0", "-A")
	}
	args = append(args, input, ksk, zsk)
	run(signzone, args...)
	return SignedZone{Zone: Zone{Origin: z.Origin, File: out}, KSKFile: filepath.Join(dir, ksk+".key")}
}

// StartKnotOn is StartKnot listening on ip (a loopback address) rather than 127.0.0.1.
func StartKnotOn(t testing.TB, ip string, zones []Zone) (addr string) {
	t.Helper()
	return startKnot(t, 0, func(string) peers.Knot { return peers.Knot{IP: ip, Zones: zones} }).Addr
}
