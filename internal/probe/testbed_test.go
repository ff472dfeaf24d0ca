//go:build linux

package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test bed's addresses, all in 198.18.0.0/15 (RFC 2544, for network test beds):
//
//	client 198.18.1.2 — 198.18.1.1 r1 198.18.2.1 — 198.18.2.2 r2 198.18.3.1 — 198.18.3.2 server
//
// so r1 is hop 1, r2 hop 2 and the server hop 3 from the client, and a router sends time exceeded
// from the address facing the client.
var (
	bedClient   = netip.MustParseAddr("198.18.1.2")
	bedR1Near   = netip.MustParseAddr("198.18.1.1")
	bedR1Far    = netip.MustParseAddr("198.18.2.1")
	bedR2Near   = netip.MustParseAddr("198.18.2.2")
	bedR2Far    = netip.MustParseAddr("198.18.3.1")
	bedServer   = netip.MustParseAddr("198.18.3.2")
	bedNoServer = netip.MustParseAddr("198.18.3.99") // on the server's link, but no host has it
)

// netns is a named network namespace made by `ip netns add`.
type netns string

func (n netns) path() string { return "/var/run/netns/" + string(n) }

// do runs fn on a fresh OS thread moved into the namespace and waits for it. Sockets fn opens stay
// in the namespace when used from any goroutine afterwards. The thread is never unlocked, so Go
// ends it with the goroutine and no other code ever runs in the namespace by accident.
func (n netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(n.path())
		if err != nil {
			errc <- fmt.Errorf("open namespace %s: %w", n, err)
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", n, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// sysctl writes a per-namespace setting such as "net/ipv4/ip_forward". /proc/sys/net shows the
// namespace of the thread that opens it.
func (n netns) sysctl(key, value string) error {
	return n.do(func() error {
		if err := os.WriteFile("/proc/sys/"+key, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s in %s: %w", key, n, err)
		}
		return nil
	})
}

// removeStaleBeds deletes the namespaces of beds whose test process is gone: one killed by a
// timeout never ran its cleanup. Beds of live processes, and namespaces not named like a bed's,
// are left alone.
func removeStaleBeds(ip string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ip, "netns", "list").Output()
	if err != nil {
		return
	}
	for line := range strings.Lines(string(out)) {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		var pid, serial int
		var role string
		if n, _ := fmt.Sscanf(name, "wdn%d-%d-%s", &pid, &serial, &role); n != 3 || pid <= 0 {
			continue
		}
		if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
			continue
		}
		_ = exec.CommandContext(ctx, ip, "netns", "delete", name).Run()
	}
}

// testBed is the chain client — r1 — r2 — server, each in its own namespace.
type testBed struct {
	client, r1, r2, server netns
}

// bedSerial tells apart the beds of one test process; the PID tells apart processes.
var bedSerial atomic.Uint32

// newTestBed builds the chain, or skips the test with the reason when this machine cannot make
// namespaces. Under CI=true as root that is a failure instead: CI must run these tests. Everything
// is deleted in t.Cleanup, failed or not; deleting a namespace deletes the veth ends in it, and no
// link is ever made in the test's own namespace.
func newTestBed(t *testing.T) *testBed {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespace test bed: needs root to create namespaces")
	}
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := "network namespace test bed: " + fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		unavailable("no ip command (Debian package iproute2): %v", err)
	}
	removeStaleBeds(ip)
	prefix := fmt.Sprintf("wdn%d-%d", os.Getpid(), bedSerial.Add(1))
	bed := &testBed{
		client: netns(prefix + "-c"),
		r1:     netns(prefix + "-r1"),
		r2:     netns(prefix + "-r2"),
		server: netns(prefix + "-s"),
	}
	run := func(args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, ip, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	for _, n := range []netns{bed.client, bed.r1, bed.r2, bed.server} {
		if err := run("netns", "add", string(n)); err != nil {
			unavailable("%v", err)
		}
		t.Cleanup(func() {
			if err := run("netns", "delete", string(n)); err != nil {
				t.Errorf("clean up: %v", err)
			}
		})
	}
	var steps [][]string
	link := func(n netns, dev string, peer netns, peerDev string) {
		steps = append(steps, []string{"-n", string(n), "link", "add", dev, "type", "veth", "peer", "name", peerDev, "netns", string(peer)})
	}
	link(bed.client, "c0", bed.r1, "r1a")
	link(bed.r1, "r1b", bed.r2, "r2a")
	link(bed.r2, "r2b", bed.server, "s0")
	addr := func(n netns, dev string, a netip.Addr) {
		steps = append(steps,
			[]string{"-n", string(n), "addr", "add", a.String() + "/24", "dev", dev},
			[]string{"-n", string(n), "link", "set", dev, "up"})
	}
	addr(bed.client, "c0", bedClient)
	addr(bed.r1, "r1a", bedR1Near)
	addr(bed.r1, "r1b", bedR1Far)
	addr(bed.r2, "r2a", bedR2Near)
	addr(bed.r2, "r2b", bedR2Far)
	addr(bed.server, "s0", bedServer)
	route := func(n netns, dst string, via netip.Addr) {
		steps = append(steps, []string{"-n", string(n), "route", "add", dst, "via", via.String()})
	}
	route(bed.client, "198.18.0.0/15", bedR1Near)
	route(bed.r1, "198.18.3.0/24", bedR2Near)
	route(bed.r2, "198.18.1.0/24", bedR1Far)
	route(bed.server, "198.18.0.0/15", bedR2Far)
	for _, n := range []netns{bed.client, bed.r1, bed.r2, bed.server} {
		steps = append(steps, []string{"-n", string(n), "link", "set", "lo", "up"})
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			unavailable("%v", err)
		}
	}
	for _, r := range []netns{bed.r1, bed.r2} {
		// Forwarding makes them routers; no ICMP rate limit keeps every time exceeded coming,
		// however many traces the tests run.
		for _, kv := range [][2]string{{"net/ipv4/ip_forward", "1"}, {"net/ipv4/icmp_ratelimit", "0"}} {
			if err := r.sysctl(kv[0], kv[1]); err != nil {
				unavailable("%v", err)
			}
		}
	}
	return bed
}
