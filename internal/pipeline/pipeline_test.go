package pipeline

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/policy"
	"warden/internal/query"
	"warden/internal/server"
	"warden/internal/wire"
	"warden/internal/zone"
)

const testZone = `$ORIGIN example.test.
$TTL 300
@ SOA ns1 hostmaster 1 7200 900 1209600 300
@ NS ns1
ns1 A 192.0.2.1
www A 192.0.2.80
`

func testPipeline(t testing.TB, extra string) *Pipeline {
	t.Helper()
	z, _, err := zone.Load("example.test.", "test.zone", []byte(testZone+extra))
	if err != nil {
		t.Fatal(err)
	}
	set, err := authority.New([]*zone.Zone{z})
	if err != nil {
		t.Fatal(err)
	}
	return NewPipeline(wire.Limits{UDPPayload: 1232}, &Snapshot{Authority: set})
}

func exchange(t *testing.T, p *Pipeline, raw []byte, tr query.Transport) *dns.Msg {
	t.Helper()
	req := &query.Request{Wire: raw, Transport: tr}
	out := p.ServeDNS(req, make([]byte, 0, 65535))
	if out == nil {
		return nil
	}
	m := &dns.Msg{Data: out}
	if err := m.Unpack(); err != nil {
		t.Fatalf("response does not parse: %v", err)
	}
	return m
}

func packed(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	return m.Data
}

func TestAdmission(t *testing.T) {
	p := testPipeline(t, "")
	q := func(mod func(m *dns.Msg)) []byte {
		m := dns.NewMsg("www.example.test.", dns.TypeA)
		m.ID = 77
		mod(m)
		return packed(t, m)
	}
	withFlags := func(raw []byte, set uint16) []byte {
		binary.BigEndian.PutUint16(raw[2:], binary.BigEndian.Uint16(raw[2:])|set)
		return raw
	}
	tests := []struct {
		name  string
		raw   []byte
		rcode int // -1: no response
		tc    bool
	}{
		{"answer", q(func(*dns.Msg) {}), dns.RcodeSuccess, false},
		{"response dropped", withFlags(q(func(*dns.Msg) {}), query.FlagQR), -1, false},
		{"short", []byte{1, 2, 3}, -1, false},
		{"notify opcode", q(func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), dns.RcodeNotAuth, false},
		{"status opcode", q(func(m *dns.Msg) { m.Opcode = dns.OpcodeStatus }), dns.RcodeNotImplemented, false},
		{"no question", q(func(m *dns.Msg) { m.Question = nil }), dns.RcodeFormatError, false},
		{"trailing garbage", append(q(func(*dns.Msg) {}), 0, 1), dns.RcodeFormatError, false},
		{"edns version 1", ednsVersion(q(func(m *dns.Msg) { m.UDPSize = 1232 }), 1), dns.RcodeBadVers, false},
		{"class CH", q(func(m *dns.Msg) { m.Question[0].Header().Class = dns.ClassCHAOS }), dns.RcodeRefused, false},
		{"axfr over udp", q(func(m *dns.Msg) {
			m.Question = []dns.RR{&dns.AXFR{Hdr: dns.Header{Name: "example.test.", Class: dns.ClassINET}}}
		}), dns.RcodeNotImplemented, false},
		{"outside zones", q(func(m *dns.Msg) { m.Question[0].Header().Name = "www.example.org." }), dns.RcodeRefused, false},
	}
	axfr := func(typ uint16) []byte {
		return q(func(m *dns.Msg) {
			m.Question = []dns.RR{&dns.AXFR{Hdr: dns.Header{Name: "example.test.", Class: dns.ClassINET}}}
			if typ == dns.TypeIXFR {
				m.Question = []dns.RR{&dns.IXFR{Hdr: dns.Header{Name: "example.test.", Class: dns.ClassINET}}}
			}
		})
	}
	// Transfers over the encrypted transports: DoT and DoQ carry many messages per query as TCP
	// does (RFC 9103, RFC 9250 §4.2) and go to the zones (here: none configured, so NOTAUTH);
	// DoH has one message per response and refuses them.
	byTransport := []struct {
		name  string
		tr    query.Transport
		raw   []byte
		rcode int
	}{
		{"axfr over tcp", query.TCP, axfr(dns.TypeAXFR), dns.RcodeNotAuth},
		{"axfr over dot", query.DoT, axfr(dns.TypeAXFR), dns.RcodeNotAuth},
		{"axfr over doq", query.DoQ, axfr(dns.TypeAXFR), dns.RcodeNotAuth},
		{"axfr over doh", query.DoH, axfr(dns.TypeAXFR), dns.RcodeRefused},
		{"ixfr over doh", query.DoH, axfr(dns.TypeIXFR), dns.RcodeRefused},
		{"answer over doh", query.DoH, q(func(*dns.Msg) {}), dns.RcodeSuccess},
	}
	for _, tt := range byTransport {
		t.Run(tt.name, func(t *testing.T) {
			m := exchange(t, p, tt.raw, tt.tr)
			if m == nil || int(m.Rcode) != tt.rcode {
				t.Fatalf("got %v, want rcode %d", m, tt.rcode)
			}
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := exchange(t, p, tt.raw, query.UDP)
			if tt.rcode < 0 {
				if m != nil {
					t.Fatalf("answered: %v", m)
				}
				return
			}
			if m == nil {
				t.Fatal("no response")
			}
			if int(m.Rcode) != tt.rcode || m.Truncated != tt.tc {
				t.Fatalf("rcode %d tc %v, want %d %v", m.Rcode, m.Truncated, tt.rcode, tt.tc)
			}
		})
	}
}

