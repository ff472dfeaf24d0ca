package zones

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
	"warden/internal/server"
	"warden/internal/transfer"
)

// TestSecondaryTimers: a secondary refreshes on the SOA refresh timer without NOTIFY, retries on
// the retry timer while its primary is down, answers SERVFAIL once the SOA expire has passed, and
// serves the zone again as soon as the primary is back.
func TestSecondaryTimers(t *testing.T) {
	const origin = "timers.test."
	// refresh 1 s and retry 1 s are raised to the 2 s minimum; expire 6 s.
	pcfg, file := primaryConfig(t, origin, zoneText(origin, 1, 1, 1, 6))
	primary := startNode(t, "primary", pcfg, netip.AddrPort{})
	secondary := startNode(t, "secondary", secondaryConfig(t, origin, primary.addr), netip.AddrPort{})
	waitSerial(t, secondary.addr, origin, 1, 5*time.Second)

	// The primary changes without telling anyone; the refresh timer finds the change.
	writeZone(t, file, zoneText(origin, 2, 1, 1, 6, "new A 192.0.2.2"))
	if err := primary.m.Reload(pcfg); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	waitSerial(t, secondary.addr, origin, 2, 6*time.Second)
	if took := time.Since(changed); took > 4*time.Second {
		t.Errorf("the change took %s to arrive; the refresh timer is 2 s", took)
	}
	sameRecords(t, origin, primary.addr, secondary.addr, testKey(t))
	st, _ := secondary.status(origin)
	if gap := st.NextRefresh.Sub(st.LastRefresh); gap < minInterval-100*time.Millisecond || gap > minInterval+100*time.Millisecond {
		t.Errorf("next refresh %s after the last; want the 2 s minimum", gap)
	}

	// The primary goes away: the secondary keeps serving, retries, and says why it fails.
	primary.stop()
	eventually(t, 5*time.Second, "a refresh error in the zone's status", func() string {
		if st, _ := secondary.status(origin); st.LastError == "" {
			return "no error yet"
		}
		return ""
	})
	if s, rc, _ := soa(secondary.addr, origin); rc != dns.RcodeSuccess || s != 2 {
		t.Fatalf("before expiry: serial %d rcode %s, want serial 2", s, dns.RcodeToString[rc])
	}
	st, _ = secondary.status(origin)
	if st.Expired || !strings.Contains(st.LastError, primary.addr.String()) {
		t.Errorf("status while the primary is down: expired %v, error %q (want it to name %s)", st.Expired, st.LastError, primary.addr)
	}

	// Past the expire time the zone answers SERVFAIL, not stale data.
	waitRcode(t, secondary.addr, origin, dns.RcodeServerFailure, 10*time.Second)
	if st, _ := secondary.status(origin); !st.Expired {
		t.Error("the zone answers SERVFAIL but its status does not say it expired")
	}
	if _, err := transferFrom(secondary.addr, origin, testKey(t)); err == nil {
		t.Error("an expired zone was transferred out")
	}

	// The primary returns with the same serial: the secondary serves again.
	primary.start(primary.addr)
	waitSerial(t, secondary.addr, origin, 2, 6*time.Second)
	if st, _ := secondary.status(origin); st.Expired || st.LastError != "" {
		t.Errorf("after the primary returned: expired %v, error %q", st.Expired, st.LastError)
	}
}

