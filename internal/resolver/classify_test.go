package resolver

import (
	"strings"
	"testing"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
)

// reply builds a response from zone-file text: lines under "answer:", "authority:" and
// "additional:" headings go into those sections.
func reply(t *testing.T, rcode uint16, aa bool, text string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.Response, m.Rcode, m.Authoritative = true, rcode, aa
	section := &m.Answer
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch line {
		case "":
			continue
		case "answer:":
			section = &m.Answer
			continue
		case "authority:":
			section = &m.Ns
			continue
		case "additional:":
			section = &m.Extra
			continue
		}
		rr, err := dns.New(line)
		if err != nil {
			t.Fatalf("bad record %q: %v", line, err)
		}
		*section = append(*section, rr)
	}
	return m
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name         string
		rcode        uint16
		aa           bool
		text         string
		qname, cut   string
		qtype        uint16
		want         Kind
		target, into string
	}{
		{name: "answer", aa: true, qname: "www.example.", cut: "example.", qtype: dns.TypeA, want: Answer, target: "www.example.",
			text: "www.example. 300 IN A 192.0.2.1"},
		{name: "answer after in-zone chain", aa: true, qname: "a.example.", cut: "example.", qtype: dns.TypeA, want: Answer, target: "www.example.",
			text: "a.example. 300 IN CNAME www.example.\nwww.example. 300 IN A 192.0.2.1"},
		{name: "chain leaves the zone", aa: true, qname: "a.example.", cut: "example.", qtype: dns.TypeA, want: CNAME, target: "www.other.",
			text: "a.example. 300 IN CNAME www.other."},
		{name: "chain to outside with a claimed answer", aa: true, qname: "a.example.", cut: "example.", qtype: dns.TypeA, want: CNAME, target: "www.other.",
			text: "a.example. 300 IN CNAME www.other.\nwww.other. 300 IN A 192.0.2.66"},
		{name: "nxdomain", rcode: dns.RcodeNameError, aa: true, qname: "nx.example.", cut: "example.", qtype: dns.TypeA, want: NXDomain, target: "nx.example.",
			text: "authority:\nexample. 300 IN SOA ns.example. h.example. 1 2 3 4 5"},
		{name: "nodata", aa: true, qname: "www.example.", cut: "example.", qtype: dns.TypeMX, want: NoData, target: "www.example.",
			text: "authority:\nexample. 300 IN SOA ns.example. h.example. 1 2 3 4 5"},
		{name: "nodata without AA but with the zone's SOA", qname: "www.example.", cut: "example.", qtype: dns.TypeMX, want: NoData, target: "www.example.",
			text: "authority:\nexample. 300 IN SOA ns.example. h.example. 1 2 3 4 5"},
		{name: "referral", qname: "www.shop.example.", cut: "example.", qtype: dns.TypeA, want: Referral, into: "shop.example.",
			text: "authority:\nshop.example. 300 IN NS ns1.shop.example.\nadditional:\nns1.shop.example. 300 IN A 192.0.2.53"},
		{name: "referral from the root", qname: "www.example.", cut: ".", qtype: dns.TypeA, want: Referral, into: "example.",
			text: "authority:\nexample. 300 IN NS ns.example."},
		{name: "upward referral is lame", qname: "www.shop.example.", cut: "shop.example.", qtype: dns.TypeA, want: Lame,
			text: "authority:\nexample. 300 IN NS ns.example."},
		{name: "referral to the same zone is lame", qname: "www.example.", cut: "example.", qtype: dns.TypeA, want: Lame,
			text: "authority:\nexample. 300 IN NS ns.example."},
		{name: "sideways referral is lame", qname: "www.example.", cut: "example.", qtype: dns.TypeA, want: Lame,
			text: "authority:\nother.example2. 300 IN NS ns.example."},
		{name: "refused", rcode: dns.RcodeRefused, qname: "www.example.", cut: "example.", qtype: dns.TypeA, want: Lame},
		{name: "servfail", rcode: dns.RcodeServerFailure, qname: "www.example.", cut: "example.", qtype: dns.TypeA, want: ServerError},
		{name: "empty non-authoritative", qname: "www.example.", cut: "example.", qtype: dns.TypeA, want: Lame},
		{name: "cname query", aa: true, qname: "a.example.", cut: "example.", qtype: dns.TypeCNAME, want: Answer, target: "a.example.",
			text: "a.example. 300 IN CNAME www.example."},
		{name: "chain then nxdomain in zone", rcode: dns.RcodeNameError, aa: true, qname: "a.example.", cut: "example.", qtype: dns.TypeA, want: NXDomain, target: "gone.example.",
			text: "a.example. 300 IN CNAME gone.example.\nauthority:\nexample. 300 IN SOA ns.example. h.example. 1 2 3 4 5"},
		{name: "mixed case", aa: true, qname: "WWW.Example.", cut: "EXAMPLE.", qtype: dns.TypeA, want: Answer, target: "www.example.",
			text: "www.example. 300 IN A 192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reply(t, tt.rcode, tt.aa, tt.text)
			r, _ = Scrub(r, tt.qname, tt.qtype, tt.cut)
			v := Classify(r, tt.qname, tt.qtype, tt.cut)
			if v.Kind != tt.want || v.Target != tt.target || v.Cut != tt.into {
				t.Fatalf("got %v target %q cut %q, want %v target %q cut %q", v.Kind, v.Target, v.Cut, tt.want, tt.target, tt.into)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	tests := []struct {
		name       string
		text       string
		qname, cut string
		qtype      uint16
		keep       []string // owner/type pairs that must survive, "owner TYPE"
		removed    int
	}{
		{name: "answer outside the zone is dropped", qname: "www.example.", cut: "example.", qtype: dns.TypeA,
			text: "www.example. 300 IN A 192.0.2.1\nwww.bank. 300 IN A 192.0.2.66",
			keep: []string{"www.example. A"}, removed: 1},
		{name: "answer not on the chain is dropped", qname: "www.example.", cut: "example.", qtype: dns.TypeA,
			text: "www.example. 300 IN A 192.0.2.1\nmail.example. 300 IN A 192.0.2.66",
			keep: []string{"www.example. A"}, removed: 1},
		{name: "chain inside the zone kept, outside dropped", qname: "a.example.", cut: "example.", qtype: dns.TypeA,
			text: "a.example. 300 IN CNAME b.example.\nb.example. 300 IN CNAME c.other.\nc.other. 300 IN A 192.0.2.66",
			keep: []string{"a.example. CNAME", "b.example. CNAME"}, removed: 1},
		{name: "glue inside the zone kept, outside dropped", qname: "www.shop.example.", cut: "example.", qtype: dns.TypeA,
			text: "authority:\nshop.example. 300 IN NS ns1.shop.example.\nshop.example. 300 IN NS ns.bank.\nadditional:\nns1.shop.example. 300 IN A 192.0.2.53\nns.bank. 300 IN A 192.0.2.66",
			keep: []string{"shop.example. NS", "shop.example. NS", "ns1.shop.example. A"}, removed: 1},
		{name: "additional for names not named by NS dropped", qname: "www.shop.example.", cut: "example.", qtype: dns.TypeA,
			text: "authority:\nshop.example. 300 IN NS ns1.shop.example.\nadditional:\nwww.example. 300 IN A 192.0.2.66",
			keep: []string{"shop.example. NS"}, removed: 1},
		{name: "authority NS for another zone dropped", qname: "www.example.", cut: "example.", qtype: dns.TypeA,
			text: "www.example. 300 IN A 192.0.2.1\nauthority:\nbank. 300 IN NS ns.evil.",
			keep: []string{"www.example. A"}, removed: 1},
		{name: "authority junk types dropped", qname: "www.example.", cut: "example.", qtype: dns.TypeA,
			text: "www.example. 300 IN A 192.0.2.1\nauthority:\nexample. 300 IN TXT \"x\"",
			keep: []string{"www.example. A"}, removed: 1},
		{name: "root may tell anything", qname: "www.example.", cut: ".", qtype: dns.TypeA,
			text: "authority:\nexample. 300 IN NS ns.example.\nadditional:\nns.example. 300 IN A 192.0.2.53",
			keep: []string{"example. NS", "ns.example. A"}, removed: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, removed := Scrub(reply(t, 0, true, tt.text), tt.qname, tt.qtype, tt.cut)
			var got []string
			for _, sec := range [][]dns.RR{out.Answer, out.Ns, out.Extra} {
				for _, rr := range sec {
					got = append(got, rr.Header().Name+" "+dns.TypeToString[dns.RRToType(rr)])
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.keep, ",") || removed != tt.removed {
				t.Fatalf("kept %q (removed %d), want %q (removed %d)", got, removed, tt.keep, tt.removed)
			}
		})
	}
}

// FuzzClassify: any reply, scrubbed and classified, must not panic, and scrubbing must never keep
// a record outside the zone cut.
func FuzzClassify(f *testing.F) {
	m := dns.NewMsg("www.example.", dns.TypeA)
	m.Response = true
	m.Answer = []dns.RR{mustRR(f, "www.example. 300 IN CNAME x.other."), mustRR(f, "x.other. 300 IN A 192.0.2.1")}
	m.Ns = []dns.RR{mustRR(f, "example. 300 IN NS ns.example.")}
	if err := m.Pack(); err != nil {
		f.Fatal(err)
	}
	f.Add(m.Data, "example.")
	f.Fuzz(func(t *testing.T, data []byte, cut string) {
		if !dnsutil.IsName(cut) || !strings.HasSuffix(cut, ".") {
			return
		}
		r := &dns.Msg{Data: data}
		if r.Unpack() != nil || len(r.Question) != 1 {
			return
		}
		q := r.Question[0].Header().Name
		out, _ := Scrub(r, q, dns.TypeA, cut)
		for _, sec := range [][]dns.RR{out.Answer, out.Ns, out.Extra} {
			for _, rr := range sec {
				if !isBelow(strings.ToLower(cut), strings.ToLower(rr.Header().Name)) {
					t.Fatalf("kept %s outside %s", rr, cut)
				}
			}
		}
		_ = Classify(out, q, dns.TypeA, cut)
	})
}

func mustRR(f *testing.F, s string) dns.RR {
	rr, err := dns.New(s)
	if err != nil {
		f.Fatal(err)
	}
	return rr
}