// ednsVersion sets the version in the OPT record that ends raw (11 bytes: owner, type, class, TTL,
// RDLENGTH; the version is the second byte of the TTL).
func ednsVersion(raw []byte, v byte) []byte {
	raw[len(raw)-5] = v
	return raw
}

func TestTruncation(t *testing.T) {
	var big string
	for i := range 60 {
		big += fmt.Sprintf("txt TXT \"%d a fairly long string to fill the packet quickly\"\n", i)
	}
	p := testPipeline(t, big)
	m := dns.NewMsg("txt.example.test.", dns.TypeTXT)
	raw := packed(t, m)
	udp := exchange(t, p, raw, query.UDP)
	if !udp.Truncated || len(udp.Data) > 512 {
		t.Fatalf("UDP without EDNS: tc=%v size %d", udp.Truncated, len(udp.Data))
	}
	for _, tr := range []query.Transport{query.TCP, query.DoT, query.DoH, query.DoQ} {
		// The encrypted transports are streams too: never truncated (RFC 7858, 8484, 9250).
		full := exchange(t, p, raw, tr)
		if full.Truncated || len(full.Answer) != 60 {
			t.Fatalf("%v: tc=%v answers %d", tr, full.Truncated, len(full.Answer))
		}
	}
	m = dns.NewMsg("txt.example.test.", dns.TypeTXT)
	m.UDPSize = 4096
	big4k := exchange(t, p, packed(t, m), query.UDP)
	if len(big4k.Data) > 1232 {
		t.Fatalf("EDNS 4096 answered with %d bytes; the server maximum is 1232", len(big4k.Data))
	}
}

// FuzzServeDNS: no input may panic the pipeline, and every response parses, carries the query's ID
// and fits the size limit.
func FuzzServeDNS(f *testing.F) {
	p := testPipeline(f, "*.w A 192.0.2.5\nsub NS ns.sub\nns.sub A 192.0.2.6\nc CNAME www\n")
	for _, name := range []string{"www.example.test.", "x.w.example.test.", "a.sub.example.test.", "nope.example.test.", "c.example.test."} {
		m := dns.NewMsg(name, dns.TypeA)
		m.UDPSize = 1232
		m.Security = true
		if err := m.Pack(); err != nil {
			f.Fatal(err)
		}
		f.Add(m.Data)
	}
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1})
	out := make([]byte, 0, 65535)
	f.Fuzz(func(t *testing.T, raw []byte) {
		req := &query.Request{Wire: raw}
		res := p.ServeDNS(req, out)
		if res == nil {
			return
		}
		if len(res) > 512 && !req.HasEDNS || len(res) > 1232 {
			t.Fatalf("response of %d bytes over UDP", len(res))
		}
		m := &dns.Msg{Data: res}
		if err := m.Unpack(); err != nil {
			t.Fatalf("response does not parse: %v", err)
		}
		if len(raw) >= 2 && m.ID != binary.BigEndian.Uint16(raw) {
			t.Fatalf("ID %d, query had %d", m.ID, binary.BigEndian.Uint16(raw))
		}
	})
}

// BenchmarkPipelineHit is the whole query path behind the socket for an existing name: parse,
// admission, lookup and rendering. It must report 0 allocs/op.
func BenchmarkPipelineHit(b *testing.B) {
	benchPipeline(b, "www.example.test.")
}

// BenchmarkPipelineNXDOMAIN: a name that does not exist, answered from the template shared by
// every such name under the apex.
func BenchmarkPipelineNXDOMAIN(b *testing.B) {
	benchPipeline(b, "no-such-name.example.test.")
}

func benchPipeline(b *testing.B, name string) { benchPipelineOn(b, testPipeline(b, ""), name) }

func benchPipelineOn(b *testing.B, p *Pipeline, name string) {
	m := dns.NewMsg(name, dns.TypeA)
	m.UDPSize = 1232
	if err := m.Pack(); err != nil {
		b.Fatal(err)
	}
	req := &query.Request{Wire: m.Data, Transport: query.UDP}
	out := make([]byte, 0, 65535)
	// Through the interface, as the listeners call it: a direct call could be inlined into the
	// loop, which no listener gets.
	var h server.Handler = p
	b.ReportAllocs()
	for b.Loop() {
		if h.ServeDNS(req, out) == nil {
			b.Fatal("no answer")
		}
	}
}

// TestPipelineUpdate: concurrent updates of different fields do not undo each other.
func TestPipelineUpdate(t *testing.T) {
	p := cachedPipeline(t, nil)
	pol := testPolicy(t, "x.example CNAME .\n", policy.Options{})
	rec := p.snap.Load().Recursion
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
			if i%2 == 0 {
				p.Update(func(s *Snapshot) { s.Policy = pol })
			} else {
				p.Update(func(s *Snapshot) { s.Recursion = rec })
			}
		})
	}
	wg.Wait()
	if s := p.snap.Load(); s.Policy != pol || s.Recursion != rec {
		t.Errorf("snapshot %+v", s)
	}
}
