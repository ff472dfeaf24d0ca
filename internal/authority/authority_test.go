package authority

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
	"warden/internal/wire"
	"warden/internal/zone"
)

const parentZone = `
$ORIGIN example.test.
$TTL 3600
@       IN SOA ns1 hostmaster 1 7200 900 1209600 300
@       NS   ns1
@       NS   ns2
@       MX   10 mail
ns1     A    192.0.2.1
ns2     AAAA 2001:db8::2
mail    A    192.0.2.25
www     A    192.0.2.80
www     AAAA 2001:db8::80
alias   CNAME www
chain1  CNAME chain2
chain2  CNAME www
loop1   CNAME loop2
loop2   CNAME loop1
dangling CNAME nothere
outside CNAME www.elsewhere.invalid.
tosub   CNAME host.sub
*.wild  A    192.0.2.99
*.wild  TXT  "wild"
x.y.wild A   192.0.2.98
*.wc    CNAME www
sub     NS   ns.sub
sub     NS   ns.outside.invalid.
ns.sub  A    192.0.2.53
child   NS   ns1.child
child   DS   12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns1.child A  192.0.2.54
dn      DNAME other.test.
dnin    DNAME inner
www.inner A  192.0.2.110
dnnx    DNAME nothere
_sip._udp SRV 0 5 5060 www
`

const childZone = `
$ORIGIN child.example.test.
$TTL 600
@    SOA ns1 hostmaster 7 3600 600 86400 60
@    NS  ns1
ns1  A   192.0.2.54
host A   192.0.2.55
`

