package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

	"codeberg.org/miekg/dns"
)

// Software is the program that serves a lab server.
type Software uint8

const (
	// Warden serves the server's zones inside this process; only Warden servers misbehave.
	Warden Software = iota
	// Knot is Knot DNS (knotd), run as a child process.
	Knot
	// NSD is NLnet Labs' NSD, run as a child process.
	NSD
)

func (s Software) String() string {
	switch s {
	case Warden:
		return "Warden"
	case Knot:
		return "Knot DNS"
	case NSD:
		return "NSD"
	}
	return "software " + strconv.Itoa(int(s))
}

// daemons names the binary of each program that runs as a peer process.
var daemons = map[Software]string{Knot: "knotd", NSD: "nsd"}

// daemonPath finds the binary of s. Debian installs them in /usr/sbin, which is not on every PATH.
func daemonPath(s Software) (string, bool) {
	name := daemons[s]
	if name == "" {
		return "", false
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

const (
	// peerStartTimeout bounds how long Start waits for the peers to answer for their zones.
	peerStartTimeout = 10 * time.Second
	// peerStopTimeout is how long a peer gets to exit after SIGTERM before it is killed.
	peerStopTimeout = 5 * time.Second
	// peerLogLimit caps the output kept from each peer (the start-up lines are what matter).
	peerLogLimit = 64 << 10
)

// peer is a Knot or NSD process serving one lab server.
type peer struct {
	srv      Server
	addr     string // IP:port
	cmd      *exec.Cmd
	out      *capBuffer
	exited   chan struct{}
	up       atomic.Bool // answered for its zones
	stopping atomic.Bool
}

// startPeer writes s's zone files and configuration into dir and starts the daemon bin on s.IP
// and port. It does not wait for the zones to load (see ready).
func startPeer(s Server, bin, dir string, port int, log *slog.Logger) (*peer, error) {
	if s.Behaviour != Normal {
		return nil, fmt.Errorf("lab server %s: only Warden servers misbehave, not %s", s.Name, s.Software)
	}
	if len(s.Zones) == 0 {
		return nil, fmt.Errorf("lab server %s: %s serves no zones", s.Name, s.Software)
	}
	addr := net.JoinHostPort(s.IP, strconv.Itoa(port))
	if err := checkFree(addr); err != nil {
		return nil, fmt.Errorf("lab server %s: %w", s.Name, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab server %s: %w", s.Name, err)
	}
	files := make([]string, len(s.Zones))
	for i, z := range s.Zones {
		files[i] = zoneFileName(i, z.Origin)
		if err := os.WriteFile(filepath.Join(dir, files[i]), []byte(z.Text), 0o600); err != nil {
			return nil, fmt.Errorf("lab server %s: %w", s.Name, err)
		}
	}
	var conf string
	var args []string
	switch s.Software {
	case Knot:
		conf = filepath.Join(dir, "knot.conf")
		args = []string{"-c", conf}
	case NSD:
		conf = filepath.Join(dir, "nsd.conf")
		args = []string{"-d", "-c", conf}
	default:
		return nil, fmt.Errorf("lab server %s: %s does not run as a process", s.Name, s.Software)
	}
	text := peerConfig(s, dir, port, files)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("lab server %s: %w", s.Name, err)
	}

	p := &peer{srv: s, addr: addr, out: &capBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = peerProcAttr()
	// NSD's children inherit the output pipe; Wait returns at most this long after NSD itself.
	p.cmd.WaitDelay = time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("lab server %s: start %s: %w", s.Name, bin, err)
	}
	go func() {
		err := p.cmd.Wait()
		close(p.exited)
		if p.up.Load() && !p.stopping.Load() {
			log.Error("lab: a server's process exited", "server", s.Name, "addr", addr, "software", s.Software.String(), "err", err)
		}
	}()
	return p, nil
}

// zoneFileName names the file of the i-th zone after its origin, for whoever reads the directory.
func zoneFileName(i int, origin string) string {
	name := strings.TrimSuffix(origin, ".")
	if name == "" {
		name = "root"
	}
	return fmt.Sprintf("%d-%s.zone", i, strings.ReplaceAll(name, "/", "_"))
}

// peerConfig is the daemon's configuration: listening on s.IP and port only, one worker, every
// file inside dir, running as the current user, and no version or identity in answers.
func peerConfig(s Server, dir string, port int, files []string) string {
	var b strings.Builder
	switch s.Software {
	case Knot:
		// The zone files are read once and never written back or journaled; semantic checks stay
		// at their default (only the mandatory ones).
		fmt.Fprintf(&b, "server:\n")
		fmt.Fprintf(&b, "    rundir: %q\n", dir)
		fmt.Fprintf(&b, "    listen: %s@%d\n", s.IP, port)
		fmt.Fprintf(&b, "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n")
		fmt.Fprintf(&b, "    identity: \"\"\n    version: \"\"\n    nsid: \"\"\n")
		fmt.Fprintf(&b, "log:\n  - target: stderr\n    any: info\n")
		fmt.Fprintf(&b, "database:\n    storage: %q\n", dir)
		fmt.Fprintf(&b, "template:\n  - id: default\n    storage: %q\n", dir)
		fmt.Fprintf(&b, "    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n")
		fmt.Fprintf(&b, "    semantic-checks: off\n")
		fmt.Fprintf(&b, "zone:\n")
		for i, z := range s.Zones {
			fmt.Fprintf(&b, "  - domain: %q\n    file: %q\n", z.Origin, files[i])
		}
	case NSD:
		// An empty username keeps the current user, an empty database keeps the zones in memory
		// only, and an empty chroot leaves the file system as it is.
		fmt.Fprintf(&b, "server:\n")
		fmt.Fprintf(&b, "    ip-address: %s@%d\n    port: %d\n", s.IP, port, port)
		fmt.Fprintf(&b, "    server-count: 1\n")
		fmt.Fprintf(&b, "    zonesdir: %q\n", dir)
		fmt.Fprintf(&b, "    pidfile: %q\n", filepath.Join(dir, "nsd.pid"))
		fmt.Fprintf(&b, "    username: \"\"\n    database: \"\"\n    chroot: \"\"\n")
		fmt.Fprintf(&b, "    xfrdfile: %q\n", filepath.Join(dir, "xfrd.state"))
		fmt.Fprintf(&b, "    xfrdir: %q\n", dir)
		fmt.Fprintf(&b, "    zonelistfile: %q\n", filepath.Join(dir, "zone.list"))
		fmt.Fprintf(&b, "    verbosity: 1\n    hide-version: yes\n    hide-identity: yes\n")
		// NSD limits responses per class of answer (200 a second by default), and every name
		// of a wildcard zone falls in one class: a resolver asking new names one after another
		// would see every few hundredth answer dropped. The lab must answer every query.
		fmt.Fprintf(&b, "    rrl-ratelimit: 0\n    rrl-whitelist-ratelimit: 0\n")
		fmt.Fprintf(&b, "remote-control:\n    control-enable: no\n")
		for i, z := range s.Zones {
			fmt.Fprintf(&b, "zone:\n    name: %q\n    zonefile: %q\n", z.Origin, files[i])
		}
	}
	return b.String()
}

// checkFree fails, with syscall.EADDRINUSE in the chain, when something already listens on addr
// over UDP or TCP. Both daemons bind with SO_REUSEPORT, which would share a taken address
// silently; this bind without it makes the conflict an error, as Warden's own listeners do.
func checkFree(addr string) error {
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	u.Close()
	t, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return t.Close()
}

// ready waits until the peer answers the SOA of each of its zones with AA set over UDP, its
// process exits, or the deadline passes.
func (p *peer) ready(deadline time.Time) error {
	pending := make([]string, 0, len(p.srv.Zones))
	for _, z := range p.srv.Zones {
		pending = append(pending, z.Origin)
	}
	for {
		select {
		case <-p.exited:
			return p.failed("exited during start")
		default:
		}
		next := pending[:0]
		for _, origin := range pending {
			if !soaReady(p.addr, origin) {
				next = append(next, origin)
			}
		}
		pending = next
		if len(pending) == 0 {
			p.up.Store(true)
			return nil
		}
		if time.Now().After(deadline) {
			return p.failed(fmt.Sprintf("zones not answering after %v: %s", peerStartTimeout, strings.Join(pending, " ")))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *peer) failed(why string) error {
	return fmt.Errorf("lab server %s (%s on %s): %s\n%s output:\n%s", p.srv.Name, p.srv.Software, p.addr, why, daemons[p.srv.Software], p.out.String())
}

// soaReady says whether addr answers the SOA of origin with AA set. Before a zone is loaded the
// daemons answer SERVFAIL or REFUSED, and before the socket is bound nothing answers.
func soaReady(addr, origin string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r, err := dns.Exchange(ctx, dns.NewMsg(origin, dns.TypeSOA), "udp", addr)
	if err != nil || r.Rcode != dns.RcodeSuccess || !r.Authoritative {
		return false
	}
	for _, rr := range r.Answer {
		if _, ok := rr.(*dns.SOA); ok {
			return true
		}
	}
	return false
}

// stop ends the peer: SIGTERM to its process group (NSD forks children that share it), SIGKILL
// when it has not exited after peerStopTimeout, then a bounded wait until the group is empty.
func (p *peer) stop() error {
	p.stopping.Store(true)
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(peerStopTimeout):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
	// The daemon's own children may outlive it for a moment.
	deadline := time.Now().Add(peerStopTimeout)
	killed := false
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			if killed {
				return fmt.Errorf("lab server %s: processes of group %d still there after SIGKILL", p.srv.Name, pgid)
			}
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			killed, deadline = true, time.Now().Add(peerStopTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// capBuffer keeps the first peerLogLimit bytes of a peer's output; the process writes while Start
// may read it.
type capBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := peerLogLimit - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

func (c *capBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

// peerServers returns the indexes of the servers of l that Knot or NSD serves. A server whose
// program is not installed is served by Warden instead, which log says.
func (l *Lab) peerServers(log *slog.Logger) []int {
	var idx []int
	for i := range l.servers {
		s := &l.servers[i]
		if s.Software == Warden {
			continue
		}
		if _, ok := daemonPath(s.Software); !ok && daemons[s.Software] != "" {
			log.Warn("lab: "+daemons[s.Software]+" is not installed; Warden serves this server instead",
				"server", s.Name, "addr", s.IP, "software", s.Software.String())
			s.Software = Warden
			continue
		}
		idx = append(idx, i)
	}
	return idx
}

// startPeers starts the processes of the servers l.servers[idx], each in a directory of its own
// under a new temporary directory, and waits until every one answers for its zones. On error the
// caller closes l, which stops what was started.
func (l *Lab) startPeers(idx []int, log *slog.Logger) error {
	if len(idx) == 0 {
		return nil
	}
	dir, err := os.MkdirTemp("", "warden-lab-")
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	l.dir = dir
	for _, i := range idx {
		s := l.servers[i]
		bin, _ := daemonPath(s.Software) // startPeer refuses software that is not a daemon
		p, err := startPeer(s, bin, filepath.Join(dir, s.IP), l.port, log)
		if err != nil {
			return err
		}
		l.peers = append(l.peers, p)
	}
	deadline := time.Now().Add(peerStartTimeout)
	var errs []error
	for _, p := range l.peers {
		errs = append(errs, p.ready(deadline))
	}
	return errors.Join(errs...)
}
