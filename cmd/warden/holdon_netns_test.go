//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/control"
	"warden/internal/dnstest"
	"warden/internal/dnstest/netbed"
)

// The Hold-On bed: the probe's chain client — r1 — r2 — server in 198.18.40.0/22, the link from
// r2 to the server delayed by holdOnDelay each way, and an injector on r2 that forges the A
// records of the blocked names. The server host runs a small hierarchy of Warden authorities, one
// address per zone: the root on .42.2 delegates ho. to .42.3, which delegates site.ho. to .42.4;
// .42.4 also serves fwd.ho., which the client's Warden forwards to it. The client's Warden
// iterates for site.ho. and forwards for fwd.ho., so both kinds of upstream exchange meet the
// injector.
var (
	hoBase     = netip.MustParseAddr("198.18.40.0")
	hoRoot     = netip.MustParseAddr("198.18.42.2")
	hoTLD      = netip.MustParseAddr("198.18.42.3")
	hoLeaf     = netip.MustParseAddr("198.18.42.4")
	hoReal     = netip.MustParseAddr("198.18.42.100") // every name's real address
	hoForged   = netip.MustParseAddr("198.18.255.1")  // what the injector answers
	hoZones    = []string{"site.ho.", "fwd.ho."}
	hoBlocked  = []string{"blocked1", "blocked2", "www.blocked3", "blocked4", "blocked5"}
	hoDelay    = 50 * time.Millisecond
	hoWardenAt = netip.MustParseAddrPort("127.0.0.1:53")
)

// holdOnBed is the bed with its servers running and a Warden built.
type holdOnBed struct {
	*netbed.Bed
	dir, bin string
	injector *netbed.Injector
}

func newHoldOnBed(t testing.TB) *holdOnBed {
	t.Helper()
	bed := netbed.New(t, netbed.Layout{Prefix: "ho", DevPrefix: "ho", Base: hoBase, ServerDelay: hoDelay})
	if bed.ServerAddr != hoRoot {
		t.Fatalf("server at %v, want %v", bed.ServerAddr, hoRoot)
	}
	bed.AddServerAddr(t, hoTLD)
	bed.AddServerAddr(t, hoLeaf)
	dir := t.TempDir()
	b := &holdOnBed{Bed: bed, dir: dir, bin: dnstest.BuildWarden(t, dir)}

	soa := func(origin string) string {
		return fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns hostmaster 1 3600 600 86400 60\n", origin)
	}
	root := soa(".") + "@ NS a.root.\na.root. A " + hoRoot.String() + "\nho. NS ns.ho.\nns.ho. A " + hoTLD.String() + "\n"
	tld := soa("ho.") + "@ NS ns\nns A " + hoTLD.String() + "\nsite NS ns.site\nns.site A " + hoLeaf.String() + "\n"
	leaf := func(origin string) string {
		return soa(origin) + "@ NS ns\nns A " + hoLeaf.String() + "\n* A " + hoReal.String() + "\n"
	}
	b.startAuthority(t, "root", hoRoot, map[string]string{".": root})
	b.startAuthority(t, "tld", hoTLD, map[string]string{"ho.": tld})
	b.startAuthority(t, "leaf", hoLeaf, map[string]string{"site.ho.": leaf("site.ho."), "fwd.ho.": leaf("fwd.ho.")})

	forged := map[string]netip.Addr{}
	for _, z := range hoZones {
		for _, n := range hoBlocked {
			forged[n+"."+z] = hoForged
		}
	}
	b.injector = netbed.StartInjector(t, bed.R2, bed.Dev("r2a"), forged)
	return b
}

