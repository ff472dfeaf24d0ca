//go:build linux

// Package netbed builds network test beds for tests: the chain client — r1 — r2 — server, each in
// its own network namespace, with an injector that forges DNS replies on a router, as an on-path
// censor does. `warden probe` traces injection through it; the resolver's Hold-On is tested on it
// with the link from r2 to the server delayed, so that the injector answers well before the server.
package netbed

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

// NS is a named network namespace made by `ip netns add`.
type NS string

func (n NS) path() string { return "/var/run/netns/" + string(n) }

// Do runs fn on a fresh OS thread moved into the namespace and waits for it. Sockets fn opens stay
// in the namespace when used from any goroutine afterwards. The thread is never unlocked, so Go
// ends it with the goroutine and no other code ever runs in the namespace by accident.
func (n NS) Do(fn func() error) error {
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

// Sysctl writes a per-namespace setting such as "net/ipv4/ip_forward". /proc/sys/net shows the
// namespace of the thread that opens it.
func (n NS) Sysctl(key, value string) error {
	return n.Do(func() error {
		if err := os.WriteFile("/proc/sys/"+key, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s in %s: %w", key, n, err)
		}
		return nil
	})
}

// Layout says where a bed lives: the names of its namespaces and devices, its addresses, and how
// far the server is.
type Layout struct {
	// Prefix starts the name of every namespace ("PREFIXpid-serial-role") and, with DevPrefix, of
	// every device, so that beds of different tests never share a name.
	Prefix    string
	DevPrefix string
	// Base is the first address of the bed's /22: the client's link is Base/24, the link between
	// the routers the next /24, the server's link the one after.
	Base netip.Addr
	// ServerDelay delays the link between r2 and the server by this much each way (0: none), so
	// that the server is clearly farther from the client than r2 is.
	ServerDelay time.Duration
}

// Bed is the chain client — r1 — r2 — server:
//
//	client .1.2 — .1.1 r1 .2.1 — .2.2 r2 .3.1 — .3.2 server
//
// (for Base x.y.0.0 read x.y.0.2 and so on), so r1 is hop 1, r2 hop 2 and the server hop 3 from
// the client, and a router sends time exceeded from the address facing the client.
type Bed struct {
	Client, R1, R2, Server NS

	ClientAddr, R1Near, R1Far, R2Near, R2Far, ServerAddr netip.Addr
	// ServerNet is the server's link; more server addresses can be taken from it (AddServerAddr).
	ServerNet netip.Prefix

	layout Layout
	ip     string
}

// Dev is the name a device of the bed has: c0 (client), r1a and r1b (r1, towards the client and
// away), r2a and r2b, s0 (server), each after the layout's DevPrefix.
func (b *Bed) Dev(name string) string { return b.layout.DevPrefix + name }

// serial tells apart the beds of one test process; the PID tells apart processes.
var serial atomic.Uint32

// New builds the bed, or skips the test with the reason when this machine cannot make namespaces.
// Under CI=true as root that is a failure instead: CI must run these tests. Everything is deleted
// in t.Cleanup, failed or not; deleting a namespace deletes the devices in it, and no device is
// ever made in the test's own namespace.
func New(t testing.TB, l Layout) *Bed {
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
	removeStale(ip, l.Prefix)
	name := fmt.Sprintf("%s%d-%d", l.Prefix, os.Getpid(), serial.Add(1))
	b := &Bed{
		Client: NS(name + "-c"), R1: NS(name + "-r1"), R2: NS(name + "-r2"), Server: NS(name + "-s"),
		layout: l, ip: ip,
	}
	at := func(link, host byte) netip.Addr {
		a := l.Base.As4()
		a[2] += link
		a[3] = host
		return netip.AddrFrom4(a)
	}
	b.ClientAddr, b.R1Near, b.R1Far, b.R2Near, b.R2Far, b.ServerAddr = at(0, 2), at(0, 1), at(1, 1), at(1, 2), at(2, 1), at(2, 2)
	b.ServerNet = netip.PrefixFrom(at(2, 0), 24)
	whole := netip.PrefixFrom(l.Base, 22).Masked()

	for _, n := range []NS{b.Client, b.R1, b.R2, b.Server} {
		if err := b.ipCmd("netns", "add", string(n)); err != nil {
			unavailable("%v", err)
		}
		t.Cleanup(func() {
			if err := b.ipCmd("netns", "delete", string(n)); err != nil {
				t.Errorf("clean up: %v", err)
			}
		})
	}
	var steps [][]string
	link := func(n NS, dev string, peer NS, peerDev string) {
		steps = append(steps, []string{"-n", string(n), "link", "add", b.Dev(dev), "type", "veth", "peer", "name", b.Dev(peerDev), "netns", string(peer)})
	}
	link(b.Client, "c0", b.R1, "r1a")
	link(b.R1, "r1b", b.R2, "r2a")
	if l.ServerDelay == 0 {
		link(b.R2, "r2b", b.Server, "s0")
	}
	for _, s := range steps {
		if err := b.ipCmd(s...); err != nil {
			unavailable("%v", err)
		}
	}
	if l.ServerDelay > 0 {
		if err := b.delayedLink(t, b.R2, "r2b", b.Server, "s0", l.ServerDelay); err != nil {
			unavailable("%v", err)
		}
	}
	steps = steps[:0]
	addr := func(n NS, dev string, a netip.Addr) {
		steps = append(steps,
			[]string{"-n", string(n), "addr", "add", a.String() + "/24", "dev", b.Dev(dev)},
			[]string{"-n", string(n), "link", "set", b.Dev(dev), "up"})
	}
	addr(b.Client, "c0", b.ClientAddr)
	addr(b.R1, "r1a", b.R1Near)
	addr(b.R1, "r1b", b.R1Far)
	addr(b.R2, "r2a", b.R2Near)
	addr(b.R2, "r2b", b.R2Far)
	addr(b.Server, "s0", b.ServerAddr)
	route := func(n NS, dst netip.Prefix, via netip.Addr, dev string) {
		steps = append(steps, []string{"-n", string(n), "route", "add", dst.String(), "via", via.String(), "dev", b.Dev(dev), "onlink"})
	}
	route(b.Client, whole, b.R1Near, "c0")
	route(b.R1, b.ServerNet, b.R2Near, "r1b")
	route(b.R2, netip.PrefixFrom(b.ClientAddr, 24).Masked(), b.R1Far, "r2a")
	route(b.Server, whole, b.R2Far, "s0")
	for _, n := range []NS{b.Client, b.R1, b.R2, b.Server} {
		steps = append(steps, []string{"-n", string(n), "link", "set", "lo", "up"})
	}
	for _, s := range steps {
		if err := b.ipCmd(s...); err != nil {
			unavailable("%v", err)
		}
	}
	for _, r := range []NS{b.R1, b.R2} {
		// Forwarding makes them routers; no ICMP rate limit keeps every time exceeded coming,
		// however many traces the tests run.
		for _, kv := range [][2]string{{"net/ipv4/ip_forward", "1"}, {"net/ipv4/icmp_ratelimit", "0"}} {
			if err := r.Sysctl(kv[0], kv[1]); err != nil {
				unavailable("%v", err)
			}
		}
	}
	return b
}

// AddServerAddr gives the server one more address on its link, for a test that runs several
// servers (a hierarchy of zones) on the one host.
func (b *Bed) AddServerAddr(t testing.TB, a netip.Addr) {
	t.Helper()
	if !b.ServerNet.Contains(a) {
		t.Fatalf("%v is not on the server's link %v", a, b.ServerNet)
	}
	if err := b.ipCmd("-n", string(b.Server), "addr", "add", a.String()+"/32", "dev", b.Dev("s0")); err != nil {
		t.Fatal(err)
	}
}

// Command runs name with args inside ns (through `ip netns exec`), bound to ctx.
func (b *Bed) Command(ctx context.Context, ns NS, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, b.ip, append([]string{"netns", "exec", string(ns), name}, args...)...)
}

func (b *Bed) ipCmd(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, b.ip, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeStale deletes the namespaces of beds whose test process is gone: one killed by a timeout
// never ran its cleanup. Beds of live processes, and namespaces not named like a bed's, are left
// alone.
func removeStale(ip, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ip, "netns", "list").Output()
	if err != nil {
		return
	}
	for line := range strings.Lines(string(out)) {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		var pid, n int
		var role string
		if k, _ := fmt.Sscanf(rest, "%d-%d-%s", &pid, &n, &role); k != 3 || pid <= 0 {
			continue
		}
		if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
			continue
		}
		_ = exec.CommandContext(ctx, ip, "netns", "delete", name).Run()
	}
}
