package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"warden/internal/dnstest"
)

// TestServeAsUser runs the built binary as root with --user nobody on port 53 of a loopback
// address: it must answer, and /proc must show the process (and each of its threads) as nobody
// and nobody's group, with no supplementary groups; `warden ctl` as root still reaches it.
func TestServeAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("binding port 53 and changing user need root; run the tests as root to cover --user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody here: %v", err)
	}
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := dnstest.BuildWarden(t, dir)
	zoneFile := filepath.Join(dir, "reload.test.zone")
	writeFile(t, zoneFile, zoneText(1, "192.0.2.10"))
	socket := filepath.Join(dir, "run", "control.sock")

	// Port 53 on an address of 127/8 that nothing else uses; another one if it is taken.
	var cmd *exec.Cmd
	var addr string
	var logs syncBuffer
	for attempt := 0; ; attempt++ {
		addr = fmt.Sprintf("127.%d.%d.%d:53", 100+rand.IntN(100), rand.IntN(250), 2+rand.IntN(250))
		cmd = exec.Command(bin, "serve", "--listen", addr, "--zone", "reload.test.="+zoneFile,
			"--storage", filepath.Join(dir, "storage"), "--control", socket, "--user", "nobody")
		logs = syncBuffer{}
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		answered := false
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !answered; {
			select {
			case <-exited:
				deadline = time.Time{}
				continue
			default:
			}
			a, err := askA(addr, "www.reload.test.")
			answered = err == nil && a == "192.0.2.10"
		}
		if answered {
			t.Cleanup(func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					_ = cmd.Process.Kill()
					t.Error("warden did not stop on SIGTERM")
				}
				if t.Failed() {
					t.Logf("warden's log:\n%s", logs.String())
				}
			})
			break
		}
		_ = cmd.Process.Kill()
		<-exited
		if attempt < 3 && strings.Contains(logs.String(), "address already in use") {
			continue
		}
		t.Fatalf("warden --user nobody on %s never answered:\n%s", addr, logs.String())
	}

	// The process and every thread: nobody's uid and gid in all four slots, no groups.
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", cmd.Process.Pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of %d: %v", cmd.Process.Pid, err)
	}
	for _, f := range append([]string{fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)}, tasks...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fields := map[string]string{}
		for line := range strings.SplitSeq(string(data), "\n") {
			k, v, _ := strings.Cut(line, ":")
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
		wantUid := strings.Repeat(nobody.Uid+" ", 4)
		wantGid := strings.Repeat(nobody.Gid+" ", 4)
		if fields["Uid"]+" " != wantUid || fields["Gid"]+" " != wantGid || fields["Groups"] != "" {
			t.Errorf("%s: Uid %q Gid %q Groups %q; want nobody's %s and %s, no groups", f, fields["Uid"], fields["Gid"], fields["Groups"], nobody.Uid, nobody.Gid)
		}
	}
	var out bytes.Buffer
	if code := run([]string{"ctl", "--control", socket, "status"}, &out, &out); code != 0 || !strings.Contains(out.String(), addr) {
		t.Errorf("ctl status as root: exit %d\n%s", code, out.String())
	}
	if !strings.Contains(logs.String(), `msg="running as user" user="nobody (uid `+nobody.Uid) {
		t.Errorf("the log does not say the server runs as nobody:\n%s", logs.String())
	}
}
