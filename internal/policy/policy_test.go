package policy

import (
	"net/netip"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"
)

const head = "$TTL 300\n@ SOA ns. admin. 1 3600 600 86400 60\n@ NS ns.\n"

func mustLoad(t testing.TB, origin, text string, opts Options) *RuleSet {
	t.Helper()
	s, err := LoadRPZ(origin, "test.rpz", []byte(head+text), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rrs(t testing.TB, texts ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, s := range texts {
		rr, err := dns.New(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		out = append(out, rr)
	}
	return out
}

var client1 = netip.MustParseAddr("127.0.0.1")

func q(name string) Query { return Query{Client: client1, Name: name, Type: dns.TypeA, RD: true} }

func TestQuestionPrecedence(t *testing.T) {
	one := mustLoad(t, "one.rpz.", `
exact.test CNAME .
*.exact.test CNAME *.
*.test CNAME rpz-drop.
*.deep.b.test CNAME rpz-tcp-only.
*.b.test CNAME .
pass.test CNAME rpz-passthru.
old.test CNAME old.test.
local.test A 192.0.2.1
local.test TXT "hello"
redir.test CNAME www.example.
star.test CNAME *.garden.example.
32.2.0.0.127.rpz-client-ip CNAME rpz-drop.
`, Options{})
	two := mustLoad(t, "two.rpz.", `
only-two.example CNAME .
exact.test A 192.0.2.99
`, Options{})
	p := New(one, two)
	for _, tc := range []struct {
		name   string
		client string
		want   Action
		owner  string
	}{
		{"exact.test.", "", NXDomain, "exact.test.one.rpz."},
		{"a.exact.test.", "", NoData, "*.exact.test.one.rpz."},
		{"x.y.exact.test.", "", NoData, "*.exact.test.one.rpz."},
		{"other.test.", "", Drop, "*.test.one.rpz."},
		{"test.", "", NoAction, ""},
		{"x.deep.b.test.", "", TCPOnly, "*.deep.b.test.one.rpz."},
		{"deep.b.test.", "", NXDomain, "*.b.test.one.rpz."},
		{"pass.test.", "", Passthru, "pass.test.one.rpz."},
		{"old.test.", "", Passthru, "old.test.one.rpz."},
		{"local.test.", "", Local, "local.test.one.rpz."},
		{"redir.test.", "", Local, "redir.test.one.rpz."},
		{"only-two.example.", "", NXDomain, "only-two.example.two.rpz."},
		{"nothing.example.", "", NoAction, ""},
		// client-IP outranks QNAME in the same zone.
		{"exact.test.", "127.0.0.2", Drop, "32.2.0.0.127.rpz-client-ip.one.rpz."},
		{"nothing.example.", "127.0.0.2", Drop, "32.2.0.0.127.rpz-client-ip.one.rpz."},
	} {
		qq := q(tc.name)
		if tc.client != "" {
			qq.Client = netip.MustParseAddr(tc.client)
		}
		m, need := p.Question(qq)
		if need {
			t.Errorf("%s: needs response without response triggers", tc.name)
		}
		if m.Action != tc.want {
			t.Errorf("%s from %s: action %s, want %s", tc.name, qq.Client, m.Action, tc.want)
			continue
		}
		if tc.owner != "" && m.Rule.Owner != tc.owner {
			t.Errorf("%s: rule %s, want %s", tc.name, m.Rule.Owner, tc.owner)
		}
	}
	if got := p.Queries(); got != 15 {
		t.Errorf("Queries() = %d, want 15", got)
	}
	if m, _ := p.Question(Query{Name: "exact.test.", RD: false}); m.Rule != nil {
		t.Error("a non-recursive query was rewritten")
	}
}

func TestOverridesShadowSuspend(t *testing.T) {
	text := "a.test CNAME .\nb.test A 192.0.2.1\n"
	for _, tc := range []struct {
		o    Options
		want Action
	}{
		{Options{}, NXDomain},
		{Options{Override: OverrideNoData}, NoData},
		{Options{Override: OverridePassthru}, Passthru},
		{Options{Override: OverrideDrop}, Drop},
		{Options{Override: OverrideTCPOnly}, TCPOnly},
		{Options{Override: OverrideNXDomain}, NXDomain},
		{Options{Override: OverrideCNAME, OverrideCNAME: "walled.example."}, Local},
		{Options{Override: Disabled}, NoAction},
		{Options{Shadow: true}, NoAction},
	} {
		s := mustLoad(t, "rpz.", text, tc.o)
		m, _ := New(s).Question(q("a.test."))
		if m.Action != tc.want {
			t.Errorf("%v: %s, want %s", tc.o, m.Action, tc.want)
		}
		if s.Hits() != 1 {
			t.Errorf("%v: hits %d", tc.o, s.Hits())
		}
		if tc.o.Override == OverrideCNAME && (len(m.Data) != 1 || m.Data[0].(*dns.CNAME).Target != "walled.example.") {
			t.Errorf("override cname data %v", m.Data)
		}
		if tc.o.Override != Given && tc.want != NoAction && tc.want != Passthru && tc.want != Local && m.EDE() != EDEFiltered {
			t.Errorf("%v: EDE %d", tc.o, m.EDE())
		}
	}
	s := mustLoad(t, "rpz.", text, Options{})
	p := New(s)
	s.SetSuspended(true)
	if m, _ := p.Question(q("a.test.")); m.Rule != nil || s.Hits() != 0 {
		t.Errorf("suspended set matched")
	}
	s.SetSuspended(false)
	if m, _ := p.Question(q("a.test.")); m.Action != NXDomain || m.EDE() != EDEBlocked {
		t.Errorf("resumed set: %s %d", m.Action, m.EDE())
	}
	// A shadow set in front counts but the next set decides.
	sh := mustLoad(t, "shadow.rpz.", "a.test CNAME rpz-drop.\n", Options{Shadow: true})
	p = New(sh, s)
	if m, _ := p.Question(q("a.test.")); m.Action != NXDomain || sh.Hits() != 1 {
		t.Errorf("shadow in front: %s, shadow hits %d", m.Action, sh.Hits())
	}
	// Client groups.
	g := mustLoad(t, "group.rpz.", "a.test CNAME rpz-drop.\n", Options{Clients: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	p = New(g, s)
	if m, _ := p.Question(q("a.test.")); m.Action != NXDomain {
		t.Errorf("group applied to an outside client: %s", m.Action)
	}
	qq := q("a.test.")
	qq.Client = netip.MustParseAddr("10.1.2.3")
	if m, _ := p.Question(qq); m.Action != Drop {
		t.Errorf("group not applied to its client: %s", m.Action)
	}
}

func TestEncodings(t *testing.T) {
	for _, tc := range []struct {
		owner string
		want  string // prefix, or "" for a warning
	}{
		{"32.1.2.0.192", "192.0.2.1/32"},
		{"24.0.2.0.192", "192.0.2.0/24"},
		{"8.0.0.0.10", "10.0.0.0/8"},
		{"128.1.zz.db8.2001", "2001:db8::1/128"},
		{"48.zz.db8.2001", "2001:db8::/48"},
		{"128.1.0.0.0.0.0.0.0", "::1/128"},
		{"128.zz.1", "1::/128"},
		{"64.zz.2.1", "1:2::/64"},
		{"24.1.2.0.192", ""},   // host bits set
		{"33.1.2.0.192", ""},   // too long
		{"0.0.0.0.0", ""},      // zero length
		{"32.1.2.0", ""},       // three bytes is not IPv4; not IPv6 either
		{"32.256.2.0.192", ""}, // byte out of range
		{"128.zz.zz.1", ""},    // two runs
		{"128.x.zz.1", ""},
		{"abc", ""},
		{"", ""},
	} {
		labels := strings.Split(tc.owner, ".")
		pfx, err := decodePrefix(labels)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: decoded %s, want an error", tc.owner, pfx)
			}
			continue
		}
		if err != nil || pfx.String() != tc.want {
			t.Errorf("%s: %s %v, want %s", tc.owner, pfx, err, tc.want)
			continue
		}
		if enc := EncodePrefix(pfx); enc != tc.owner && tc.owner != "128.1.0.0.0.0.0.0.0" {
			t.Errorf("EncodePrefix(%s) = %s, want %s", pfx, enc, tc.owner)
		}
	}
}

func TestResponseTriggers(t *testing.T) {
	one := mustLoad(t, "one.rpz.", `
24.0.7.0.127.rpz-ip CNAME .
32.5.7.0.127.rpz-ip A 192.0.2.5
16.0.0.0.127.rpz-ip CNAME rpz-drop.
32.9.7.0.127.rpz-ip CNAME rpz-passthru.
ns1.bad.example.rpz-nsdname CNAME .
*.worse.example.rpz-nsdname CNAME *.
32.53.9.0.127.rpz-nsip CNAME rpz-drop.
chain.target.example CNAME .
`, Options{})
	two := mustLoad(t, "two.rpz.", "later.example CNAME .\n", Options{})
	p := New(two, one)
	// two has no response triggers: its QNAME rules decide at once.
	if m, need := p.Question(q("later.example.")); m.Action != NXDomain || need {
		t.Errorf("later.example: %s need=%v", m.Action, need)
	}
	if _, need := p.Question(q("other.example.")); !need {
		t.Errorf("other.example: response not needed")
	}
	p = New(one, two)
	if m, need := p.Question(q("chain.target.example.")); m.Action != NXDomain || need {
		t.Errorf("own qname rule of the first response zone: %s need=%v", m.Action, need)
	}
	if m, need := p.Question(q("later.example.")); m.Rule != nil || !need {
		t.Errorf("qname rule after a response zone applied without the answer")
	}
	for _, tc := range []struct {
		name    string
		answer  []string
		nsnames []string
		nsaddrs []string
		want    Action
		owner   string
		chainAt int
	}{
		{"a.example.", []string{"a.example. 60 IN A 127.0.7.1"}, nil, nil, NXDomain, "24.0.7.0.127.rpz-ip.one.rpz.", 0},
		{"a.example.", []string{"a.example. 60 IN A 127.0.7.5"}, nil, nil, Local, "32.5.7.0.127.rpz-ip.one.rpz.", 0},
		{"a.example.", []string{"a.example. 60 IN A 127.0.9.1"}, nil, nil, Drop, "16.0.0.0.127.rpz-ip.one.rpz.", 0},
		// Longest prefix over all addresses of the answer.
		{"a.example.", []string{"a.example. 60 IN A 127.0.9.1", "a.example. 60 IN A 127.0.7.9"}, nil, nil, Passthru, "32.9.7.0.127.rpz-ip.one.rpz.", 0},
		{"a.example.", []string{"a.example. 60 IN A 127.0.9.1", "a.example. 60 IN A 127.0.7.1"}, nil, nil, NXDomain, "24.0.7.0.127.rpz-ip.one.rpz.", 0},
		{"a.example.", nil, []string{"ns2.ok.example.", "NS1.bad.example."}, nil, NXDomain, "ns1.bad.example.rpz-nsdname.one.rpz.", 0},
		{"a.example.", nil, []string{"x.worse.example."}, nil, NoData, "*.worse.example.rpz-nsdname.one.rpz.", 0},
		{"a.example.", nil, []string{"worse.example."}, nil, NoAction, "", 0},
		{"a.example.", nil, nil, []string{"127.0.9.53"}, Drop, "32.53.9.0.127.rpz-nsip.one.rpz.", 0},
		// IP outranks NSDNAME in a zone.
		{"a.example.", []string{"a.example. 60 IN A 127.0.7.1"}, []string{"ns1.bad.example."}, nil, NXDomain, "24.0.7.0.127.rpz-ip.one.rpz.", 0},
		// A QNAME rule on a CNAME target, with the chain in front.
		{"start.example.", []string{"start.example. 60 IN CNAME chain.target.example.", "chain.target.example. 60 IN A 192.0.2.1"}, nil, nil, NXDomain, "chain.target.example.one.rpz.", 1},
		// A later zone's QNAME rule loses to an earlier zone's IP rule.
		{"later.example.", []string{"later.example. 60 IN A 127.0.7.1"}, nil, nil, NXDomain, "24.0.7.0.127.rpz-ip.one.rpz.", 0},
		{"later.example.", []string{"later.example. 60 IN A 192.0.2.1"}, nil, nil, NXDomain, "later.example.two.rpz.", 0},
	} {
		r := Response{Answer: rrs(t, tc.answer...), NSNames: tc.nsnames}
		for _, a := range tc.nsaddrs {
			r.NSAddrs = append(r.NSAddrs, netip.MustParseAddr(a))
		}
		m := p.Response(q(tc.name), r)
		if m.Action != tc.want {
			t.Errorf("%s %v %v %v: %s, want %s", tc.name, tc.answer, tc.nsnames, tc.nsaddrs, m.Action, tc.want)
			continue
		}
		if tc.owner != "" && (m.Rule.Owner != tc.owner || m.ChainAt != tc.chainAt) {
			t.Errorf("%s %v: rule %s at %d, want %s at %d", tc.name, tc.answer, m.Rule.Owner, m.ChainAt, tc.owner, tc.chainAt)
		}
	}
}

func TestCompileProblems(t *testing.T) {
	_, err := LoadRPZ("rpz.", "bad.rpz", []byte(head+"a.test CNAME .\na.test A 192.0.2.1\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), "bad.rpz:4:") || !strings.Contains(err.Error(), "CNAME and other data") {
		t.Errorf("CNAME and other data: %v", err)
	}
	_, err = LoadRPZ("rpz.", "bad.rpz", []byte("a.test CNAME .\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), "no SOA") {
		t.Errorf("no SOA: %v", err)
	}
	_, err = LoadRPZ("rpz.", "bad.rpz", []byte(head+"a.test A not-an-address\n"), Options{})
	if err == nil || !strings.Contains(err.Error(), "bad.rpz") {
		t.Errorf("parse error: %v", err)
	}
	s, err := LoadRPZ("rpz.", "warn.rpz", []byte(head+"ok.test CNAME .\n24.1.2.0.192.rpz-ip CNAME .\nfoo.*.test CNAME .\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := s.Warnings()
	if len(w) != 2 || !strings.Contains(w[0].Error(), "warn.rpz:5:") || !strings.Contains(w[1].Error(), "warn.rpz:6:") {
		t.Errorf("warnings %v", w)
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d", s.Len())
	}
}

func TestBuilder(t *testing.T) {
	b := NewBuilder(Options{Name: "list"})
	for _, e := range []struct {
		name string
		wild bool
		a    Action
	}{{"ads.example", false, NXDomain}, {"ads.example", true, NXDomain}, {"ok.ads.example", false, Passthru}} {
		if err := b.AddQName(e.name, e.wild, e.a, nil, "line"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.AddQName("bad..name", false, NXDomain, nil, "line 9"); err == nil {
		t.Error("bad name accepted")
	}
	s, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	p := New(s)
	for name, want := range map[string]Action{"ads.example.": NXDomain, "x.ads.example.": NXDomain, "ok.ads.example.": Passthru, "example.": NoAction} {
		m, _ := p.Question(q(name))
		if m.Action != want {
			t.Errorf("%s: %s, want %s", name, m.Action, want)
		}
		if want == NXDomain && m.EDE() != EDEFiltered {
			t.Errorf("%s: EDE %d", name, m.EDE())
		}
	}
}
