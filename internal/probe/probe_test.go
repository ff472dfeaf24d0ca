package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// realZone is what the resolvers under test know; the trusted file below agrees with it.
const realZone = `
www.open.test.      60 IN A    192.0.2.1
www.blocked.test.   60 IN A    192.0.2.2
www.cdn.test.       60 IN A    192.0.2.3
www.cdn.test.       60 IN AAAA 2001:db8:1::3
www.moved.test.     60 IN A    192.0.2.4
`

const knownText = `
# what the trusted side says
www.open.test.     A    192.0.2.1
www.blocked.test.  A    192.0.2.2
www.cdn.test.      A    192.0.2.200
www.cdn.test.      AAAA 2001:db8:1:ff::1
www.moved.test.    A    192.0.2.4
gone.test.         NXDOMAIN
`

// forgedZone is what the injector puts in front of the real answers.
const forgedZone = `
www.blocked.test. 60 IN A 10.10.34.34
`

// testProber returns a prober with limits that leave room for a loaded machine (race detector,
// parallel packages) while keeping the injector's 50 ms lead well inside the hold window.
func testProber(t *testing.T, trusted Trusted, forged *Forged) *Prober {
	t.Helper()
	return &Prober{Trusted: trusted, Forged: forged, Hold: 400 * time.Millisecond, Timeout: 2 * time.Second}
}

