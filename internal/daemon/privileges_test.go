package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/config"
	"warden/internal/dnstest"
	"warden/internal/query"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("changing to another user needs root; run the tests as root to cover it")
	}
}

// nobody is the account the tests change to.
func nobody(t *testing.T) account {
	t.Helper()
	a, err := lookupAccount("nobody")
	if err != nil {
		t.Skipf("no user nobody on this system: %v", err)
	}
	return a
}

// dropReport is what the child process of TestDropEveryThread reports after the change.
type dropReport struct {
	Threads []struct {
		TID            string
		Uids, Gids     []string
		Groups         []string
		CapEff, CapPrm string
	}
	Answered bool
	Err      string
	// Owners are the uids owning the files the server made as root before the change.
	Owners map[string]string
	// SocketGone says the control socket was removed at shutdown, as the account.
	SocketGone bool
	Log        string
}

// TestDropEveryThread runs a server with user: nobody in a child process (the change cannot be
// undone): its UDP workers run on locked OS threads started before the change; every thread the
// child has must then show nobody's uid and gid (real, effective, saved, filesystem), no
// supplementary groups and no capabilities; the server must still answer; what it wrote as root
// (storage directory, journal, policy state) must be nobody's; and the control socket must go
// at shutdown.
func TestDropEveryThread(t *testing.T) {
	if os.Getenv("WARDEN_DROP_CHILD") != "" {
		dropChild()
		return
	}
	needRoot(t)
	a := nobody(t)
	// The parent of the child's directories must be open to nobody, as /var/lib is.
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDropEveryThread$", "-test.count=1")
	cmd.Env = append(os.Environ(), "WARDEN_DROP_CHILD="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s%s", err, out, stderr.String())
	}
	i := bytes.LastIndex(out, []byte("REPORT "))
	if i < 0 {
		t.Fatalf("child gave no report:\n%s%s", out, stderr.String())
	}
	line, _, _ := bytes.Cut(out[i+len("REPORT "):], []byte("\n"))
	var r dropReport
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatalf("child report %q: %v", line, err)
	}
	if r.Err != "" {
		t.Fatalf("child: %s\nlog:\n%s", r.Err, r.Log)
	}
	if len(r.Threads) < 5 {
		t.Fatalf("child had %d threads; the test needs the UDP workers' threads among them", len(r.Threads))
	}
	uid, gid := strconv.Itoa(a.uid), strconv.Itoa(a.gid)
	for _, th := range r.Threads {
		if !slicesEqual(th.Uids, []string{uid, uid, uid, uid}) || !slicesEqual(th.Gids, []string{gid, gid, gid, gid}) || len(th.Groups) != 0 ||
			th.CapEff != "0000000000000000" || th.CapPrm != "0000000000000000" {
			t.Errorf("thread %s: Uid %v Gid %v Groups %v CapEff %s CapPrm %s; want uid %s, gid %s, no groups, no capabilities",
				th.TID, th.Uids, th.Gids, th.Groups, th.CapEff, th.CapPrm, uid, gid)
		}
	}
	if !r.Answered {
		t.Error("the server did not answer after the change")
	}
	for path, owner := range r.Owners {
		if owner != uid {
			t.Errorf("%s: owned by %s, want %s (nobody)", path, owner, uid)
		}
	}
	if len(r.Owners) < 4 {
		t.Errorf("owners of %d files reported, want 4: %v", len(r.Owners), r.Owners)
	}
	if !r.SocketGone {
		t.Error("the control socket was not removed at shutdown")
	}
	t.Logf("%d threads, all uid %s gid %s without groups or capabilities; owners %v", len(r.Threads), uid, gid, r.Owners)
	if t.Failed() {
		t.Logf("child's log:\n%s", r.Log)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, " ") == strings.Join(b, " ") }

// dropChild is the child of TestDropEveryThread: it prints one REPORT line of JSON.
func dropChild() {
	r := dropReport{Owners: map[string]string{}}
	logs := &dnstest.SyncBuffer{}
	defer func() {
		r.Log = logs.String()
		data, _ := json.Marshal(r)
		fmt.Printf("REPORT %s\n", data)
	}()
	fail := func(err error) { r.Err = err.Error() }
	base := os.Getenv("WARDEN_DROP_CHILD")
	port, err := dnstest.FreePort()
	if err != nil {
		fail(err)
		return
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	zoneFile := filepath.Join(base, "run.test.zone")
	text := "$ORIGIN run.test.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 192.0.2.53\nwww A 192.0.2.1\n"
	if err := os.WriteFile(zoneFile, []byte(text), 0o644); err != nil {
		fail(err)
		return
	}
	// allow_transfer makes the zone keep a journal in storage, which the zones create as root.
	cfgText := fmt.Sprintf(`listen: [%q]
limits: {udp_workers: 4}
zones:
  - origin: run.test.
    file: %s
    allow_transfer: [127.0.0.1/32]
storage: %s/storage
state_dir: %s/state
control: {socket: %s/run/control.sock}
user: nobody
`, addr, zoneFile, base, base, base)
	cfg, err := config.Parse([]byte(cfgText), "warden.yaml", base)
	if err != nil {
		fail(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Log: logTo(logs)}) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && r.Err == "" {
				fail(err)
			}
		case <-time.After(10 * time.Second):
			fail(errors.New("Run did not return"))
		}
		_, err := os.Lstat(cfg.Control.Socket)
		r.SocketGone = errors.Is(err, os.ErrNotExist)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "running as user") {
		select {
		case err := <-done:
			done <- err
			fail(fmt.Errorf("Run returned before the change: %v", err))
			return
		default:
		}
		if time.Now().After(deadline) {
			fail(errors.New("no change of user logged"))
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	threads, err := readThreads()
	if err != nil {
		fail(err)
		return
	}
	for _, th := range threads {
		r.Threads = append(r.Threads, struct {
			TID            string
			Uids, Gids     []string
			Groups         []string
			CapEff, CapPrm string
		}{th.tid, th.uids, th.gids, th.groups, th.effectiveCaps, th.permittedCaps})
	}
	m, err := dnstest.Exchange(addr, dnstest.Query{Name: "www.run.test.", Type: dns.TypeA})
	r.Answered = err == nil && m.Rcode == dns.RcodeSuccess && len(m.Answer) == 1
	for _, p := range []string{cfg.Storage, filepath.Join(cfg.Storage, "run.test.journal"), filepath.Join(cfg.StateDir, "policy"), cfg.Control.Socket} {
		fi, err := os.Lstat(p)
		if err != nil {
			r.Owners[p] = err.Error()
			continue
		}
		r.Owners[p] = strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid))
	}
}