// TestSecondaryRestart: a restarted secondary serves its copy on disk at once, before any primary
// answers; a copy older than the SOA expire answers SERVFAIL until a refresh succeeds.
func TestSecondaryRestart(t *testing.T) {
	const origin = "restart.test."
	pcfg, _ := primaryConfig(t, origin, zoneText(origin, 7, 3600, 600, 30))
	primary := startNode(t, "primary", pcfg, netip.AddrPort{})
	scfg := secondaryConfig(t, origin, primary.addr)
	secondary := startNode(t, "secondary", scfg, netip.AddrPort{})
	waitSerial(t, secondary.addr, origin, 7, 5*time.Second)
	want := records(t, secondary.addr, origin, testKey(t))

	primary.stop()
	secondary.restart()
	// At once: the listener is up only after Start, which loaded the copy.
	if s, rc, _ := soa(secondary.addr, origin); rc != dns.RcodeSuccess || s != 7 {
		t.Fatalf("after restart: serial %d rcode %s, want the copy on disk at serial 7", s, dns.RcodeToString[rc])
	}
	if got := records(t, secondary.addr, origin, testKey(t)); !slices.Equal(got, want) {
		t.Fatalf("the copy served after restart differs:\n%s\n---\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A copy last known good longer ago than the expire time (30 s) is not served.
	secondary.stop()
	copyFile := secondary.m.storagePath(origin, "zone")
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(copyFile, old, old); err != nil {
		t.Fatal(err)
	}
	secondary.start(secondary.addr)
	if _, rc, _ := soa(secondary.addr, origin); rc != dns.RcodeServerFailure {
		t.Fatalf("an expired copy answered %s, want SERVFAIL", dns.RcodeToString[rc])
	}
	if st, _ := secondary.status(origin); !st.Expired {
		t.Error("the expired copy's status does not say expired")
	}
	primary.start(primary.addr)
	if err := secondary.m.Refresh(origin); err != nil {
		t.Fatalf("refresh with the primary back: %v", err)
	}
	waitSerial(t, secondary.addr, origin, 7, 2*time.Second)
}

// badPrimary serves a zone by SOA queries and transfers through Warden's own transfer writer;
// the test sets what it sends, good or broken.
type badPrimary struct {
	mu      sync.Mutex
	records []dns.RR
	// cut sends each transfer message cut off in the middle of its records.
	cut bool
}

func (p *badPrimary) set(t testing.TB, text string, cut bool) {
	t.Helper()
	var rrs []dns.RR
	for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		rr, err := dns.New(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		rrs = append(rrs, rr)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records, p.cut = rrs, cut
}

func (p *badPrimary) ServeDNS(req *query.Request, out []byte) []byte {
	if req.Parse() != query.Accept {
		return nil
	}
	p.mu.Lock()
	rrs, cut := p.records, p.cut
	p.mu.Unlock()
	switch req.QType {
	case dns.TypeSOA:
		m := &dns.Msg{}
		m.ID, m.Response, m.Authoritative = req.ID, true, true
		m.Question = []dns.RR{&dns.SOA{Hdr: dns.Header{Name: rrs[0].Header().Name, Class: dns.ClassINET}}}
		m.Answer = []dns.RR{rrs[0]}
		if m.Pack() != nil {
			return nil
		}
		return m.Data
	case dns.TypeAXFR, dns.TypeIXFR:
		if req.Stream == nil {
			return nil
		}
		send := req.Stream
		if cut {
			send = func(msg []byte) error { return req.Stream(msg[:len(msg)-7]) }
		}
		w := transfer.NewWriter(&transfer.Request{ID: req.ID, Question: transfer.Question{Name: req.QName, Type: req.QType, Class: req.QClass}}, send)
		_ = transfer.WriteAXFR(w, slices.Values(rrs))
	}
	return nil
}

// TestBrokenTransferKeepsZone: a primary that sends a broken zone (a CNAME beside other data,
// records outside the zone, a transfer cut off) never replaces the version in force; the error is
// in the zone's status.
func TestBrokenTransferKeepsZone(t *testing.T) {
	const origin = "broken.test."
	good := `broken.test. 300 IN SOA ns1.broken.test. hostmaster.broken.test. 1 3600 600 86400 60
broken.test. 300 IN NS ns1.broken.test.
ns1.broken.test. 300 IN A 192.0.2.1
www.broken.test. 300 IN A 192.0.2.80`
	next := strings.Replace(good, " 1 3600", " 2 3600", 1)
	bp := &badPrimary{}
	bp.set(t, good, false)
	l, err := server.Listen(server.ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, bp, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	paddr := netip.MustParseAddrPort(l.TCPAddr().String())
	scfg := secondaryConfig(t, origin, paddr)
	scfg.Zones[0].Key = ""
	secondary := startNode(t, "secondary", scfg, netip.AddrPort{})
	waitSerial(t, secondary.addr, origin, 1, 5*time.Second)
	want := records(t, secondary.addr, origin, nil)

	for _, tc := range []struct {
		name, zone string
		cut        bool
		wantErr    string
	}{
		{"CNAME beside other data", next + "\nwww.broken.test. 300 IN CNAME elsewhere.example.", false, "CNAME"},
		{"record outside the zone", next + "\nwww.example.org. 300 IN A 192.0.2.9", false, "example.org"},
		{"transfer cut off", next, true, "AXFR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bp.set(t, tc.zone, tc.cut)
			err := secondary.m.Refresh(origin)
			if err == nil {
				t.Fatal("refresh succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("refresh error %q does not mention %q", err, tc.wantErr)
			}
			if s, rc, _ := soa(secondary.addr, origin); rc != dns.RcodeSuccess || s != 1 {
				t.Fatalf("after the broken transfer: serial %d rcode %s, want serial 1", s, dns.RcodeToString[rc])
			}
			if got := records(t, secondary.addr, origin, nil); !slices.Equal(got, want) {
				t.Fatalf("the zone changed:\n%s", strings.Join(got, "\n"))
			}
			st, _ := secondary.status(origin)
			if st.LastError == "" || st.Serial != 1 {
				t.Errorf("status: serial %d, last error %q; want serial 1 and the error", st.Serial, st.LastError)
			}
		})
	}
	// The primary mends its zone: the next refresh takes it and clears the error.
	bp.set(t, next, false)
	if err := secondary.m.Refresh(origin); err != nil {
		t.Fatal(err)
	}
	waitSerial(t, secondary.addr, origin, 2, 2*time.Second)
	if st, _ := secondary.status(origin); st.LastError != "" {
		t.Errorf("error still shown after a good refresh: %q", st.LastError)
	}
}
