package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/config"
	"warden/internal/dnstest"
)

// TestServingUnderLoad: Warden answers every query, and every answer is one whole version of its
// zone, while all its zones change at once: the primary zone's file is rewritten with a higher
// serial several times a second, a second zone is a secondary of Knot that changes and NOTIFYs
// (IXFR in), a Knot secondary follows the primary zone (NOTIFY and IXFR out), and the whole
// configuration is reloaded through `warden ctl reload` and SIGHUP. dnsperf sends a steady load
// and must lose nothing; a checker asks names whose answers say which version they come from.
func TestServingUnderLoad(t *testing.T) {
	perf := underloadPeer(t, "dnsperf", "dnsperf")
	const (
		primary   = "load.test."
		secondary = "sec.test."
	)
	// bench/xfrload.sh runs this test longer and faster through these variables.
	duration := time.Duration(envInt(t, "UNDERLOAD_SECONDS", 7, 1, 600)) * time.Second
	rate := envInt(t, "UNDERLOAD_QPS", 2000, 100, 200000) // dnsperf queries per second
	dir := t.TempDir()
	file := filepath.Join(dir, "load.zone")
	writeVersionFile(t, file, primary, 1)

	wardenAddr := freePort(t)
	wardenPort := strings.TrimPrefix(wardenAddr, "127.0.0.1:")
	knotSecAddr := freePort(t) // named in Warden's notify list before it starts

	knotPrimary := dnstest.StartKnotConfig(t, dnstest.KnotConfig{
		Sections: fmt.Sprintf(`remote:
  - id: warden
    address: 127.0.0.1@%s
acl:
  - id: xfr
    address: 127.0.0.0/8
    action: transfer
template:
  - id: default
    storage: "@DIR@"
    zonefile-sync: -1
    zonefile-load: difference
    journal-content: changes
    semantic-checks: off
zone:
  - domain: %s
    file: "@DIR@/sec.zone"
    acl: [xfr]
    notify: [warden]
`, wardenPort, secondary),
		Files: map[string]string{"sec.zone": versionZone(secondary, 1)},
		Ready: secondary,
	})

	socket := filepath.Join(dir, "ctl.sock")
	f := &commonFlags{listen: []string{wardenAddr}, control: socket}
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.Storage = t.TempDir()
	cfg.Reload.WatchInterval = 100 * time.Millisecond
	cfg.Zones = config.Zones{
		{Origin: primary, File: file, AllowTransfer: loopback, Notify: []netip.AddrPort{netip.MustParseAddrPort(knotSecAddr)}},
		{Origin: secondary, Primaries: []netip.AddrPort{netip.MustParseAddrPort(knotPrimary.Addr)}, AllowTransfer: loopback},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs, _ := startServer(t, f, cfg)
	waitSerial(t, wardenAddr, primary, 1)
	waitSerial(t, wardenAddr, secondary, 1)
	knotSecondary := startKnotFollower(t, primary, wardenPort, knotSecAddr)
	waitSerial(t, knotSecondary, primary, 1)

	queries := filepath.Join(dir, "queries.txt")
	writeQueryFile(t, queries, []string{primary, secondary}, rate*int(duration/time.Second))

	// Everything below runs for duration, and each part stops on its own within it.
	ctx, stop := context.WithTimeout(context.Background(), duration)
	defer stop()
	var wg sync.WaitGroup
	var perfOut bytes.Buffer
	var perfErr error
	wg.Go(func() {
		// -n 1: one pass over the file at the rate, then dnsperf waits for the last answers.
		cmd := exec.Command(perf, "-s", "127.0.0.1", "-p", wardenPort, "-d", queries, "-n", "1",
			"-Q", strconv.Itoa(rate), "-c", "1", "-q", "200", "-t", "2", "-l", strconv.Itoa(int(duration/time.Second)+5))
		cmd.Stdout, cmd.Stderr = &perfOut, &perfOut
		perfErr = cmd.Run()
	})
	checks := make([]*versionChecker, 2)
	for i := range checks {
		checks[i] = &versionChecker{addr: wardenAddr, zones: []string{primary, secondary}}
		wg.Go(func() { checks[i].run(ctx) })
	}
	var fileVersions, knotVersions atomic.Uint32
	fileVersions.Store(1)
	knotVersions.Store(1)
	wg.Go(func() {
		for n := uint32(2); sleepCtx(ctx, 150*time.Millisecond); n++ {
			writeVersionFile(t, file, primary, n)
			fileVersions.Store(n)
		}
	})
	wg.Go(func() {
		zoneFile := filepath.Join(knotPrimary.Dir, "sec.zone")
		for n := uint32(2); sleepCtx(ctx, 300*time.Millisecond); n++ {
			writeZoneFile(t, zoneFile, versionZone(secondary, n), n)
			knotPrimary.Control(t, "zone-reload", secondary)
			knotVersions.Store(n)
		}
	})
	var ctlReloads, hups atomic.Int32
	wg.Go(func() {
		for i := 0; sleepCtx(ctx, 400*time.Millisecond); i++ {
			if i%2 == 1 {
				// runServer has SIGHUP registered until the test's cleanup, long after this.
				if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
					t.Errorf("SIGHUP: %v", err)
					return
				}
				hups.Add(1)
				continue
			}
			var out, errb bytes.Buffer
			if code := run([]string{"ctl", "--control", socket, "reload"}, &out, &errb); code != 0 {
				t.Errorf("warden ctl reload: exit %d: %s%s", code, out.String(), errb.String())
				return
			}
			ctlReloads.Add(1)
		}
	})
	wg.Wait()

	// After the load, every copy converges on the last version.
	lastFile, lastKnot := fileVersions.Load(), knotVersions.Load()
	waitSerial(t, wardenAddr, primary, lastFile)
	waitSerial(t, wardenAddr, secondary, lastKnot)
	waitSerial(t, knotSecondary, primary, lastFile)
	sameZone(t, primary, wardenAddr, knotSecondary, nil)
	sameZone(t, secondary, knotPrimary.Addr, wardenAddr, nil)

	perfSum, err := parseDnsperf(perfOut.String())
	if perfErr != nil || err != nil {
		t.Fatalf("dnsperf: %v %v\n%s", perfErr, err, perfOut.String())
	}
	var checked, failed int64
	var problems []string
	for _, c := range checks {
		checked += c.answered
		failed += int64(len(c.failures))
		problems = append(problems, c.failures...)
	}
	log := logs.String()
	fileIn := countLines(log, `msg="zone in force" zone=`+primary+` .*why=`)
	ixfrIn := countLines(log, `msg="zone in force" zone=`+secondary+` .*why="IXFR \(\d+ changes\)`)
	ixfrOut := countLines(log, `msg="transfer out" zone=`+primary+` .*kind=IXFR`)
	axfrOut := countLines(log, `msg="transfer out" zone=`+primary+` .*kind=AXFR`)
	// A SIGHUP rebuilds the policy; the same files add no version, and the log says so.
	signalled := countLines(log, `msg="policy (in force|unchanged: no new version)" .*reason="reload \(signal\)"`)
	t.Logf("load: %v at %d queries/s", duration, rate)
	t.Logf("dnsperf: sent %d, completed %d, lost %d; NOERROR %d", perfSum.sent, perfSum.completed, perfSum.lost, perfSum.noerror)
	t.Logf("checker: %d answers checked, %d failures", checked, failed)
	t.Logf("during the run: %d file versions written, %d put in force; %d Knot versions, %d taken by IXFR; transfers out %d IXFR, %d AXFR; %d ctl reloads, %d SIGHUPs (%d seen)",
		lastFile-1, fileIn, lastKnot-1, ixfrIn, ixfrOut, axfrOut, ctlReloads.Load(), hups.Load(), signalled)

	if perfSum.lost != 0 || perfSum.sent == 0 || perfSum.completed != perfSum.sent || perfSum.noerror != perfSum.completed {
		t.Errorf("dnsperf: sent %d, completed %d, lost %d, NOERROR %d; want every query answered NOERROR\n%s",
			perfSum.sent, perfSum.completed, perfSum.lost, perfSum.noerror, perfOut.String())
	}
	if failed > 0 {
		t.Errorf("%d of %d checked answers were wrong; the first:\n%s", failed, checked+failed, strings.Join(problems[:min(len(problems), 10)], "\n"))
	}
	// The run must have done what it claims, or passing proves little.
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"primary versions put in force", fileIn, 10},
		{"secondary versions taken by IXFR", ixfrIn, 5},
		{"IXFR transfers out to Knot", ixfrOut, 5},
		{"ctl reloads", int(ctlReloads.Load()), 3},
		{"SIGHUP reloads seen", signalled, 3},
		{"checked answers", int(checked), 1000},
	} {
		if c.got < c.want {
			t.Errorf("%s: %d, want at least %d", c.what, c.got, c.want)
		}
	}
	noEarlyEnds(t, logs)
}

