package peers

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// need returns a program's path, or skips the test without it.
func need(t *testing.T, name string) string {
	t.Helper()
	bin, err := Bin(name)
	if err != nil {
		t.Skip(err)
	}
	return bin
}

// running returns a function that takes what a Start function returns, waits until the peer
// answers, and has it stopped when the test ends: running(t)(StartKnot(k)).
func running(t *testing.T) func(*Proc, error) *Proc {
	return func(p *Proc, err error) *Proc {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ready(t, p)
	}
}

func ready(t *testing.T, p *Proc) *Proc {
	t.Helper()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

const testZone = `$ORIGIN peer.example.
@ 3600 IN SOA ns hostmaster 7 3600 600 86400 60
@ 3600 IN NS ns
ns 3600 IN A 192.0.2.53
www 3600 IN A 192.0.2.1
`

func writeZone(t *testing.T) Zone {
	t.Helper()
	file := filepath.Join(t.TempDir(), "peer.example.zone")
	if err := os.WriteFile(file, []byte(testZone), 0o600); err != nil {
		t.Fatal(err)
	}
	return Zone{Origin: "peer.example.", File: file}
}

func askA(t *testing.T, addr, name string) *dns.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := dns.Exchange(ctx, dns.NewMsg(name, dns.TypeA), "udp", addr)
	if err != nil {
		t.Fatalf("%s A from %s: %v", name, addr, err)
	}
	return r
}

func hasA(r *dns.Msg, ip string) bool {
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok && a.A.Addr.String() == ip {
			return true
		}
	}
	return false
}

func TestKnotConfig(t *testing.T) {
	z := writeZone(t)
	text, err := Knot{IP: "127.0.3.1", Port: 5300, Dir: "/run/k", Zones: []Zone{z}, Allow: []string{"transfer", "update"}}.Config()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"    listen: 127.0.3.1@5300\n",
		"    rundir: \"/run/k\"\n",
		"    action: [transfer, update]\n",
		"    acl: local\n",
		"  - domain: \"peer.example.\"\n    file: \"" + z.File + "\"\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("configuration lacks %q:\n%s", want, text)
		}
	}
	if _, err := (Knot{Dir: "/run/k", Zones: []Zone{z}, Sections: "zone:\n"}).Config(); err == nil {
		t.Error("zones and sections both given: no error")
	}
	if _, err := (Knot{Dir: "/run/k", Zones: []Zone{{Origin: "gone.test.", File: "/nonexistent.zone"}}}).Config(); err == nil {
		t.Error("a missing zone file: no error")
	}
}

func TestKnotServes(t *testing.T) {
	need(t, "knotd")
	z := writeZone(t)
	dir := t.TempDir()
	p := running(t)(StartKnot(Knot{Port: freePort(t), Dir: dir, Zones: []Zone{z}}))
	if r := askA(t, p.Addr(), "www.peer.example."); !r.Authoritative || !hasA(r, "192.0.2.1") {
		t.Errorf("knotd answered:\n%v", r)
	}
	out, err := KnotControl(dir, "zone-status", "peer.example.")
	if err != nil || !strings.Contains(out, "serial: 7") {
		t.Errorf("knotc zone-status: %v\n%s", err, out)
	}
}

func TestNSDServes(t *testing.T) {
	need(t, "nsd")
	z := writeZone(t)
	p := running(t)(StartNSD(NSD{Port: freePort(t), Dir: t.TempDir(), Zones: []Zone{z}}))
	if r := askA(t, p.Addr(), "www.peer.example."); !r.Authoritative || !hasA(r, "192.0.2.1") {
		t.Errorf("nsd answered:\n%v", r)
	}
}