func mustKnown(t *testing.T, text string) *Known {
	t.Helper()
	k, err := ParseKnown(strings.NewReader(text), "known.txt")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVerdicts(t *testing.T) {
	real := parseZone(t, realZone)
	known := mustKnown(t, knownText)
	forged, err := ParseForged(strings.NewReader("10.10.34.0/24 # the injector's block page\n"), "forged.txt")
	if err != nil {
		t.Fatal(err)
	}
	// Every scenario has its own loopback address, as separate resolvers on a real network do.
	honestRes := serveUDP(t, "127.0.0.2", honest(real))
	injected := serveUDP(t, "127.0.0.3", racing(real, parseZone(t, forgedZone)))
	redirect := serveUDP(t, "127.0.0.4", honest(parseZone(t, `
www.moved.test.   60 IN A 198.51.100.9
www.blocked.test. 60 IN A 10.10.34.35
www.cdn.test.     60 IN A 192.0.2.77
www.cdn.test.     60 IN AAAA 2001:db8:1:42::7
gone.test.        60 IN A 198.51.100.10
`)))
	nxdomain := serveUDP(t, "127.0.0.5", honest(nil))
	servfail := serveUDP(t, "127.0.0.6", rcode(dns.RcodeServerFailure))
	refused := serveUDP(t, "127.0.0.6", rcode(dns.RcodeRefused))
	mute := serveUDP(t, "127.0.0.7", silent)
	dark := darkAddr(t, "127.0.0.8")
	darkAnswering := serveUDP(t, "127.0.0.9", honest(parseZone(t, forgedZone)))

	tests := []struct {
		name     string
		qtype    uint16
		resolver netip.AddrPort
		dark     bool
		trusted  bool
		forged   bool
		want     Verdict
		evidence string // a part of the evidence
		answers  []string
	}{
		{"www.open.test.", dns.TypeA, honestRes, false, true, false, Consistent, "same answer as trusted", []string{"192.0.2.1"}},
		{"www.open.test.", dns.TypeA, honestRes, false, false, false, Consistent, "no trusted channel", []string{"192.0.2.1"}},
		{"gone.test.", dns.TypeA, honestRes, false, true, false, Consistent, "same answer as trusted: NXDOMAIN", nil},
		{"unlisted.test.", dns.TypeA, honestRes, false, true, false, Consistent, "has no answer to compare with", nil},
		{"www.blocked.test.", dns.TypeA, injected, false, true, false, Injected, "2 different replies", []string{"10.10.34.34"}},
		{"www.blocked.test.", dns.TypeA, injected, false, false, false, Injected, "#1 after", []string{"10.10.34.34"}},
		{"www.open.test.", dns.TypeA, injected, false, true, false, Consistent, "same answer", []string{"192.0.2.1"}},
		{"www.moved.test.", dns.TypeA, redirect, false, true, false, Redirected, "resolver NOERROR 198.51.100.9, trusted NOERROR 192.0.2.4", []string{"198.51.100.9"}},
		{"gone.test.", dns.TypeA, redirect, false, true, false, Redirected, "trusted NXDOMAIN", []string{"198.51.100.10"}},
		{"www.cdn.test.", dns.TypeA, redirect, false, true, false, Consistent, "(CDN)", []string{"192.0.2.77"}},
		{"www.cdn.test.", dns.TypeAAAA, redirect, false, true, false, Consistent, "(CDN)", []string{"2001:db8:1:42::7"}},
		{"www.cdn.test.", dns.TypeAAAA, honestRes, false, true, false, Consistent, "(CDN)", []string{"2001:db8:1::3"}},
		{"www.blocked.test.", dns.TypeA, redirect, false, false, true, Injected, "10.10.34.35 is in the forged list (10.10.34.0/24)", []string{"10.10.34.35"}},
		{"www.open.test.", dns.TypeA, nxdomain, false, true, false, NXDomainInjected, "NXDOMAIN where the name exists", nil},
		{"www.open.test.", dns.TypeA, servfail, false, true, false, ServFail, "SERVFAIL", nil},
		{"www.open.test.", dns.TypeA, refused, false, true, false, ServFail, "REFUSED", nil},
		{"www.open.test.", dns.TypeA, mute, false, true, false, Timeout, "no reply", nil},
		{"www.blocked.test.", dns.TypeA, dark, true, true, false, Consistent, "as expected", nil},
		{"www.blocked.test.", dns.TypeA, darkAnswering, true, true, false, Injected, "runs no DNS server", []string{"10.10.34.34"}},
	}
	for _, tc := range tests {
		t.Run(tc.want.String()+"/"+tc.name+"/"+tc.resolver.String(), func(t *testing.T) {
			t.Parallel()
			var tr Trusted
			if tc.trusted {
				tr = known
			}
			var fl *Forged
			if tc.forged {
				fl = forged
			}
			p := testProber(t, tr, fl)
			if tc.want == Timeout {
				p.Timeout = 300 * time.Millisecond
			}
			r := p.Probe(context.Background(), Target{Name: tc.name, Type: tc.qtype, Resolver: tc.resolver, Dark: tc.dark})
			if r.Verdict != tc.want || !strings.Contains(r.Evidence, tc.evidence) {
				t.Errorf("verdict %s (%s), want %s with %q", r.Verdict, r.Evidence, tc.want, tc.evidence)
			}
			if !slices.Equal(r.Answers, tc.answers) {
				t.Errorf("answers %v, want %v", r.Answers, tc.answers)
			}
		})
	}
}

func (v Verdict) String() string { return string(v) }

// recordingLocator stands in for hop localisation: it answers hop 2 at a fixed address, or an
// error for names it is told to fail, and records what it was asked.
type recordingLocator struct {
	mu    sync.Mutex
	asked []string
	fail  string
}

func (l *recordingLocator) Locate(_ context.Context, target netip.AddrPort, name string, qtype uint16) (int, netip.Addr, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked = append(l.asked, name+" "+target.String())
	if name == l.fail {
		return 0, netip.Addr{}, errors.New("no time-exceeded replies")
	}
	return 2, netip.MustParseAddr("198.18.1.2"), nil
}

func TestRunLocatesOnlyTampered(t *testing.T) {
	real := parseZone(t, realZone)
	forged := parseZone(t, forgedZone+"www.moved.test. 60 IN A 10.10.34.34\n")
	res := serveUDP(t, "127.0.0.10", racing(real, forged))
	loc := &recordingLocator{fail: "www.moved.test."}
	p := testProber(t, mustKnown(t, knownText), nil)
	p.Locator = loc
	var progress []int
	p.Progress = func(done, total int) {
		if total != 3 {
			t.Errorf("progress total %d, want 3", total)
		}
		progress = append(progress, done)
	}
	names := []string{"www.blocked.test.", "www.open.test.", "www.moved.test."}
	var targets []Target
	for _, n := range names {
		targets = append(targets, Target{Name: n, Type: dns.TypeA, Resolver: res})
	}
	results := p.Run(context.Background(), targets)
	for i, r := range results {
		if r.Name != names[i] {
			t.Fatalf("result %d is for %s, want %s: results out of order", i, r.Name, names[i])
		}
	}
	if r := results[0]; r.Verdict != Injected || r.Hop != 2 || r.HopAddr != "198.18.1.2" {
		t.Errorf("blocked: %+v, want injected at hop 2 198.18.1.2", r)
	}
	if r := results[1]; r.Verdict != Consistent || r.Hop != 0 || r.HopAddr != "" {
		t.Errorf("open: %+v, want consistent and not located", r)
	}
	if r := results[2]; r.Verdict != Injected || r.Hop != 0 || !strings.Contains(r.Evidence, "not located: no time-exceeded replies") {
		t.Errorf("moved: %+v, want injected, with the localisation error", r)
	}
	if len(loc.asked) != 2 {
		t.Errorf("locator asked %v, want the two tampered names only", loc.asked)
	}
	if !slices.Equal(progress, []int{1, 2, 3}) {
		t.Errorf("progress %v, want 1 2 3", progress)
	}
}

// TestStraysIgnored checks that a reply from another address than the one asked does not count,
// even when it arrives first and matches the query: an off-path forger that guessed the port and
// ID but cannot send from the resolver's address.
func TestStraysIgnored(t *testing.T) {
	real := parseZone(t, realZone)
	pc, err := net.ListenPacket("udp", "127.0.0.11:0")
	if err != nil {
		t.Fatal(err)
	}
	other, err := net.ListenPacket("udp", "127.0.0.12:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		buf := make([]byte, 65535)
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := &dns.Msg{Data: buf[:n]}
		if q.Unpack() != nil {
			return
		}
		for i, m := range []*dns.Msg{parseZone(t, forgedZone).reply(q), real.reply(q)} {
			if m.Pack() != nil {
				return
			}
			if i == 0 {
				other.WriteTo(m.Data, from)
				time.Sleep(20 * time.Millisecond)
			} else {
				pc.WriteTo(m.Data, from)
			}
		}
	}()
	defer func() { pc.Close(); <-served }()
	p := testProber(t, nil, nil)
	res := netip.MustParseAddrPort(pc.LocalAddr().String())
	r := p.Probe(context.Background(), Target{Name: "www.blocked.test.", Type: dns.TypeA, Resolver: res})
	if r.Verdict != Consistent || !slices.Equal(r.Answers, []string{"192.0.2.2"}) || !strings.Contains(r.Evidence, "1 stray") {
		t.Errorf("%+v, want consistent with the real answer and one stray", r)
	}
}

func TestProbeCancelled(t *testing.T) {
	res := serveUDP(t, "127.0.0.13", silent)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	p := &Prober{Timeout: 10 * time.Second}
	start := time.Now()
	r := p.Probe(ctx, Target{Name: "www.open.test.", Type: dns.TypeA, Resolver: res})
	if r.Verdict != Timeout || time.Since(start) > 5*time.Second {
		t.Errorf("%+v after %v, want a timeout soon after the cancel", r, time.Since(start))
	}
}