// envInt reads a whole number from the environment variable name, def when it is unset.
func envInt(t *testing.T, name string, def, lo, hi int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		t.Fatalf("%s=%q: want a whole number from %d to %d", name, v, lo, hi)
	}
	return n
}

// underloadPeer finds a peer program: skipped when missing, failed when missing in CI.
func underloadPeer(t *testing.T, name, pkg string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; CI must install the %s package", name, pkg)
	}
	t.Skipf("%s is not installed (Debian package %s)", name, pkg)
	return ""
}

// startKnotFollower starts Knot as a secondary of Warden's zone origin, listening on listen (which
// Warden NOTIFYs), and returns its address.
func startKnotFollower(t *testing.T, origin, wardenPort, listen string) string {
	t.Helper()
	conf := fmt.Sprintf(`remote:
  - id: warden
    address: 127.0.0.1@%s
acl:
  - id: local
    address: 127.0.0.0/8
    action: [notify, transfer]
template:
  - id: default
    storage: "@DIR@"
    zonefile-sync: -1
    journal-content: changes
    semantic-checks: off
zone:
  - domain: %s
    master: warden
    acl: [local]
`, wardenPort, origin)
	port := strings.TrimPrefix(listen, "127.0.0.1:")
	return dnstest.StartKnotConfig(t, dnstest.KnotConfig{Sections: conf, Ready: origin, Port: atoi(t, port)}).Addr
}

