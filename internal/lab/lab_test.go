package lab

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/peers"
)

// TestResolveThroughLab checks the hierarchy itself with a real resolver: Unbound, given the
// lab's root hints, must resolve every case, the broken servers included.
func TestResolveThroughLab(t *testing.T) {
	l := StartForTest(t)
	resolver := dnstest.StartUnbound(t, l.RootHints())
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []string // the answer's last records, as "TYPE rdata"
	}{
		{"www.shop.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.11"}},
		{"shop.example.", dns.TypeMX, dns.RcodeSuccess, []string{"MX 10 mail.shop.example."}},
		{"alias.shop.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.11"}},
		{"cdn.shop.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.41"}},
		{"www.legacy.shop.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.20"}},
		{"app.hosting.org.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.11"}},
		{"post.blog.example.", dns.TypeTXT, dns.RcodeSuccess, []string{`TXT "hello"`}},
		{"anything.wild.org.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.40"}},
		{"x.deep.wild.org.", dns.TypeTXT, dns.RcodeSuccess, []string{`TXT "deep wildcard"`}},
		{"www.moved.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.50"}},
		{"www.flaky.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.60"}},
		{"www.slow.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.70"}},
		{"www.big.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.80"}},
		{"nothere.shop.example.", dns.TypeA, dns.RcodeNameError, nil},
		{"www.lab.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			defer cancel()
			m := dns.NewMsg(tt.name, tt.qtype)
			m.RecursionDesired = true
			r, err := dns.Exchange(ctx, m, "udp", resolver)
			if err != nil {
				t.Fatal(err)
			}
			if int(r.Rcode) != tt.rcode {
				t.Fatalf("rcode %d, want %d: %v", r.Rcode, tt.rcode, r)
			}
			var got []string
			for _, rr := range r.Answer {
				f := strings.Fields(rr.String())
				got = append(got, strings.Join(f[3:], " "))
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("answer %q lacks %q", got, w)
				}
			}
		})
	}
}

// The truncating server must make a resolver retry over TCP for the whole RRset.
func TestTruncatingServerNeedsTCP(t *testing.T) {
	l := StartForTest(t)
	resolver := dnstest.StartUnbound(t, l.RootHints())
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	m := dns.NewMsg("txt.big.example.", dns.TypeTXT)
	m.RecursionDesired = true
	m.UDPSize = 4096
	r, err := dns.Exchange(ctx, m, "udp", resolver)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 8 {
		t.Fatalf("%d TXT records, want 8: %v", len(r.Answer), r)
	}
}

// needDaemon skips the test when the program of s is not installed, except in CI, which installs
// Knot DNS and NSD.
func needDaemon(t *testing.T, s Software) {
	t.Helper()
	if _, ok := daemonPath(s); ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; CI must install it", daemons[s])
	}
	t.Skipf("%s is not installed", daemons[s])
}

