package probe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"warden/internal/dnstest"
	"warden/internal/dnstest/netbed"
)

// TestProbeCommandNetns runs `warden probe` itself, as a user would, inside the client namespace
// of the test bed: the names the injector on the second router forges come out injected, located
// at hop 2 with r2's address; the others come out consistent with nothing located; the exit
// status says tampering was found.
func TestProbeCommandNetns(t *testing.T) {
	bed := newTestBed(t)
	server := netip.AddrPortFrom(bedServer, 53)
	netbed.StartServer(t, bed.Server, server, map[string]netip.Addr{
		"blocked.test.": netip.MustParseAddr("198.18.3.100"),
		"clean.test.":   netip.MustParseAddr("198.18.3.102"),
	})
	inj := netbed.StartInjector(t, bed.R2, bed.Dev("r2a"), map[string]netip.Addr{"blocked.test.": forgedAddr})

	dir := t.TempDir()
	bin := dnstest.BuildWarden(t, dir)
	known := filepath.Join(dir, "known.txt")
	if err := os.WriteFile(known, []byte("blocked.test A 198.18.3.100\nclean.test A 198.18.3.102\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ip, "netns", "exec", string(bed.Client), bin, "probe",
		"--resolver", server.String(), "--trusted", known, "--max-hops", "6", "--json",
		"blocked.test", "clean.test")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("warden probe: %v\n%s", err, stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit status %d, want 1 (tampering found)\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	got := map[string]Result{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		got[strings.TrimSuffix(r.Name, ".")] = r
	}
	blocked, clean := got["blocked.test"], got["clean.test"]
	if blocked.Verdict != Injected || blocked.Hop != 2 || blocked.HopAddr != bedR2Near.String() {
		t.Errorf("blocked.test: %+v; want injected at hop 2, %s", blocked, bedR2Near)
	}
	if clean.Verdict != Consistent || clean.Hop != 0 || clean.HopAddr != "" {
		t.Errorf("clean.test: %+v; want consistent, nothing located", clean)
	}
	if inj.Forged.Load() == 0 {
		t.Error("the injector sent no forged reply")
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
}