// versionZone is version n of a zone whose answers tell the version they come from: serial n,
// v TXT "n", v A 10.0.hi.lo (n's two low bytes), and c CNAME vN with vN TXT "n", a chain that is
// whole only within one version. The hosts h0..h99 stay the same in every version.
func versionZone(origin string, n uint32) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 60\n@ SOA ns1 hostmaster %d 1 1 3600 60\n@ NS ns1\nns1 A 192.0.2.1\n", origin, n)
	fmt.Fprintf(&b, "v TXT \"%d\"\nv A 10.0.%d.%d\nv%d TXT \"%d\"\nc CNAME v%d\n", n, n>>8&255, n&255, n, n, n)
	for i := range 100 {
		fmt.Fprintf(&b, "h%d A 198.51.100.%d\n", i, i)
	}
	return b.String()
}

// writeVersionFile replaces path with version n at once (a new file renamed over the old one, as
// editors and deployment tools do), with a modification time later than any before.
func writeVersionFile(t *testing.T, path, origin string, n uint32) {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(versionZone(origin, n)), 0o644); err != nil {
		t.Error(err)
		return
	}
	later := time.Now().Add(time.Duration(n) * time.Second)
	if err := os.Chtimes(tmp, later, later); err != nil {
		t.Error(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Error(err)
	}
}

