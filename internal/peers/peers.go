// Package peers runs other DNS servers — Knot DNS (knotd), NSD, Unbound and BIND (named) — as
// child processes on loopback addresses (127.0.0.x). The lab's mini internet serves some of its
// zones with them, and tests compare Warden's answers with theirs, replicate zones to and from
// them, and resolve through them.
//
// It writes each program's configuration (one writer per program, in the type named after it),
// finds the binaries, starts the process, waits until it answers, and stops it. A started Proc is
// owned by its caller, who must Stop it; should this process die first, the peers get SIGTERM
// from the kernel (see fork.go). Nothing here imports package testing: the warden command links
// this package through the lab.
package peers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Zone is a zone a peer serves from a master file.
type Zone struct {
	Origin string // fully qualified
	File   string // a relative path is taken from the current directory
}

// packages names the Debian package of each program, for the message when it is missing.
var packages = map[string]string{
	"knotd": "knot", "knotc": "knot", "kdig": "knot-dnsutils", "nsd": "nsd",
	"unbound": "unbound", "named": "bind9", "dnsperf": "dnsperf",
}

// Bin returns the path of a program, looked up on PATH and then in /usr/sbin and /usr/local/sbin,
// where Debian installs the daemons and which are not on every PATH. A missing program is an error
// that wraps exec.ErrNotFound and names the package to install.
func Bin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if pkg := packages[name]; pkg != "" {
		return "", fmt.Errorf("%s is not installed (package %s): %w", name, pkg, exec.ErrNotFound)
	}
	return "", fmt.Errorf("%s is not installed: %w", name, exec.ErrNotFound)
}

const (
	// stopTimeout is how long a peer gets to exit after SIGTERM before it is killed, and then how
	// long its process group gets to empty.
	stopTimeout = 5 * time.Second
	// outputLimit caps the output kept from a peer; the start-up lines matter most.
	outputLimit = 256 << 10
	// pollInterval spaces the readiness checks.
	pollInterval = 20 * time.Millisecond
)

// Proc is a running peer server: a child process in a process group of its own, so that a
// terminal's Ctrl-C reaches only this process, which then stops its peers, and Stop also reaches
// the children a daemon forks (NSD does).
type Proc struct {
	name     string // the program, for messages
	addr     string // where it answers, for messages
	conf     string // its configuration text, for messages
	cmd      *exec.Cmd
	out      *capBuffer
	ready    func(context.Context) bool
	done     chan struct{}
	err      error // what Wait returned; set before done is closed
	stopping atomic.Bool
}

// start runs bin with args in dir. ready says whether the peer answers yet; Ready polls it.
func start(name, bin string, args []string, dir, addr, conf string, ready func(context.Context) bool) (*Proc, error) {
	p := &Proc{name: name, addr: addr, conf: conf, out: &capBuffer{}, ready: ready, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = procAttr()
	// NSD's children inherit the output pipe; Wait returns at most this long after NSD itself.
	p.cmd.WaitDelay = time.Second
	if err := forkers.start(p.cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	// Owned by p: it ends when the process does, which Stop brings about.
	go func() {
		p.err = p.cmd.Wait()
		forkers.release()
		close(p.done)
	}()
	return p, nil
}

// Addr is the address the peer answers on, as IP:port (for Unbound without plain DNS, its DoT
// address).
func (p *Proc) Addr() string { return p.addr }

// Output is what the peer has written to stdout and stderr so far (its first 256 KiB).
func (p *Proc) Output() string { return p.out.String() }

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err says, once Done is closed, how the process ended when Stop did not end it; it is nil while
// the process runs and after Stop.
func (p *Proc) Err() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	if p.stopping.Load() {
		return nil
	}
	return p.failed(fmt.Sprintf("exited: %v", p.err))
}

// Ready waits until the peer answers (for Knot and NSD: every zone's SOA with AA set), its
// process exits, or ctx ends. A peer that could not bind its address fails with an error that
// wraps syscall.EADDRINUSE, for the caller to try another port.
func (p *Proc) Ready(ctx context.Context) error {
	for {
		select {
		case <-p.done:
			return p.failed(fmt.Sprintf("exited during start: %v", p.err))
		default:
		}
		if p.ready(ctx) {
			return nil
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return p.failed(fmt.Sprintf("not answering: %v", context.Cause(ctx)))
		case <-time.After(pollInterval):
		}
	}
}

// bindFailures are how the daemons report a taken address.
var bindFailures = []string{"address already in use", "address in use"}

func (p *Proc) failed(why string) error {
	out := p.out.String()
	err := fmt.Errorf("%s on %s: %s\nconfiguration:\n%s\n%s output:\n%s", p.name, p.addr, why, p.conf, p.name, out)
	lower := strings.ToLower(out)
	for _, s := range bindFailures {
		if strings.Contains(lower, s) {
			return fmt.Errorf("%w (%w)", err, syscall.EADDRINUSE)
		}
	}
	return err
}

// Stop ends the peer: SIGTERM to its process group, SIGKILL when it has not exited after five
// seconds, then a bounded wait until the group is empty. A second Stop waits for the first.
func (p *Proc) Stop() error {
	if !p.stopping.CompareAndSwap(false, true) {
		<-p.done
		return nil
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// The daemon's own children may outlive it for a moment.
	deadline := time.Now().Add(stopTimeout)
	killed := false
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			if killed {
				return fmt.Errorf("%s on %s: processes of group %d still there after SIGKILL", p.name, p.addr, pgid)
			}
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			killed, deadline = true, time.Now().Add(stopTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// capBuffer keeps the first outputLimit bytes of a peer's output; the process writes while the
// owner may read.
type capBuffer struct {
	mu   sync.Mutex
	buf  []byte
	lost int
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := max(outputLimit-len(c.buf), 0)
	c.buf = append(c.buf, p[:min(len(p), room)]...)
	c.lost += len(p) - min(len(p), room)
	return len(p), nil
}

func (c *capBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost > 0 {
		return string(c.buf) + fmt.Sprintf("\n[%d more bytes not kept]\n", c.lost)
	}
	return string(c.buf)
}

// listenAddr is ip (127.0.0.1 when empty) and port as IP:port.
func listenAddr(ip string, port int) string {
	return net.JoinHostPort(defaultIP(ip), strconv.Itoa(port))
}

func defaultIP(ip string) string {
	if ip == "" {
		return "127.0.0.1"
	}
	return ip
}

// prepare checks that every address is free, creates dir and writes the configuration text into
// dir/file.
func prepare(dir, file, text string, addrs ...string) (string, error) {
	if dir == "" {
		return "", errors.New("no directory for the configuration")
	}
	for _, a := range addrs {
		if err := CheckFree(a); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	conf := filepath.Join(dir, file)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return "", err
	}
	return conf, nil
}
