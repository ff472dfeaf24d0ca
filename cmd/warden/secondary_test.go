package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestCtlZonesLive: `warden ctl zone list|show|refresh|retransfer` against a running server that
// holds a secondary (of a Warden primary) and a zone of its own: the output names each zone with
// its role and serial; refresh and retransfer of the secondary succeed; refresh of the primary zone
// and of an unknown zone fail with exit 1 and say why.
func TestCtlZonesLive(t *testing.T) {
	key := replKey(t)
	dir := t.TempDir()
	writeZoneFile(t, filepath.Join(dir, "sec.test.zone"), replZone("sec.test.", 5, 10), 1)
	writeZoneFile(t, filepath.Join(dir, "own.test.zone"), replZone("own.test.", 9, 3), 1)
	primaryAddr, secondaryAddr := freePort(t), freePort(t)
	yamlServer(t, dir, "primary", fmt.Sprintf(`listen: [%q]
storage: %s
control: {socket: ""}
keys: [{name: %s, algorithm: hmac-sha256, secret: %q}]
zones:
  - {origin: sec.test., file: sec.test.zone, key: %s, allow_transfer: [127.0.0.0/8], notify: [%q]}
`, primaryAddr, filepath.Join(dir, "primary-storage"), replKeyName, replKeySecret, replKeyName, secondaryAddr))
	socket := filepath.Join(dir, "secondary.sock")
	yamlServer(t, dir, "secondary", fmt.Sprintf(`listen: [%q]
storage: %s
control: {socket: %s}
keys: [{name: %s, algorithm: hmac-sha256, secret: %q}]
zones:
  - {origin: sec.test., primaries: [%q], key: %s}
  - {origin: own.test., file: own.test.zone}
`, secondaryAddr, filepath.Join(dir, "secondary-storage"), socket, replKeyName, replKeySecret, primaryAddr, replKeyName))
	waitSerial(t, secondaryAddr, "sec.test.", 5)
	sameZone(t, "sec.test.", primaryAddr, secondaryAddr, key)

	ctl := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := ctlCmd(append([]string{"--control", socket}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	for _, tc := range []struct {
		args     []string
		code     int
		stdout   []string // each must appear in the output
		stderr   []string // each must appear in the error output
		noStdout []string // none may appear in the output
	}{
		{args: []string{"zone", "list"}, stdout: []string{"sec.test.", "secondary", "5", "own.test.", "primary", "9", "primaries " + primaryAddr}},
		{args: []string{"zone", "show", "sec.test"}, stdout: []string{"sec.test.", "secondary", "serial", "5", "next refresh", "expires"}, noStdout: []string{"last error"}},
		{args: []string{"zone", "refresh", "sec.test."}},
		{args: []string{"zone", "retransfer", "sec.test."}},
		{args: []string{"zone", "refresh", "own.test."}, code: 1, stderr: []string{"own.test.", "not a secondary"}},
		{args: []string{"zone", "retransfer", "own.test."}, code: 1, stderr: []string{"own.test.", "not a secondary"}},
		{args: []string{"zone", "refresh", "nowhere.test."}, code: 1, stderr: []string{"nowhere.test.", "no such zone"}},
		{args: []string{"zone", "show", "nowhere.test."}, code: 1, stderr: []string{"nowhere.test.", "no such zone"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := ctl(tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.noStdout {
				if strings.Contains(out, s) {
					t.Errorf("output has %q:\n%s", s, out)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("error output lacks %q:\n%s", s, errOut)
				}
			}
		})
	}
	// After the retransfer the secondary still holds exactly the primary's zone, at the same serial.
	waitSerial(t, secondaryAddr, "sec.test.", 5)
	sameZone(t, "sec.test.", primaryAddr, secondaryAddr, key)
}