// writeQueryFile writes n dnsperf queries over the zones: hosts, the versioned names, NODATA.
func writeQueryFile(t *testing.T, path string, zones []string, n int) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		z := zones[i%len(zones)]
		switch i % 10 {
		case 0:
			fmt.Fprintf(&b, "v.%s TXT\n", z)
		case 1:
			fmt.Fprintf(&b, "c.%s TXT\n", z)
		case 2:
			fmt.Fprintf(&b, "v.%s MX\n", z)
		default:
			fmt.Fprintf(&b, "h%d.%s A\n", i%100, z)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sleepCtx waits d, or less when ctx ends; it says whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func countLines(log, pattern string) int {
	return len(regexp.MustCompile(`(?m)`+pattern).FindAllStringIndex(log, -1))
}

// dnsperfSummary holds the counts of dnsperf's statistics block.
type dnsperfSummary struct{ sent, completed, lost, noerror int }

func parseDnsperf(out string) (dnsperfSummary, error) {
	var s dnsperfSummary
	for _, f := range []struct {
		re  string
		dst *int
	}{
		{`Queries sent:\s+(\d+)`, &s.sent},
		{`Queries completed:\s+(\d+)`, &s.completed},
		{`Queries lost:\s+(\d+)`, &s.lost},
		{`Response codes:.*NOERROR (\d+)`, &s.noerror},
	} {
		m := regexp.MustCompile(f.re).FindStringSubmatch(out)
		if m == nil {
			return s, fmt.Errorf("no %q in dnsperf's output", f.re)
		}
		*f.dst, _ = strconv.Atoi(m[1])
	}
	return s, nil
}

// versionChecker asks Warden, one question at a time, the names whose answers carry their version,
// and records every answer that is not one whole version of its zone, is not an authoritative
// answer at all, or comes from a version older than one it saw before.
type versionChecker struct {
	addr     string
	zones    []string
	answered int64
	failures []string
}

// The questions the checker asks in turn.
const (
	checkTXT    = iota // v TXT "N"
	checkA             // v A 10.0.hi.lo
	checkChain         // c CNAME vN, vN TXT "N": one answer across two names
	checkNoData        // v MX: no data, the SOA with serial N in the authority section
	checkANY           // v ANY: whichever RRsets come, all of version N
	checkKinds
)

func (c *versionChecker) run(ctx context.Context) {
	newest := make(map[string]uint32, len(c.zones))
	for i := 0; ctx.Err() == nil; i++ {
		z := c.zones[i%len(c.zones)]
		kind := i / len(c.zones) % checkKinds
		v, err := c.ask(z, kind)
		switch {
		case err != nil:
			c.failures = append(c.failures, fmt.Sprintf("%s kind %d: %v", z, kind, err))
		case v < newest[z]:
			c.failures = append(c.failures, fmt.Sprintf("%s kind %d: version %d after version %d was served", z, kind, v, newest[z]))
		default:
			newest[z] = v
			c.answered++
		}
	}
}

// ask sends one question about zone z and returns the version its answer comes from.
func (c *versionChecker) ask(z string, kind int) (uint32, error) {
	qname, qtype := "v."+z, dns.TypeTXT
	switch kind {
	case checkA:
		qtype = dns.TypeA
	case checkChain:
		qname = "c." + z
	case checkNoData:
		qtype = dns.TypeMX
	case checkANY:
		qtype = dns.TypeANY
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := dns.Exchange(ctx, dns.NewMsg(qname, qtype), "udp", c.addr)
	if err != nil {
		return 0, err
	}
	if m.Rcode != dns.RcodeSuccess || !m.Authoritative || m.Truncated {
		return 0, fmt.Errorf("%s %s: rcode %s, AA %t, TC %t", qname, dns.TypeToString[qtype], dns.RcodeToString[m.Rcode], m.Authoritative, m.Truncated)
	}
	switch kind {
	case checkNoData:
		if len(m.Answer) != 0 || len(m.Ns) != 1 {
			return 0, fmt.Errorf("%s MX: %d answers and %d authority records, want a NODATA with the SOA", qname, len(m.Answer), len(m.Ns))
		}
		soa, ok := m.Ns[0].(*dns.SOA)
		if !ok || !strings.EqualFold(soa.Hdr.Name, z) {
			return 0, fmt.Errorf("%s MX: authority %s, want the SOA of %s", qname, m.Ns[0], z)
		}
		return soa.Serial, nil
	case checkChain:
		if len(m.Answer) != 2 {
			return 0, fmt.Errorf("%s TXT: %d answers %v, want the CNAME and its target's TXT", qname, len(m.Answer), m.Answer)
		}
		cname, ok := m.Answer[0].(*dns.CNAME)
		if !ok {
			return 0, fmt.Errorf("%s TXT: first answer %s is not the CNAME", qname, m.Answer[0])
		}
		target, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(cname.Target), "v"), "."+z), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%s TXT: CNAME target %s is not vN.%s", qname, cname.Target, z)
		}
		v, err := answerVersion(m.Answer[1:], cname.Target)
		if err == nil && v != uint32(target) {
			err = fmt.Errorf("the CNAME points to version %d, its target's TXT says %d: two versions in one answer", target, v)
		}
		if err != nil {
			return 0, fmt.Errorf("%s TXT: %w", qname, err)
		}
		return v, nil
	}
	v, err := answerVersion(m.Answer, qname)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", qname, dns.TypeToString[qtype], err)
	}
	return v, nil
}