// startAuthority runs a Warden authority for zones (origin to zone text) on addr in the server's
// namespace until the test ends, and waits until it answers.
func (b *holdOnBed) startAuthority(t testing.TB, name string, addr netip.Addr, zones map[string]string) {
	t.Helper()
	dir := filepath.Join(b.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "listen: [%q]\nstorage: %s\ncontrol:\n  socket: \"\"\nzones:\n", netip.AddrPortFrom(addr, 53), dir)
	var origins []string
	for origin, text := range zones {
		file := filepath.Join(dir, "root.zone")
		if origin != "." {
			file = filepath.Join(dir, origin+"zone")
		}
		hoWriteFile(t, file, text)
		fmt.Fprintf(&cfg, "  - {origin: %q, file: %s}\n", origin, file)
		origins = append(origins, origin)
	}
	cfgPath := filepath.Join(dir, "warden.yaml")
	hoWriteFile(t, cfgPath, cfg.String())
	b.runWarden(t, b.Server, cfgPath)
	dnstest.WaitUntil(t, name+" authority answering", func() bool {
		m, err := b.ask(b.Server, netip.AddrPortFrom(addr, 53), origins[0], dns.TypeSOA, false)
		return err == nil && m.Rcode == dns.RcodeSuccess
	})
}

func hoWriteFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runWarden runs `warden serve` with cfgPath inside ns until the test ends.
func (b *holdOnBed) runWarden(t testing.TB, ns netbed.NS, cfgPath string) *syncBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := b.Command(ctx, ns, b.bin, "serve", "--config", cfgPath)
	logs := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		if t.Failed() {
			t.Logf("%s:\n%s", cfgPath, logs.String())
		}
	})
	return logs
}

// ask sends one query from inside ns and returns the reply. The socket is opened in the namespace
// and used from here; a reply must come within 10 s.
func (b *holdOnBed) ask(ns netbed.NS, server netip.AddrPort, name string, qtype uint16, rd bool) (*dns.Msg, error) {
	var conn *net.UDPConn
	err := ns.Do(func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(server))
		return err
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	q := dns.NewMsg(name, qtype)
	q.RecursionDesired = rd
	if err := q.Pack(); err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(q.Data); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		m := &dns.Msg{Data: append([]byte(nil), buf[:n]...)}
		if m.Unpack() == nil && m.ID == q.ID {
			return m, nil
		}
	}
}

// resolver starts the client's Warden, iterating from the bed's root and forwarding fwd.ho., with
// hold_on as given, on port; its control socket is returned.
func (b *holdOnBed) resolver(t testing.TB, name string, port uint16, holdOn bool) (netip.AddrPort, string) {
	t.Helper()
	dir := filepath.Join(b.dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hints := filepath.Join(dir, "root.hints")
	hoWriteFile(t, hints, ". 3600000 NS a.root.\na.root. 3600000 A "+hoRoot.String()+"\n")
	on := map[bool]string{true: "on", false: "off"}[holdOn]
	addr := netip.AddrPortFrom(hoWardenAt.Addr(), port)
	socket := filepath.Join(dir, "control.sock")
	cfgPath := filepath.Join(dir, "warden.yaml")
	hoWriteFile(t, cfgPath, fmt.Sprintf(`listen: [%q]
storage: %s
zones: []
control:
  socket: %s
resolver:
  root_hints: %s
  hold_on: %s
  forward:
    - {zone: fwd.ho., upstreams: ["%s:53"], hold_on: %s}
`, addr, dir, socket, hints, on, hoLeaf, on))
	b.runWarden(t, b.Client, cfgPath)
	// Hold-On judges a reply by the server's usual round trip and IP TTL: it learns them from
	// these first replies, iterated and forwarded.
	for _, n := range []string{"ns.site.ho.", "ns.fwd.ho."} {
		dnstest.WaitUntil(t, name+" resolver answering "+n, func() bool {
			m, err := b.ask(b.Client, addr, n, dns.TypeA, true)
			return err == nil && m.Rcode == dns.RcodeSuccess
		})
	}
	return addr, socket
}

// resolveA asks the client's Warden for name and returns the A record's address.
func (b *holdOnBed) resolveA(at netip.AddrPort, name string) (netip.Addr, error) {
	m, err := b.ask(b.Client, at, name, dns.TypeA, true)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.Addr, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s: %s, no A record", name, dns.RcodeToString[m.Rcode])
}

// controlGet reads path from a Warden's control socket.
func controlGet(t testing.TB, socket, path string) []byte {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}}}
	resp, err := c.Get("http://warden" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %s", path, err, resp.Status)
	}
	return body
}