// TestUnboundResolvesFromKnot: Unbound, given root hints that name a knotd serving the root, the
// zone and the whole tree, resolves through it.
func TestUnboundResolvesFromKnot(t *testing.T) {
	need(t, "knotd")
	need(t, "unbound")
	// Unbound asks root servers on port 53 only; without root the test cannot serve the root.
	if os.Geteuid() != 0 {
		t.Skip("root hints name servers on port 53: run as root")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root.zone")
	rootZone := ". 3600 IN SOA a.root.example. hostmaster.example. 1 3600 600 86400 60\n" +
		". 3600 IN NS a.root.example.\na.root.example. 3600 IN A 127.0.5.53\n" +
		"peer.example. 3600 IN NS ns.peer.example.\nns.peer.example. 3600 IN A 127.0.5.53\n"
	if err := os.WriteFile(root, []byte(rootZone), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckFree("127.0.5.53:53"); err != nil {
		t.Skip(err)
	}
	running(t)(StartKnot(Knot{IP: "127.0.5.53", Port: 53, Dir: filepath.Join(dir, "knot"), Zones: []Zone{{Origin: ".", File: root}, writeZone(t)}}))
	hints := filepath.Join(dir, "root.hints")
	if err := os.WriteFile(hints, []byte(". 3600000 IN NS a.root.example.\na.root.example. 3600000 IN A 127.0.5.53\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := running(t)(StartUnbound(Unbound{Port: freePort(t), Dir: filepath.Join(dir, "unbound"), RootHints: hints}))
	if r := askA(t, p.Addr(), "www.peer.example."); r.Rcode != dns.RcodeSuccess || !hasA(r, "192.0.2.1") {
		t.Errorf("unbound answered:\n%v", r)
	}
}

func TestNamedServes(t *testing.T) {
	need(t, "named")
	z := writeZone(t)
	p := running(t)(StartNamed(Named{
		Port:    freePort(t),
		Dir:     t.TempDir(),
		Options: "\trecursion no;\n",
		Body:    "zone \"peer.example.\" { type primary; file \"" + z.File + "\"; };\n",
	}))
	if r := askA(t, p.Addr(), "www.peer.example."); !r.Authoritative || !hasA(r, "192.0.2.1") {
		t.Errorf("named answered:\n%v", r)
	}
}

// TestTakenPort: a peer whose address is taken does not start; the error says so.
func TestTakenPort(t *testing.T) {
	need(t, "knotd")
	port := freePort(t)
	p := running(t)(StartKnot(Knot{Port: port, Dir: t.TempDir(), Zones: []Zone{writeZone(t)}}))
	_, err := StartKnot(Knot{Port: port, Dir: t.TempDir(), Zones: []Zone{writeZone(t)}})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second knotd on %s: got %v, want EADDRINUSE", p.Addr(), err)
	}
}

// sleeper starts a process that runs until stopped and answers nothing.
func sleeper(t *testing.T) *Proc {
	t.Helper()
	bin := need(t, "sleep")
	p, err := start("sleep", bin, []string{"600"}, t.TempDir(), "nowhere", "", func(context.Context) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestForkingThreadExits: a peer started from a goroutine locked to its thread keeps running
// after that goroutine returns and its thread ends. Had the peer been forked on that thread, its
// parent-death signal would have killed it.
func TestForkingThreadExits(t *testing.T) {
	var p *Proc
	var tid int
	onThreadThatEnds(func() {
		p, tid = sleeper(t), syscall.Gettid()
	})
	defer p.Stop()
	for deadline := time.Now().Add(2 * time.Second); threadAlive(tid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("thread %d did not end with its goroutine", tid)
		}
	}
	select {
	case <-p.Done():
		t.Fatalf("the peer died with the thread of the goroutine that started it: %v", p.Err())
	case <-time.After(300 * time.Millisecond):
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if p.Err() != nil {
		t.Errorf("after Stop: %v", p.Err())
	}
}

// onThreadThatEnds runs f on a goroutine locked to a thread, which ends when f returns. The
// runtime never ends the main thread, so a goroutine that finds itself there hands over to
// another while it holds the main thread.
func onThreadThatEnds(f func()) {
	done := make(chan struct{})
	var run func()
	run = func() {
		runtime.LockOSThread() // never unlocked but on the main thread: the thread ends with the goroutine
		if syscall.Gettid() == os.Getpid() {
			go run()
			<-done
			runtime.UnlockOSThread()
			return
		}
		defer close(done)
		f()
	}
	go run()
	<-done
}

// threadAlive says whether thread tid of this process still runs.
func threadAlive(tid int) bool {
	_, err := os.Stat("/proc/self/task/" + strconv.Itoa(tid))
	return err == nil
}

// TestPeerDiesWithProcess: when the process that started a peer dies without stopping it, the
// peer goes too. The test runs itself as that process.
func TestPeerDiesWithProcess(t *testing.T) {
	if os.Getenv("PEERS_TEST_ORPHAN") == "1" {
		p := sleeper(t)
		os.Stdout.WriteString("pid " + strconv.Itoa(p.cmd.Process.Pid) + "\n")
		os.Exit(0) // no Stop
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeerDiesWithProcess$")
	cmd.Env = append(os.Environ(), "PEERS_TEST_ORPHAN=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 || f[0] != "pid" {
		t.Skipf("the helper process printed %q", out)
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil && processAlive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the peer (pid %d) outlived the process that started it", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processAlive says whether pid runs and is not a zombie waiting to be reaped.
func processAlive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return runtime.GOOS != "linux" // without /proc, kill(pid, 0) alone decides
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || (stat[i+2] != 'Z' && stat[i+2] != 'X')
}