// answerVersion reads the version from v's TXT and A records in rrs, all owned by owner; it fails
// when there are none or when they disagree.
func answerVersion(rrs []dns.RR, owner string) (uint32, error) {
	var versions []uint32
	for _, rr := range rrs {
		if !strings.EqualFold(rr.Header().Name, owner) {
			return 0, fmt.Errorf("answer %s is not for %s", rr, owner)
		}
		switch rr := rr.(type) {
		case *dns.TXT:
			if len(rr.Txt) != 1 {
				return 0, fmt.Errorf("answer %s: want one string", rr)
			}
			n, err := strconv.ParseUint(rr.Txt[0], 10, 32)
			if err != nil {
				return 0, fmt.Errorf("answer %s: not a version", rr)
			}
			versions = append(versions, uint32(n))
		case *dns.A:
			a := rr.A.Addr.As4()
			if a[0] != 10 || a[1] != 0 {
				return 0, fmt.Errorf("answer %s: not a version address", rr)
			}
			versions = append(versions, uint32(a[2])<<8|uint32(a[3]))
		default:
			return 0, fmt.Errorf("answer %s: unexpected type", rr)
		}
	}
	if len(versions) == 0 {
		return 0, fmt.Errorf("no answer for %s", owner)
	}
	for _, v := range versions[1:] {
		if v != versions[0] {
			return 0, fmt.Errorf("answers of versions %v in one response", versions)
		}
	}
	return versions[0], nil
}

// The checker's own test: answers of one version pass, answers that mix versions or are not
// versions fail.
func TestAnswerVersion(t *testing.T) {
	for _, c := range []struct {
		rrs   string // one record a line
		owner string
		want  uint32 // 0: an error
	}{
		{"v.z. 60 IN TXT \"7\"", "v.z.", 7},
		{"v.z. 60 IN A 10.0.1.2", "v.z.", 258},
		{"v.z. 60 IN A 10.0.0.7\nv.z. 60 IN TXT \"7\"", "v.z.", 7},
		{"v.z. 60 IN A 10.0.0.7\nv.z. 60 IN TXT \"8\"", "v.z.", 0},
		{"v.z. 60 IN A 192.0.2.7", "v.z.", 0},
		{"v.z. 60 IN TXT \"7\" \"8\"", "v.z.", 0},
		{"w.z. 60 IN TXT \"7\"", "v.z.", 0},
		{"v.z. 60 IN MX 10 v.z.", "v.z.", 0},
		{"", "v.z.", 0},
	} {
		var rrs []dns.RR
		for line := range strings.Lines(c.rrs) {
			rr, err := dns.New(line)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			rrs = append(rrs, rr)
		}
		got, err := answerVersion(rrs, c.owner)
		if c.want == 0 && err == nil {
			t.Errorf("%q: version %d, want an error", c.rrs, got)
		}
		if c.want != 0 && (err != nil || got != c.want) {
			t.Errorf("%q: %d %v, want %d", c.rrs, got, err, c.want)
		}
	}
}
