// Package dist holds what Warden is deployed with: the systemd unit, the starting configuration,
// the Debian package script and the container image definition. Its tests check each against the
// tools that read it.
package dist

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"warden/internal/config"
	"warden/internal/dnstest"
)

// inCI says whether a missing tool or right is a failure rather than a reason to skip: CI runs
// as root with the packages .ci/run installs.
func inCI() bool { return os.Getenv("CI") == "true" }

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// TestStartingConfiguration: the configuration the package installs is valid as it stands.
func TestStartingConfiguration(t *testing.T) {
	cfg, err := config.Load("warden.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Control.Socket != "/run/warden/control.sock" || cfg.Storage != "/var/lib/warden" || cfg.StateDir != "/var/lib/warden" {
		t.Errorf("socket %s, storage %s, state_dir %s: want the unit's RuntimeDirectory and StateDirectory", cfg.Control.Socket, cfg.Storage, cfg.StateDir)
	}
}

// TestUnitVerifies: systemd-analyze verify accepts the unit, with the binary's path replaced by
// one that exists here. It exits 0 on unknown keys and bad values, printing them, so any line
// about the unit fails the test too.
func TestUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		skipOrFail(t, "systemd-analyze not installed (apt package systemd): %v", err)
	}
	dir := t.TempDir()
	bin := dnstest.BuildWarden(t, dir)
	unit, err := os.ReadFile("warden.service")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("/usr/bin/warden ")) {
		t.Fatal("warden.service no longer runs /usr/bin/warden; update this test")
	}
	path := filepath.Join(dir, "warden.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/bin/warden"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.Contains(line, "warden.service") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
	for _, want := range []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "User=warden", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"StateDirectory=warden", "RuntimeDirectory=warden", "ProtectSystem=strict", "NoNewPrivileges=yes"} {
		if !bytes.Contains(unit, []byte("\n"+want+"\n")) {
			t.Errorf("warden.service lacks %s", want)
		}
	}
}

// TestDebianPackage builds the package with deb.sh, installs it with dpkg, runs `warden --version`
// and `warden check` from it, and purges it. It changes the system, so it runs only as root, and
// only where no warden package, /etc/warden or user warden was there before.
func TestDebianPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOrFail(t, "installing a package needs root")
	}
	for _, tool := range []string{"dpkg-deb", "dpkg", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, "%s not installed: %v", tool, err)
		}
	}
	if exec.Command("dpkg-query", "-W", "warden").Run() == nil {
		t.Skip("a warden package is installed on this machine; the test will not replace it")
	}
	if _, err := os.Stat("/etc/warden"); err == nil {
		t.Skip("/etc/warden exists; the test will not install over it")
	}
	userBefore := exec.Command("getent", "passwd", "warden").Run() == nil

	out := t.TempDir()
	build := exec.Command("bash", "deb.sh", out)
	build.Stderr = os.Stderr
	debPath, err := build.Output()
	if err != nil {
		t.Fatalf("deb.sh: %v", err)
	}
	deb := strings.TrimSpace(string(debPath))
	contents, err := exec.Command("dpkg-deb", "--contents", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --contents: %v\n%s", err, contents)
	}
	for _, want := range []string{"./usr/bin/warden", "./lib/systemd/system/warden.service", "./etc/warden/warden.yaml"} {
		if !bytes.Contains(contents, []byte(want+"\n")) {
			t.Errorf("the package lacks %s:\n%s", want, contents)
		}
	}
	if _, err := os.Stat("man.sh"); err == nil && !bytes.Contains(contents, []byte("./usr/share/man/man1/warden.1.gz")) {
		t.Errorf("man.sh is here but the package has no warden.1.gz:\n%s", contents)
	}
	conffiles, err := exec.Command("dpkg-deb", "--info", deb, "conffiles").Output()
	if err != nil || strings.TrimSpace(string(conffiles)) != "/etc/warden/warden.yaml" {
		t.Errorf("conffiles: %q %v; want /etc/warden/warden.yaml", conffiles, err)
	}

	dpkg := func(args ...string) {
		t.Helper()
		cmd := exec.Command("dpkg", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	dpkg("-i", deb)
	t.Cleanup(func() {
		dpkg("--purge", "warden")
		for _, gone := range []string{"/etc/warden", "/var/lib/warden", "/usr/bin/warden"} {
			if _, err := os.Stat(gone); err == nil {
				t.Errorf("%s is still there after the purge", gone)
			}
		}
		if !userBefore {
			_ = exec.Command("userdel", "warden").Run()
		}
	})

	for _, args := range [][]string{{"--version"}, {"check", "--config", "/etc/warden/warden.yaml"}} {
		if out, err := exec.Command("/usr/bin/warden", args...).CombinedOutput(); err != nil {
			t.Errorf("warden %s from the package: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if info, err := exec.Command(dnstest.GoCommand(t), "version", "-m", "/usr/bin/warden").Output(); err != nil || !bytes.Contains(info, []byte("vcs.revision=")) {
		t.Errorf("the packaged binary does not record its commit (-buildvcs=true): %v\n%s", err, info)
	}
	if out, err := exec.Command("getent", "passwd", "warden").Output(); err != nil {
		t.Errorf("the package made no user warden: %v", err)
	} else if f := strings.Split(string(out), ":"); len(f) < 7 || !strings.Contains(f[6], "nologin") && !strings.Contains(f[6], "false") {
		t.Errorf("user warden has a login shell: %s", out)
	}
	if out, err := exec.Command("stat", "-c", "%U:%G %a", "/var/lib/warden").Output(); err != nil || strings.TrimSpace(string(out)) != "warden:warden 750" {
		t.Errorf("/var/lib/warden: %q %v; want warden:warden 750", out, err)
	}
}
