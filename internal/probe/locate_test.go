package probe

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"
)

// parseTrace reads a trace written one TTL per line: the TTL, then "*" (no ICMP) or
// "expired ADDR" or "unreachable ADDR", then "reply" when a DNS reply came.
func parseTrace(t *testing.T, text string) []HopReport {
	t.Helper()
	var hops []HopReport
	for line := range strings.Lines(strings.TrimSpace(text)) {
		f := strings.Fields(line)
		h := HopReport{TTL: len(hops) + 1}
		if f[0] != "*" {
			h.Router = netip.MustParseAddr(f[1])
			h.Expired, h.Unreachable = f[0] == "expired", f[0] == "unreachable"
			f = f[1:]
		}
		h.Replied = len(f) > 1 && f[1] == "reply"
		hops = append(hops, h)
	}
	return hops
}

func TestInjectionHop(t *testing.T) {
	target := netip.MustParseAddr("192.0.2.53")
	tests := []struct {
		name, trace string
		hop         int
		addr        string
	}{
		{"clean path", `
expired 10.0.0.1
expired 10.0.1.1
* reply
* reply`, 0, ""},
		{"injector answers and expires the query", `
expired 10.0.0.1
expired 10.0.1.1 reply
* reply
* reply`, 2, "10.0.1.1"},
		{"silent injector: the router before it", `
expired 10.0.0.1
* reply
expired 10.0.2.1
* reply
* reply`, 2, "10.0.0.1"},
		{"silent injector at hop 1: no router known", `
* reply
expired 10.0.1.1
* reply
* reply`, 1, ""},
		{"the first of two injectors", `
expired 10.0.0.1 reply
expired 10.0.1.1 reply
* reply
* reply`, 1, "10.0.0.1"},
		{"target beyond the trace", `
expired 10.0.0.1
expired 10.0.1.1 reply
expired 10.0.2.1 reply`, 2, "10.0.1.1"},
		{"no DNS server on the target", `
expired 10.0.0.1
unreachable 192.0.2.53
unreachable 192.0.2.53`, 0, ""},
		{"injector in front of a closed port", `
expired 10.0.0.1 reply
unreachable 192.0.2.53
unreachable 192.0.2.53`, 1, "10.0.0.1"},
		{"a router reports the target unreachable", `
expired 10.0.0.1 reply
unreachable 10.0.1.1`, 1, "10.0.0.1"},
		{"nothing came back", `
*
*
*`, 0, ""},
		{"empty trace", ``, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hop, addr := InjectionHop(parseTrace(t, tt.trace), target)
			var want netip.Addr
			if tt.addr != "" {
				want = netip.MustParseAddr(tt.addr)
			}
			if hop != tt.hop || addr != want {
				t.Errorf("InjectionHop = %d at %v, want %d at %v", hop, addr, tt.hop, want)
			}
		})
	}
}

func TestAnswersQuery(t *testing.T) {
	query, err := packQuery("www.Example.test", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	reply := func(edit func(m *dns.Msg)) []byte {
		m := &dns.Msg{Data: append([]byte(nil), query...)}
		if err := m.Unpack(); err != nil {
			t.Fatal(err)
		}
		m.Response = true
		rr, err := dns.New("www.example.test. 60 IN A 192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		m.Answer = []dns.RR{rr}
		edit(m)
		m.Data = nil
		if err := m.Pack(); err != nil {
			t.Fatal(err)
		}
		return m.Data
	}
	tests := []struct {
		name  string
		reply []byte
		want  bool
	}{
		{"reply", reply(func(*dns.Msg) {}), true},
		{"name in other case", reply(func(m *dns.Msg) { m.Question[0].Header().Name = "WWW.EXAMPLE.TEST." }), true},
		{"other ID", reply(func(m *dns.Msg) { m.ID++ }), false},
		{"not a response", reply(func(m *dns.Msg) { m.Response = false }), false},
		{"other name", reply(func(m *dns.Msg) { m.Question[0].Header().Name = "www.example.tesu." }), false},
		{"other type", reply(func(m *dns.Msg) { m.Question[0] = &dns.AAAA{Hdr: *m.Question[0].Header()} }), false},
		{"no question", reply(func(m *dns.Msg) { m.Question = nil }), false},
		{"header only", query[:headerLen], false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := answersQuery(tt.reply, query); got != tt.want {
				t.Errorf("answersQuery = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPackQuery(t *testing.T) {
	q, err := packQuery("example.test", dns.TypeAAAA)
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.BigEndian.Uint16(q[4:]); n != 1 {
		t.Errorf("question count %d, want 1", n)
	}
	if n := binary.BigEndian.Uint16(q[10:]); n != 0 {
		t.Errorf("additional count %d, want 0: the question must be all that follows the header", n)
	}
	if _, err := packQuery("example.test", 65280); err == nil {
		t.Error("packQuery accepted an unknown type")
	}
	if _, err := packQuery(strings.Repeat("a", 64)+".test", dns.TypeA); err == nil {
		t.Error("packQuery accepted a 64-byte label")
	}
}
