package pipeline

import (
	"net/netip"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
	"warden/internal/resolver"
)

// BenchmarkRecursionCacheHit is a resolver's common case behind the socket: admission, no zone,
// the client allowed, an answer in the cache. It must report 0 allocs/op.
func BenchmarkRecursionCacheHit(b *testing.B) {
	p := cachedPipeline(b, nil, "www.example.org. 3600 IN A 192.0.2.1")
	q := dns.NewMsg("www.example.org.", dns.TypeA)
	q.UDPSize = 1232
	if err := q.Pack(); err != nil {
		b.Fatal(err)
	}
	req := &query.Request{Wire: q.Data, Transport: query.UDP, Client: netip.MustParseAddrPort("127.0.0.1:5353")}
	out := make([]byte, 0, 65535)
	b.ReportAllocs()
	for b.Loop() {
		if res := p.ServeDNS(req, out); len(res) == 0 || res[3]&0xF != 0 {
			b.Fatal("no answer from the cache")
		}
	}
}

// BenchmarkRecursionMissStore is what follows a resolution: the result stored in the cache and
// the client's answer rendered from it (no network; the result is given).
func BenchmarkRecursionMissStore(b *testing.B) {
	var res resolver.Result
	for _, text := range []string{
		"www.example.org. 300 IN CNAME web.example.org.",
		"web.example.org. 300 IN A 192.0.2.1",
		"web.example.org. 300 IN A 192.0.2.2",
	} {
		rr, err := dns.New(text)
		if err != nil {
			b.Fatal(err)
		}
		res.Answer = append(res.Answer, rr)
	}
	rr, err := dns.New("example.org. 300 IN NS ns1.example.org.")
	if err != nil {
		b.Fatal(err)
	}
	res.Ns = []dns.RR{rr}
	rec := NewRecursor(RecursorConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, MaxConcurrent: 1})
	q := dns.NewMsg("www.example.org.", dns.TypeA)
	q.UDPSize = 1232
	if err := q.Pack(); err != nil {
		b.Fatal(err)
	}
	req := &query.Request{Wire: q.Data, Transport: query.UDP, Client: netip.MustParseAddrPort("127.0.0.1:5353")}
	req.Parse()
	out := make([]byte, 0, 65535)
	b.ReportAllocs()
	for b.Loop() {
		if res := rec.answer(req, res, out); len(res) == 0 || res[3]&0xF != 0 || res[7] != 3 {
			b.Fatal("no answer")
		}
	}
}
