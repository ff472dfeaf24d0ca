package pipeline

import (
	"net/netip"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/query"
	"warden/internal/server"
	"warden/internal/wire"
	"warden/internal/zone"
)

// mixedPipeline serves testZone (with a delegation), the zones unavailable without data, and
// recursion for 127.0.0.1 only. The recursor has no root hints: these tests never get as far as
// resolving.
func mixedPipeline(t testing.TB, unavailable ...string) *Pipeline {
	t.Helper()
	z, _, err := zone.Load("example.test.", "test.zone", []byte(testZone+"sub NS ns.sub\nns.sub A 192.0.2.53\n"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := authority.NewWithUnavailable([]*zone.Zone{z}, unavailable)
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecursor(RecursorConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Timeout: time.Second, MaxConcurrent: 1})
	return NewPipeline(wire.Limits{UDPPayload: 1232}, &Snapshot{Authority: set, Recursion: rec})
}

func mixedRequest(t testing.TB, name string, rd bool, client string) *query.Request {
	t.Helper()
	m := dns.NewMsg(name, dns.TypeA)
	m.UDPSize, m.RecursionDesired = 1232, rd
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	return &query.Request{Wire: m.Data, Transport: query.UDP, Client: netip.MustParseAddrPort(client + ":5353")}
}

// The flags of answers from the zones with recursion on: RA for a client that may recurse
// whatever it asked, not for one that may not; answers that need no resolution keep their content.
func TestMixedFlags(t *testing.T) {
	p := mixedPipeline(t, "expired.test.")
	for _, tc := range []struct {
		name       string
		qname      string
		rd         bool
		client     string
		rcode      int
		aa, ra     bool
		answer, ns int
	}{
		{"answer, RD=1", "www.example.test.", true, "127.0.0.1", dns.RcodeSuccess, true, true, 1, 0},
		{"answer, RD=0", "www.example.test.", false, "127.0.0.1", dns.RcodeSuccess, true, true, 1, 0},
		{"answer, not allowed", "www.example.test.", true, "127.0.0.2", dns.RcodeSuccess, true, false, 1, 0},
		{"NXDOMAIN, RD=1", "nothere.example.test.", true, "127.0.0.1", dns.RcodeNameError, true, true, 0, 1},
		{"referral, RD=0", "www.sub.example.test.", false, "127.0.0.1", dns.RcodeSuccess, false, true, 0, 1},
		{"referral, not allowed", "www.sub.example.test.", true, "127.0.0.2", dns.RcodeSuccess, false, false, 0, 1},
		{"zone without data", "www.expired.test.", true, "127.0.0.1", dns.RcodeServerFailure, false, true, 0, 0},
		{"zone without data, not allowed", "www.expired.test.", true, "127.0.0.2", dns.RcodeServerFailure, false, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := p.ServeDNS(mixedRequest(t, tc.qname, tc.rd, tc.client), make([]byte, 0, 4096))
			m, err := wire.Unpack(out)
			if err != nil {
				t.Fatal(err)
			}
			if m.Rcode != uint16(tc.rcode) || m.Authoritative != tc.aa || m.RecursionAvailable != tc.ra || len(m.Answer) != tc.answer || len(m.Ns) != tc.ns {
				t.Errorf("rcode %d aa %v ra %v, %d answer and %d authority records; want %d %v %v %d %d",
					m.Rcode, m.Authoritative, m.RecursionAvailable, len(m.Answer), len(m.Ns), tc.rcode, tc.aa, tc.ra, tc.answer, tc.ns)
			}
		})
	}
}

// An answer from the zones to a client that may recurse costs no allocation: RA is a patched bit.
func TestMixedHitDoesNotAllocate(t *testing.T) {
	p := mixedPipeline(t)
	out := make([]byte, 0, 4096)
	for _, rd := range []bool{true, false} {
		req := mixedRequest(t, "www.example.test.", rd, "127.0.0.1")
		if res := p.ServeDNS(req, out); len(res) < 12 || res[3]&query.FlagRA == 0 {
			t.Fatalf("rd %v: answer %x without RA", rd, res)
		}
		if n := testing.AllocsPerRun(100, func() { p.ServeDNS(req, out) }); n != 0 {
			t.Errorf("rd %v: %v allocations per answer", rd, n)
		}
	}
}

// BenchmarkPipelineMixedHit is BenchmarkPipelineHit for a client that may recurse, on a server
// with zones and recursion. It must report 0 allocs/op.
func BenchmarkPipelineMixedHit(b *testing.B) {
	p := mixedPipeline(b)
	req := mixedRequest(b, "www.example.test.", true, "127.0.0.1")
	out := make([]byte, 0, 65535)
	var h server.Handler = p
	b.ReportAllocs()
	for b.Loop() {
		if h.ServeDNS(req, out) == nil {
			b.Fatal("no answer")
		}
	}
}