// askSOA asks addr for the SOA of origin over UDP and fails unless the answer is authoritative.
func askSOA(t *testing.T, addr, origin string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := dns.Exchange(ctx, dns.NewMsg(origin, dns.TypeSOA), "udp", addr)
	if err != nil {
		t.Fatalf("SOA %s at %s: %v", origin, addr, err)
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 || dns.RRToType(r.Answer[0]) != dns.TypeSOA {
		t.Fatalf("SOA %s at %s: not an authoritative SOA answer: %v", origin, addr, r)
	}
}

// processesUnder lists the running processes (zombies aside) whose command line mentions dir.
func processesUnder(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to look for processes in: %v", err)
	}
	var found []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if bytes.Contains(cmdline, []byte(dir)) {
			found = append(found, e.Name()+" "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	return found
}

// TestKnotAndNSDServers: the hierarchy's Knot and NSD servers run as processes and answer for
// their zones with AA; Close stops every process and removes their files.
func TestKnotAndNSDServers(t *testing.T) {
	needDaemon(t, Knot)
	needDaemon(t, NSD)
	l := StartForTest(t)
	served := map[Software]int{}
	for _, s := range l.Servers() {
		served[s.Software]++
		if s.Software == Warden {
			continue
		}
		for _, z := range s.Zones {
			askSOA(t, net.JoinHostPort(s.IP, "53"), z.Origin)
		}
	}
	if served[Knot] == 0 || served[NSD] == 0 {
		t.Fatalf("servers by software %v; want some served by Knot DNS and by NSD", served)
	}
	if len(l.peers) != served[Knot]+served[NSD] {
		t.Fatalf("%d peer processes for %d Knot and NSD servers", len(l.peers), served[Knot]+served[NSD])
	}
	dir := l.dir
	if got := processesUnder(t, dir); len(got) < len(l.peers) {
		t.Fatalf("processes using %s: %q", dir, got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := processesUnder(t, dir); len(got) > 0 {
		t.Errorf("processes left after Close: %q", got)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left after Close: %v", dir, err)
	}
	for _, s := range l.Servers() {
		if err := peers.CheckFree(net.JoinHostPort(s.IP, "53")); err != nil {
			t.Errorf("%s still taken after Close: %v", s.IP, err)
		}
	}
}

// freeLabPort returns a port free over UDP and TCP on ip, off the lab's port 53 so that the
// test needs neither root nor the lock.
func freeLabPort(t *testing.T, ip string) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		u.Close()
		if peers.CheckFree(net.JoinHostPort(ip, strconv.Itoa(port))) == nil {
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// A server whose program is missing is served by Warden instead, and the log says so.
func TestMissingDaemonFallsBackToWarden(t *testing.T) {
	saved := daemons[Knot]
	daemons[Knot] = "knotd-not-installed-here"
	defer func() { daemons[Knot] = saved }()
	const ip = "127.0.5.1"
	port := freeLabPort(t, ip)
	var logs bytes.Buffer
	l, err := Start([]Server{{Name: "ns1.nic.org.", IP: ip, Zones: []Zone{{"org.", orgTLD}}, Software: Knot}}, port, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got := l.Servers()[0].Software; got != Warden {
		t.Errorf("served by %s, want Warden", got)
	}
	if !strings.Contains(logs.String(), "knotd-not-installed-here is not installed; Warden serves") {
		t.Errorf("log does not tell: %s", logs.String())
	}
	if len(l.peers) != 0 || l.dir != "" {
		t.Errorf("%d peers, directory %q", len(l.peers), l.dir)
	}
	askSOA(t, net.JoinHostPort(ip, strconv.Itoa(port)), "org.")
}

// When one peer fails to start, Start stops the others and removes their files.
func TestStartErrorLeavesNothingRunning(t *testing.T) {
	needDaemon(t, Knot)
	needDaemon(t, NSD)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	port := freeLabPort(t, "127.0.5.1")
	servers := []Server{
		{Name: "ns1.nic.org.", IP: "127.0.5.1", Zones: []Zone{{"org.", orgTLD}}, Software: Knot},
		{Name: "ns1.wild.org.", IP: "127.0.5.2", Zones: []Zone{{"wild.org.", wildZone}}, Software: NSD},
		{Name: "ns.broken.", IP: "127.0.5.3", Zones: []Zone{{"bad..name.", "x"}}, Software: Knot},
	}
	l, err := Start(servers, port, nil)
	if err == nil {
		l.Close()
		t.Fatal("Start with an invalid zone name succeeded")
	}
	t.Logf("error, as wanted: %v", err)
	if got := processesUnder(t, tmp); len(got) > 0 {
		t.Errorf("processes left after a failed Start: %q", got)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("files left after a failed Start: %v", left)
	}
	for _, s := range servers {
		if err := peers.CheckFree(net.JoinHostPort(s.IP, strconv.Itoa(port))); err != nil {
			t.Errorf("%s still taken after a failed Start: %v", s.IP, err)
		}
	}
}
