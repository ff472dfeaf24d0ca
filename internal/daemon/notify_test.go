package daemon

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"warden/internal/config"
	"warden/internal/dnstest"
)

// TestNotifyServiceManager plays systemd's part: a unixgram socket named by NOTIFY_SOCKET gets
// READY=1 once the server answers, RELOADING=1 then READY=1 around a SIGHUP reload, and
// STOPPING=1 when it shuts down.
func TestNotifyServiceManager(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	next := func(want string) string {
		t.Helper()
		buf := make([]byte, 4096)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		msg := string(buf[:n])
		if !strings.HasPrefix(msg, want+"\n") {
			t.Fatalf("got %q, want %s first", msg, want)
		}
		return msg
	}

	port, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	zoneFile := filepath.Join(dir, "run.test.zone")
	writeZone(t, zoneFile, 1, "192.0.2.1")
	cfg := parseConfig(t, fmt.Sprintf("listen: [%q]\nzones: [{origin: run.test., file: %s}]\ncontrol: {socket: \"\"}\n", addr, zoneFile))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Log: quiet, Reread: func() (*config.Config, error) { return cfg, nil }})
	}()
	defer func() {
		cancel()
		<-done
	}()

	ready := next("READY=1")
	if !strings.Contains(ready, "STATUS=serving 1 zones on 1 listeners\n") {
		t.Errorf("READY message %q lacks the status line", ready)
	}
	// Told ready only once it answers.
	if answerOf(t, addr) != "192.0.2.1" {
		t.Fatal("READY=1 before the server answers")
	}

	writeZone(t, zoneFile, 2, "192.0.2.2")
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reloading := next("RELOADING=1")
	if !strings.Contains(reloading, "\nMONOTONIC_USEC=") {
		t.Errorf("RELOADING message %q lacks MONOTONIC_USEC", reloading)
	}
	next("READY=1")
	// The reload was done when READY=1 came.
	if got := answerOf(t, addr); got != "192.0.2.2" {
		t.Errorf("after the reload's READY=1 the answer is %q, want 192.0.2.2", got)
	}

	cancel()
	next("STOPPING=1")
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	done <- nil
}

// TestNotifyAbstractAndNone: an abstract socket (@name) is reached too; without NOTIFY_SOCKET
// nothing is sent and nothing fails.
func TestNotifyAbstractAndNone(t *testing.T) {
	name := fmt.Sprintf("@warden-notify-test-%d", time.Now().UnixNano())
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", name)
	if err := newNotifier().stopping(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "STOPPING=1\n") {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := newNotifier().ready("x"); err != nil {
		t.Fatalf("without a service manager: %v", err)
	}
}