// TestHandOverStaysInside: what root made in a directory it hands over becomes the account's;
// a link out of the tree, a second hard link to a file, and a directory someone else owned
// before the server started are left as they were.
func TestHandOverStaysInside(t *testing.T) {
	needRoot(t)
	a := nobody(t)
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.WriteFile(outside, []byte("root's"), 0o600); err != nil {
		t.Fatal(err)
	}
	theirs := filepath.Join(base, "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	storage := filepath.Join(base, "storage")
	cfg := config.Default()
	cfg.Storage, cfg.StateDir, cfg.Control.Socket = storage, theirs, ""
	dirs := ownedDirs(cfg) // storage does not exist yet: the server makes it

	sub := filepath.Join(storage, "sub")
	if err := os.MkdirAll(sub, 0o750); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(sub, "a.journal")
	if err := os.WriteFile(mine, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(storage, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(base, filepath.Join(storage, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(outside, filepath.Join(storage, "hard")); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if err := d.handOver(a); err != nil {
			t.Fatalf("hand over %s: %v", d.path, err)
		}
	}
	uidOf := func(path string) int {
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			t.Fatal(err)
		}
		return int(st.Uid)
	}
	for _, p := range []string{storage, sub, mine} {
		if uidOf(p) != a.uid {
			t.Errorf("%s: uid %d, want %d", p, uidOf(p), a.uid)
		}
	}
	for _, p := range []string{outside, filepath.Join(storage, "link"), filepath.Join(storage, "dirlink"), base, theirs} {
		if uidOf(p) != 0 {
			t.Errorf("%s: uid %d, want root's 0: the hand-over went outside its tree or took a directory", p, uidOf(p))
		}
	}
}

// TestDropRefusals: not root and not the account is an error saying so; a server already running
// as the account only checks; a port below 1024 refused is explained.
func TestDropRefusals(t *testing.T) {
	me := account{name: "me", uid: os.Geteuid(), gid: os.Getegid()}
	if err := dropPrivileges(me, config.Default(), nil, "", quiet); err != nil {
		t.Errorf("already the account: %v", err)
	}
	if os.Geteuid() != 0 {
		err := dropPrivileges(account{name: "other", uid: os.Geteuid() + 1}, config.Default(), nil, "", quiet)
		if err == nil || !strings.Contains(err.Error(), "only root can change to another user") {
			t.Errorf("not root: %v", err)
		}
	}
	low := config.ListenAddr{AddrPort: netip.MustParseAddrPort("127.0.0.1:53")}
	err := explainListenError(low, fmt.Errorf("listen 127.0.0.1:53: %w", syscall.EACCES))
	for _, want := range []string{"permission denied", "CAP_NET_BIND_SERVICE", "--user NAME", "setcap cap_net_bind_service=+ep"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("port 53 refused: %v; want it to say %q", err, want)
		}
	}
	if !errors.Is(err, syscall.EACCES) {
		t.Error("the explained error no longer wraps EACCES")
	}
	high := config.ListenAddr{AddrPort: netip.MustParseAddrPort("127.0.0.1:5300")}
	if err := explainListenError(high, syscall.EACCES); err != syscall.EACCES {
		t.Errorf("port 5300: %v, want the error untouched", err)
	}
}

// TestRunAsUnknownUser: a user that does not exist stops Run before it loads anything.
func TestRunAsUnknownUser(t *testing.T) {
	cfg := config.Default()
	cfg.User = "no-such-user-here"
	cfg.Control.Socket = ""
	err := Run(context.Background(), cfg, Options{Log: quiet})
	if err == nil || !strings.Contains(err.Error(), `user "no-such-user-here"`) {
		t.Fatalf("Run: %v", err)
	}
}

type answerAll struct{}

func (answerAll) ServeDNS(_ *query.Request, out []byte) []byte { return append(out, 'a') }

// The gate holds queries until root is given up, then answers them; if the drop fails, the held
// queries get no answer at all.
func TestRootGate(t *testing.T) {
	for _, opens := range []bool{true, false} {
		g := newRootGate(answerAll{})
		got := make(chan []byte, 1)
		go func() { got <- g.ServeDNS(&query.Request{}, nil) }()
		select {
		case <-got:
			t.Fatal("a query was answered before the gate opened")
		case <-time.After(50 * time.Millisecond):
		}
		if opens {
			g.open()
		}
		g.shut()
		select {
		case out := <-got:
			if want := opens; (len(out) == 1) != want {
				t.Errorf("opened %v: answer %q", opens, out)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("opened %v: the held query was never let go", opens)
		}
	}
}