// metricValue reads one unlabelled sample from the Prometheus text.
func metricValue(t *testing.T, text []byte, name string) float64 {
	t.Helper()
	for line := range strings.Lines(string(text)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in the metrics", name)
	return 0
}

// cleanRun resolves n distinct clean names under zone through at with workers at once, all cache
// misses, and returns each resolution's latency; any name answered with another address than the
// real one, or not answered in three tries, fails the test. The run is bounded by limit.
func (b *holdOnBed) cleanRun(t testing.TB, at netip.AddrPort, zone, tag string, n, workers int, limit time.Duration) []time.Duration {
	t.Helper()
	var next atomic.Int32
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	var bad []string
	deadline := time.Now().Add(limit)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || time.Now().After(deadline) {
					return
				}
				name := fmt.Sprintf("c%d-%s.%s", i, tag, zone)
				t0 := time.Now()
				a, err := b.resolveA(at, name)
				// A name not answered (SERVFAIL after a lost or stalled datagram on this
				// loaded machine) is asked again, as a client would; a wrong answer is not.
				for try := 0; err != nil && try < 2; try++ {
					a, err = b.resolveA(at, name)
				}
				d := time.Since(t0)
				mu.Lock()
				if err != nil || a != hoReal {
					bad = append(bad, fmt.Sprintf("%s: %v %v", name, a, err))
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d clean names not answered with %v, first: %s", len(bad), hoReal, bad[0])
	}
	if len(lat) < n {
		t.Fatalf("only %d of %d clean names resolved within %v", len(lat), n, limit)
	}
	return lat
}

// TestHoldOnNetns: through a path whose second router injects forged answers, Warden with
// Hold-On returns the real answer for every blocked name, iterating and forwarding alike, reports
// each injection (metric, ctl status) against the right server and names, and flags no clean
// name over thousands of queries. The same Warden with hold_on off takes the forgeries, which
// shows the injector wins the race on this bed.
func TestHoldOnNetns(t *testing.T) {
	b := newHoldOnBed(t)
	on, socket := b.resolver(t, "on", 53, true)
	off, offSocket := b.resolver(t, "off", 5353, false)

	for _, z := range hoZones {
		for _, n := range hoBlocked {
			name := n + "." + z
			if a, err := b.resolveA(on, name); err != nil || a != hoReal {
				t.Errorf("hold_on on: %s = %v (%v), want the real %v", name, a, err, hoReal)
			}
			if a, err := b.resolveA(off, name); err != nil || a != hoForged {
				t.Errorf("hold_on off: %s = %v (%v), want the forged %v: the injector did not win", name, a, err, hoForged)
			}
		}
	}

	// Thousands of clean names, both ways; none may be flagged.
	const clean = 1500
	for _, z := range hoZones {
		lat := b.cleanRun(t, on, z, "on", clean, 16, 3*time.Minute)
		slices.Sort(lat)
		t.Logf("%s: %d clean names, median %v, p99 %v", z, len(lat), lat[len(lat)/2], lat[len(lat)*99/100])
	}

	var st control.Status
	if err := json.Unmarshal(controlGet(t, socket, "/status"), &st); err != nil {
		t.Fatal(err)
	}
	in := st.Injections
	if in == nil {
		t.Fatal("ctl status shows no injections section")
	}
	// At least one detection per blocked name; more where the resolver asked the injector's names
	// with another type on the way (QNAME minimisation), which it forges as empty answers.
	perName := map[string]uint64{}
	for _, c := range in.Names {
		perName[c.Key] = c.Count
	}
	for _, z := range hoZones {
		for _, n := range hoBlocked {
			if perName[n+"."+z] == 0 {
				t.Errorf("no injection reported for %s", n+"."+z)
			}
			delete(perName, n+"."+z)
		}
	}
	for name, n := range perName {
		t.Errorf("clean name %s flagged %d times", name, n)
	}
	if min := uint64(len(hoZones) * len(hoBlocked)); in.Total < min {
		t.Errorf("%d injections detected, want at least %d: %+v", in.Total, min, in)
	}
	if len(in.Servers) != 1 || in.Servers[0].Key != netip.AddrPortFrom(hoLeaf, 53).String() || in.Servers[0].Count != in.Total {
		t.Errorf("detections by server %+v, want all %d against the leaf %v", in.Servers, in.Total, hoLeaf)
	}
	t.Logf("injections: %+v; the injector forged %d replies", in, b.injector.Forged.Load())
	if got := metricValue(t, controlGet(t, socket, "/metrics"), "warden_injections_detected_total"); got != float64(in.Total) {
		t.Errorf("warden_injections_detected_total = %v, ctl status says %d", got, in.Total)
	}
	if got := metricValue(t, controlGet(t, offSocket, "/metrics"), "warden_injections_detected_total"); got != 0 {
		t.Errorf("hold_on off: warden_injections_detected_total = %v, want 0", got)
	}
	// Read last: the injector counts a forgery after sending it, and the resolver may have its
	// answer first.
	if forged := b.injector.Forged.Load(); forged < int32(2*len(hoZones)*len(hoBlocked)) {
		t.Errorf("the injector forged %d replies, want at least one per blocked name and resolver", forged)
	}
}

// benchRun tells apart the names of repeated benchmark runs, so that every one is a cache miss.
var benchRun atomic.Int64

// BenchmarkHoldOnNetns measures what the window costs on the Hold-On bed: the time to resolve a
// name that is not cached, with hold_on on and off, iterating (site.ho.) and forwarding
// (fwd.ho.). Each iteration resolves a new clean name through each of the two resolvers in turn,
// so that both see the same load on the machine; the median and the 99th percentile of each are
// reported in milliseconds. The injector is on the path, but no clean name is forged.
//
//	go test -run '^$' -bench HoldOnNetns -benchtime 400x -count 3 ./cmd/warden
func BenchmarkHoldOnNetns(b *testing.B) {
	bed := newHoldOnBed(b)
	on, _ := bed.resolver(b, "on", 53, true)
	off, _ := bed.resolver(b, "off", 5353, false)
	for _, mode := range []struct{ name, zone string }{{"iterate", "site.ho."}, {"forward", "fwd.ho."}} {
		b.Run(mode.name, func(b *testing.B) {
			run := benchRun.Add(1)
			var latOn, latOff []time.Duration
			i := 0
			for b.Loop() {
				for _, side := range []struct {
					at  netip.AddrPort
					lat *[]time.Duration
				}{{on, &latOn}, {off, &latOff}} {
					name := fmt.Sprintf("b%d-%d-%d.%s", run, i, side.at.Port(), mode.zone)
					t0 := time.Now()
					a, err := bed.resolveA(side.at, name)
					if err != nil || a != hoReal {
						b.Fatalf("%s: %v %v", name, a, err)
					}
					*side.lat = append(*side.lat, time.Since(t0))
				}
				i++
			}
			for _, r := range []struct {
				unit string
				lat  []time.Duration
			}{{"on", latOn}, {"off", latOff}} {
				slices.Sort(r.lat)
				ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
				b.ReportMetric(ms(r.lat[len(r.lat)/2]), "median-ms-"+r.unit)
				b.ReportMetric(ms(r.lat[len(r.lat)*99/100]), "p99-ms-"+r.unit)
			}
		})
	}
}