func testSet(t *testing.T) *Set {
	t.Helper()
	var zones []*zone.Zone
	for _, zt := range []struct{ origin, text string }{{"example.test.", parentZone}, {"child.example.test.", childZone}} {
		z, _, err := zone.Load(zt.origin, zt.origin+"zone", []byte(zt.text))
		if err != nil {
			t.Fatal(err)
		}
		zones = append(zones, z)
	}
	s, err := New(zones)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ask sends name/type through parsing, lookup and rendering and unpacks what a client would see.
func ask(t *testing.T, s *Set, name string, qtype uint16, edns bool) *dns.Msg {
	t.Helper()
	q := dns.NewMsg(name, qtype)
	q.ID = 4242
	if edns {
		q.UDPSize = 1232
	}
	if err := q.Pack(); err != nil {
		t.Fatal(err)
	}
	req := &query.Request{Wire: q.Data, Transport: query.UDP}
	if v := req.Parse(); v != query.Accept {
		t.Fatalf("%s: parse verdict %d", name, v)
	}
	tmpl := s.Answer(req)
	if tmpl == nil {
		return nil
	}
	out := wire.Limits{UDPPayload: 1232}.Render(make([]byte, 0, 65535), req, tmpl)
	m := &dns.Msg{Data: out}
	if err := m.Unpack(); err != nil {
		t.Fatalf("%s: unpack answer: %v", name, err)
	}
	if m.ID != 4242 {
		t.Fatalf("%s: ID %d", name, m.ID)
	}
	return m
}

func section(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

func norm(t *testing.T, lines []string) []string {
	t.Helper()
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		rr, err := dns.New(l)
		if err != nil {
			t.Fatalf("bad expected record %q: %v", l, err)
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

func TestAnswers(t *testing.T) {
	s := testSet(t)
	soa := "example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 1 7200 900 1209600 300"
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		rcode  uint16
		aa     bool
		answer []string
		auth   []string
		extra  []string
	}{
		{name: "exact", qname: "www.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"www.example.test. 3600 IN A 192.0.2.80"}},
		{name: "case echoed", qname: "WwW.ExAmple.TEST.", qtype: dns.TypeA, aa: true,
			answer: []string{"WwW.ExAmple.TEST. 3600 IN A 192.0.2.80"}},
		{name: "nodata", qname: "www.example.test.", qtype: dns.TypeTXT, aa: true, auth: []string{soa}},
		{name: "nxdomain", qname: "nope.example.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "nxdomain deep", qname: "a.b.c.example.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "mx additional", qname: "example.test.", qtype: dns.TypeMX, aa: true,
			answer: []string{"example.test. 3600 IN MX 10 mail.example.test."},
			extra:  []string{"mail.example.test. 3600 IN A 192.0.2.25"}},
		{name: "ns additional", qname: "example.test.", qtype: dns.TypeNS, aa: true,
			answer: []string{"example.test. 3600 IN NS ns1.example.test.", "example.test. 3600 IN NS ns2.example.test."},
			extra:  []string{"ns1.example.test. 3600 IN A 192.0.2.1", "ns2.example.test. 3600 IN AAAA 2001:db8::2"}},
		{name: "srv additional", qname: "_sip._udp.example.test.", qtype: dns.TypeSRV, aa: true,
			answer: []string{"_sip._udp.example.test. 3600 IN SRV 0 5 5060 www.example.test."},
			extra:  []string{"www.example.test. 3600 IN A 192.0.2.80", "www.example.test. 3600 IN AAAA 2001:db8::80"}},
		{name: "cname", qname: "alias.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"alias.example.test. 3600 IN CNAME www.example.test.", "www.example.test. 3600 IN A 192.0.2.80"}},
		{name: "cname query for cname", qname: "alias.example.test.", qtype: dns.TypeCNAME, aa: true,
			answer: []string{"alias.example.test. 3600 IN CNAME www.example.test."}},
		{name: "cname chain", qname: "chain1.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"chain1.example.test. 3600 IN CNAME chain2.example.test.", "chain2.example.test. 3600 IN CNAME www.example.test.", "www.example.test. 3600 IN A 192.0.2.80"}},
		{name: "cname loop", qname: "loop1.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"loop1.example.test. 3600 IN CNAME loop2.example.test.", "loop2.example.test. 3600 IN CNAME loop1.example.test."}},
		{name: "cname to nxdomain", qname: "dangling.example.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			answer: []string{"dangling.example.test. 3600 IN CNAME nothere.example.test."}, auth: []string{soa}},
		{name: "cname out of zone", qname: "outside.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"outside.example.test. 3600 IN CNAME www.elsewhere.invalid."}},
		{name: "wildcard", qname: "foo.wild.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"foo.wild.example.test. 3600 IN A 192.0.2.99"}},
		{name: "wildcard deeper", qname: "a.b.wild.example.test.", qtype: dns.TypeTXT, aa: true,
			answer: []string{`a.b.wild.example.test. 3600 IN TXT "wild"`}},
		{name: "wildcard nodata", qname: "foo.wild.example.test.", qtype: dns.TypeMX, aa: true, auth: []string{soa}},
		{name: "empty non-terminal blocks wildcard", qname: "y.wild.example.test.", qtype: dns.TypeA, aa: true, auth: []string{soa}},
		{name: "below the ENT no wildcard", qname: "z.y.wild.example.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, auth: []string{soa}},
		{name: "wildcard cname", qname: "q.wc.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"q.wc.example.test. 3600 IN CNAME www.example.test.", "www.example.test. 3600 IN A 192.0.2.80"}},
		{name: "referral", qname: "host.sub.example.test.", qtype: dns.TypeA,
			auth:  []string{"sub.example.test. 3600 IN NS ns.sub.example.test.", "sub.example.test. 3600 IN NS ns.outside.invalid."},
			extra: []string{"ns.sub.example.test. 3600 IN A 192.0.2.53"}},
		{name: "referral at cut", qname: "sub.example.test.", qtype: dns.TypeNS,
			auth:  []string{"sub.example.test. 3600 IN NS ns.sub.example.test.", "sub.example.test. 3600 IN NS ns.outside.invalid."},
			extra: []string{"ns.sub.example.test. 3600 IN A 192.0.2.53"}},
		{name: "glue name is referral", qname: "ns.sub.example.test.", qtype: dns.TypeA,
			auth:  []string{"sub.example.test. 3600 IN NS ns.sub.example.test.", "sub.example.test. 3600 IN NS ns.outside.invalid."},
			extra: []string{"ns.sub.example.test. 3600 IN A 192.0.2.53"}},
		{name: "DS at unserved cut from parent", qname: "sub.example.test.", qtype: dns.TypeDS, aa: true, auth: []string{soa}},
		{name: "DS at served child from parent", qname: "child.example.test.", qtype: dns.TypeDS, aa: true,
			answer: []string{"child.example.test. 3600 IN DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
		{name: "child zone answers its names", qname: "host.child.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"host.child.example.test. 600 IN A 192.0.2.55"}},
		{name: "child apex", qname: "child.example.test.", qtype: dns.TypeSOA, aa: true,
			answer: []string{"child.example.test. 600 IN SOA ns1.child.example.test. hostmaster.child.example.test. 7 3600 600 86400 60"}},
		{name: "child nxdomain", qname: "nope.child.example.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			auth: []string{"child.example.test. 60 IN SOA ns1.child.example.test. hostmaster.child.example.test. 7 3600 600 86400 60"}},
		{name: "dname", qname: "a.dn.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"dn.example.test. 3600 IN DNAME other.test.", "a.dn.example.test. 3600 IN CNAME a.other.test."}},
		{name: "dname in zone followed", qname: "www.dnin.example.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"dnin.example.test. 3600 IN DNAME inner.example.test.", "www.dnin.example.test. 3600 IN CNAME www.inner.example.test.", "www.inner.example.test. 3600 IN A 192.0.2.110"}},
		{name: "dname in zone to a missing name", qname: "nx.dnin.example.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
			answer: []string{"dnin.example.test. 3600 IN DNAME inner.example.test.", "nx.dnin.example.test. 3600 IN CNAME nx.inner.example.test."}, auth: []string{soa}},
		// A question for the CNAME is answered by the synthesised CNAME alone (RFC 6672 §3.2):
		// its target is not looked up, so neither its data nor its absence shows.
		{name: "dname cname question target exists", qname: "www.dnin.example.test.", qtype: dns.TypeCNAME, aa: true,
			answer: []string{"dnin.example.test. 3600 IN DNAME inner.example.test.", "www.dnin.example.test. 3600 IN CNAME www.inner.example.test."}},
		{name: "dname cname question target missing", qname: "nx.dnin.example.test.", qtype: dns.TypeCNAME, aa: true,
			answer: []string{"dnin.example.test. 3600 IN DNAME inner.example.test.", "nx.dnin.example.test. 3600 IN CNAME nx.inner.example.test."}},
		{name: "dname cname question onto a missing name", qname: "Www.DnNx.example.test.", qtype: dns.TypeCNAME, aa: true,
			answer: []string{"DnNx.example.test. 3600 IN DNAME nothere.example.test.", "Www.DnNx.example.test. 3600 IN CNAME www.nothere.example.test."}},
		{name: "dname cname question out of zone", qname: "a.dn.example.test.", qtype: dns.TypeCNAME, aa: true,
			answer: []string{"dn.example.test. 3600 IN DNAME other.test.", "a.dn.example.test. 3600 IN CNAME a.other.test."}},
		{name: "dname owner itself", qname: "dn.example.test.", qtype: dns.TypeDNAME, aa: true,
			answer: []string{"dn.example.test. 3600 IN DNAME other.test."}},
		{name: "any minimal", qname: "www.example.test.", qtype: dns.TypeANY, aa: true,
			answer: []string{"www.example.test. 3600 IN A 192.0.2.80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ask(t, s, tt.qname, tt.qtype, true)
			if m == nil {
				t.Fatal("no zone answered")
			}
			if m.Rcode != tt.rcode || m.Authoritative != tt.aa {
				t.Errorf("rcode %d aa %v, want %d %v", m.Rcode, m.Authoritative, tt.rcode, tt.aa)
			}
			for _, sec := range []struct {
				name      string
				got, want []string
			}{{"answer", section(m.Answer), norm(t, tt.answer)}, {"authority", section(m.Ns), norm(t, tt.auth)}, {"additional", section(m.Extra), norm(t, tt.extra)}} {
				if !slices.Equal(sec.got, sec.want) {
					t.Errorf("%s:\n got  %q\n want %q", sec.name, sec.got, sec.want)
				}
			}
		})
	}
}

// What an answer leaves to a server that also resolves: nothing, the CNAME target the chain stops
// at, or the whole question when the name is delegated.
func TestOutcomes(t *testing.T) {
	s := testSet(t)
	for _, tc := range []struct {
		qname  string
		qtype  uint16
		kind   Kind
		target string
	}{
		{"www.example.test.", dns.TypeA, Whole, ""},
		{"nope.example.test.", dns.TypeA, Whole, ""},
		{"alias.example.test.", dns.TypeA, Whole, ""},
		{"dangling.example.test.", dns.TypeA, Whole, ""},
		{"outside.example.test.", dns.TypeA, Continues, "www.elsewhere.invalid."},
		{"OutSide.example.test.", dns.TypeMX, Continues, "www.elsewhere.invalid."},
		{"outside.example.test.", dns.TypeCNAME, Whole, ""},
		{"tosub.example.test.", dns.TypeA, Continues, "host.sub.example.test."},
		{"a.dn.example.test.", dns.TypeA, Continues, "a.other.test."},
		{"a.dn.example.test.", dns.TypeCNAME, Whole, ""},
		{"q.wc.example.test.", dns.TypeA, Whole, ""},
		{"sub.example.test.", dns.TypeNS, Delegated, ""},
		{"sub.example.test.", dns.TypeA, Delegated, ""},
		{"sub.example.test.", dns.TypeDS, Whole, ""},
		{"host.sub.example.test.", dns.TypeA, Delegated, ""},
		{"x.host.sub.example.test.", dns.TypeDS, Delegated, ""},
		{"ns.sub.example.test.", dns.TypeA, Delegated, ""},
		{"child.example.test.", dns.TypeDS, Whole, ""},
		{"host.child.example.test.", dns.TypeA, Whole, ""},
	} {
		// Twice: the second answer comes from the memo.
		for range 2 {
			req := request(t, tc.qname, tc.qtype)
			tmpl, o := s.Lookup(req)
			if tmpl == nil || o.Kind != tc.kind || o.Target() != tc.target {
				t.Errorf("%s %s: outcome %d %q, want %d %q", tc.qname, dns.TypeToString[tc.qtype], o.Kind, o.Target(), tc.kind, tc.target)
			}
		}
	}
	_, o := s.Lookup(request(t, "host.sub.example.test.", dns.TypeA))
	cut, servers := o.Delegation()
	want := []NameServer{{Name: "ns.sub.example.test.", Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.53")}}, {Name: "ns.outside.invalid."}}
	if cut != "sub.example.test." || !slices.EqualFunc(servers, want, func(a, b NameServer) bool { return a.Name == b.Name && slices.Equal(a.Addrs, b.Addrs) }) {
		t.Errorf("delegation %s %v, want sub.example.test. %v", cut, servers, want)
	}
}

func request(t *testing.T, name string, qtype uint16) *query.Request {
	t.Helper()
	q := dns.NewMsg(name, qtype)
	if err := q.Pack(); err != nil {
		t.Fatal(err)
	}
	req := &query.Request{Wire: q.Data, Transport: query.UDP}
	if v := req.Parse(); v != query.Accept {
		t.Fatalf("%s: parse verdict %d", name, v)
	}
	return req
}

func TestOutsideEveryZone(t *testing.T) {
	if m := ask(t, testSet(t), "www.example.org.", dns.TypeA, false); m != nil {
		t.Fatalf("answered a name outside every zone: %v", m)
	}
}

// Templates built for one question name must serve another of a different length correctly
// (wildcards, NXDOMAIN and referrals share one template per node).
func TestSharedTemplatesRelocate(t *testing.T) {
	s := testSet(t)
	for _, name := range []string{"a.wild.example.test.", "much-longer-label.and.more.wild.example.test.", "B.WILD.example.test."} {
		m := ask(t, s, name, dns.TypeA, false)
		want := norm(t, []string{name + " 3600 IN A 192.0.2.99"})
		if got := section(m.Answer); !slices.Equal(got, want) {
			t.Errorf("%s: got %q want %q", name, got, want)
		}
	}
	for _, name := range []string{"x.example.test.", "a-much-longer.name.that.does.not.exist.example.test."} {
		m := ask(t, s, name, dns.TypeA, false)
		if m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 || m.Ns[0].Header().Name != "example.test." {
			t.Errorf("%s: %v", name, m)
		}
	}
}

// A hit must not allocate: the point of precomputed templates.
func TestHitDoesNotAllocate(t *testing.T) {
	s := testSet(t)
	lim := wire.Limits{UDPPayload: 1232}
	out := make([]byte, 0, 65535)
	for _, name := range []string{"www.example.test.", "nope.example.test.", "foo.wild.example.test.", "host.sub.example.test."} {
		q := dns.NewMsg(name, dns.TypeA)
		q.UDPSize = 1232
		if err := q.Pack(); err != nil {
			t.Fatal(err)
		}
		req := &query.Request{Wire: q.Data}
		allocs := testing.AllocsPerRun(100, func() {
			req.Parse()
			lim.Render(out, req, s.Answer(req))
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per query", name, allocs)
		}
	}
}

func BenchmarkAnswerHit(b *testing.B) {
	z, _, err := zone.Load("example.test.", "zone", []byte(parentZone))
	if err != nil {
		b.Fatal(err)
	}
	s, _ := New([]*zone.Zone{z})
	q := dns.NewMsg("www.example.test.", dns.TypeA)
	if err := q.Pack(); err != nil {
		b.Fatal(err)
	}
	req := &query.Request{Wire: q.Data}
	lim := wire.Limits{UDPPayload: 1232}
	out := make([]byte, 0, 65535)
	b.ReportAllocs()
	for b.Loop() {
		req.Parse()
		out = lim.Render(out, req, s.Answer(req))
	}
}
