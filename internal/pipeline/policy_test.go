package pipeline

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/cache"
	"warden/internal/policy"
	"warden/internal/query"
	"warden/internal/wire"
)

const rpzHead = "$TTL 300\n@ SOA ns. admin. 1 3600 600 86400 60\n@ NS ns.\n"

func testPolicy(t testing.TB, text string, opts policy.Options) *policy.Policy {
	t.Helper()
	s, err := policy.LoadRPZ("rpz.test.", "test.rpz", []byte(rpzHead+text), opts)
	if err != nil {
		t.Fatal(err)
	}
	return policy.New(s)
}

// cachedPipeline is a resolver whose cache holds answers for the given records; nothing else
// resolves.
func cachedPipeline(t testing.TB, pol *policy.Policy, records ...string) *Pipeline {
	t.Helper()
	c := cache.New(cache.Config{})
	for _, text := range records {
		rr, err := dns.New(text)
		if err != nil {
			t.Fatal(err)
		}
		resp := dns.NewMsg(rr.Header().Name, dns.RRToType(rr))
		resp.Response, resp.RecursionAvailable = true, true
		resp.Answer = []dns.RR{rr}
		resp.UDPSize = 1232
		if err := resp.Pack(); err != nil {
			t.Fatal(err)
		}
		if err := c.Put(resp.Data, cache.RankAuthAnswer); err != nil {
			t.Fatal(err)
		}
	}
	local, err := NewSpecialUse(nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecursor(RecursorConfig{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: time.Second, MaxConcurrent: 4,
		Cache: c, Local: local,
	})
	empty, _ := authority.New(nil)
	return NewPipeline(wire.Limits{UDPPayload: 1232}, &Snapshot{Authority: empty, Recursion: rec, Policy: pol})
}

func askPolicy(t *testing.T, p *Pipeline, name string, qtype uint16, tr query.Transport) *dns.Msg {
	t.Helper()
	m := dns.NewMsg(name, qtype)
	m.UDPSize = 1232
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	req := &query.Request{Wire: m.Data, Transport: tr, Client: netip.MustParseAddrPort("127.0.0.1:5353")}
	out := p.ServeDNS(req, make([]byte, 0, 65535))
	if out == nil {
		return nil
	}
	r := &dns.Msg{Data: out}
	if err := r.Unpack(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func edeOf(m *dns.Msg) int {
	for _, o := range m.Pseudo {
		if e, ok := o.(*dns.EDE); ok {
			return int(e.InfoCode)
		}
	}
	return -1
}

func TestPolicyAnswers(t *testing.T) {
	pol := testPolicy(t, `
nx.example CNAME .
nodata.example CNAME *.
drop.example CNAME rpz-drop.
tcp.example CNAME rpz-tcp-only.
pass.example CNAME rpz-passthru.
local.example 60 A 192.0.2.7
local.example TXT "made up"
*.wild.example A 192.0.2.8
24.0.1.2.198.rpz-ip CNAME .
`, policy.Options{MaxPolicyTTL: 30})
	p := cachedPipeline(t, pol,
		"pass.example. 300 IN A 192.0.2.1", "tcp.example. 300 IN A 192.0.2.2",
		"bad-address.example. 300 IN A 198.2.1.9", "fine.example. 300 IN A 198.2.2.9")
	for _, tc := range []struct {
		name   string
		qtype  uint16
		tr     query.Transport
		rcode  int
		answer string // records joined by "; ", TTL included
		soa    bool   // the policy zone's SOA in the additional section
		ede    int
		tc     bool
	}{
		{"nx.example.", dns.TypeA, query.UDP, dns.RcodeNameError, "", true, policy.EDEBlocked, false},
		{"NX.Example.", dns.TypeA, query.UDP, dns.RcodeNameError, "", true, policy.EDEBlocked, false},
		{"nodata.example.", dns.TypeA, query.UDP, dns.RcodeSuccess, "", true, policy.EDEBlocked, false},
		{"local.example.", dns.TypeA, query.UDP, dns.RcodeSuccess, "local.example.\t30\tIN\tA\t192.0.2.7", true, policy.EDEForgedAnswer, false},
		{"local.example.", dns.TypeAAAA, query.UDP, dns.RcodeSuccess, "", true, policy.EDEForgedAnswer, false},
		{"a.b.wild.example.", dns.TypeA, query.UDP, dns.RcodeSuccess, "a.b.wild.example.\t30\tIN\tA\t192.0.2.8", true, policy.EDEForgedAnswer, false},
		{"pass.example.", dns.TypeA, query.UDP, dns.RcodeSuccess, "pass.example.\t300\tIN\tA\t192.0.2.1", false, -1, false},
		{"tcp.example.", dns.TypeA, query.UDP, dns.RcodeSuccess, "", false, policy.EDEBlocked, true},
		{"tcp.example.", dns.TypeA, query.TCP, dns.RcodeSuccess, "tcp.example.\t300\tIN\tA\t192.0.2.2", false, -1, false},
		{"tcp.example.", dns.TypeA, query.DoT, dns.RcodeSuccess, "tcp.example.\t300\tIN\tA\t192.0.2.2", false, -1, false},
		{"tcp.example.", dns.TypeA, query.DoH, dns.RcodeSuccess, "tcp.example.\t300\tIN\tA\t192.0.2.2", false, -1, false},
		{"bad-address.example.", dns.TypeA, query.UDP, dns.RcodeNameError, "", true, policy.EDEBlocked, false},
		{"fine.example.", dns.TypeA, query.UDP, dns.RcodeSuccess, "fine.example.\t300\tIN\tA\t198.2.2.9", false, -1, false},
	} {
		r := askPolicy(t, p, tc.name, tc.qtype, tc.tr)
		if r == nil {
			t.Errorf("%s: no answer", tc.name)
			continue
		}
		var answer []string
		for _, rr := range r.Answer {
			answer = append(answer, rr.String())
		}
		// BIND's add-soa: the policy zone's SOA in the additional section of rewritten answers.
		soa := len(r.Extra) == 1 && dns.RRToType(r.Extra[0]) == dns.TypeSOA
		if int(r.Rcode) != tc.rcode || strings.Join(answer, "; ") != tc.answer || soa != tc.soa || edeOf(r) != tc.ede || r.Truncated != tc.tc {
			t.Errorf("%s %s %s: rcode %d answer %q soa %v ede %d tc %v; want %d %q %v %d %v", tc.name, dns.TypeToString[tc.qtype], tc.tr,
				r.Rcode, strings.Join(answer, "; "), soa, edeOf(r), r.Truncated, tc.rcode, tc.answer, tc.soa, tc.ede, tc.tc)
		}
	}
	if r := askPolicy(t, p, "drop.example.", dns.TypeA, query.UDP); r != nil {
		t.Errorf("drop.example: answered %v", r)
	}
}

func millionishPolicy(b *testing.B, n int, extra string) *policy.Policy {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "blocked%d.example CNAME .\n*.wild%d.example CNAME .\n", i, i)
	}
	sb.WriteString(extra)
	return testPolicy(b, sb.String(), policy.Options{})
}

func benchServe(b *testing.B, p *Pipeline, name string) {
	q := dns.NewMsg(name, dns.TypeA)
	q.UDPSize = 1232
	if err := q.Pack(); err != nil {
		b.Fatal(err)
	}
	req := &query.Request{Wire: q.Data, Transport: query.UDP, Client: netip.MustParseAddrPort("127.0.0.1:5353")}
	out := make([]byte, 0, 65535)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%stampBatch == 0 {
			req.Received = time.Now() // as the UDP worker stamps a batch
		}
		if res := p.ServeDNS(req, out); len(res) == 0 {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkPolicyCacheHit is BenchmarkRecursionCacheHit with a policy of 100,000 QNAME rules
// that do not match (0 allocs/op), one that matches, and one with a response-IP rule that must
// see the cached answer.
func BenchmarkPolicyCacheHit(b *testing.B) {
	qnames := millionishPolicy(b, 50_000, "")
	b.Run("none", func(b *testing.B) {
		benchServe(b, cachedPipeline(b, nil, "www.example.org. 3600 IN A 192.0.2.1"), "www.example.org.")
	})
	b.Run("qname-miss", func(b *testing.B) {
		benchServe(b, cachedPipeline(b, qnames, "www.example.org. 3600 IN A 192.0.2.1"), "www.example.org.")
	})
	b.Run("qname-hit", func(b *testing.B) { benchServe(b, cachedPipeline(b, qnames), "blocked77.example.") })
	ips := millionishPolicy(b, 1000, "32.1.2.0.198.rpz-ip CNAME .\n")
	b.Run("response-ip-miss", func(b *testing.B) {
		benchServe(b, cachedPipeline(b, ips, "www.example.org. 3600 IN A 192.0.2.1"), "www.example.org.")
	})
}

// BenchmarkPolicyPipelineHit is BenchmarkPipelineHit (an authoritative answer) for a recursive
// query from a client allowed to recurse, with a policy that does not match in front.
func BenchmarkPolicyPipelineHit(b *testing.B) {
	p := testPipeline(b, "")
	rec := NewRecursor(RecursorConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: time.Second, MaxConcurrent: 1})
	pol := millionishPolicy(b, 50_000, "")
	p.Update(func(s *Snapshot) { s.Recursion, s.Policy = rec, pol })
	benchServe(b, p, "www.example.test.")
}

// A block by NXDOMAIN, NODATA or local data is rendered from a template: no allocation once the
// template is built, and the same answer as the general path (TestPolicyAnswers and the BIND
// comparison check the contents).
func TestPolicyBlockDoesNotAllocate(t *testing.T) {
	pol := testPolicy(t, "nx.example CNAME .\nnodata.example CNAME *.\nlocal.example A 192.0.2.9\n", policy.Options{})
	p := cachedPipeline(t, pol)
	out := make([]byte, 0, 4096)
	for _, tc := range []struct {
		name  string
		rcode uint8
	}{{"nx.example.", dns.RcodeNameError}, {"nodata.example.", dns.RcodeSuccess}, {"local.example.", dns.RcodeSuccess}} {
		q := dns.NewMsg(tc.name, dns.TypeA)
		q.UDPSize = 1232
		if err := q.Pack(); err != nil {
			t.Fatal(err)
		}
		req := &query.Request{Wire: q.Data, Transport: query.UDP, Client: netip.MustParseAddrPort("127.0.0.1:5353")}
		res := p.ServeDNS(req, out)
		if len(res) < 12 || res[3]&0xf != tc.rcode {
			t.Fatalf("%s: answer %x", tc.name, res)
		}
		if n := testing.AllocsPerRun(100, func() { p.ServeDNS(req, out) }); n != 0 {
			t.Errorf("%s: %v allocations per block", tc.name, n)
		}
	}
}
