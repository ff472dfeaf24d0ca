package pipeline

import (
	"net/netip"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
	"warden/internal/resolver"
)

// BenchmarkRecursionCacheHit is a resolver's common case behind the socket: admission, no zone,
// the client allowed, an answer in the cache. It must report 0 allocs/op. The request is stamped
// as the UDP worker stamps it (see stampBatch).
func BenchmarkRecursionCacheHit(b *testing.B) { benchCacheHit(b, true) }

// BenchmarkRecursionCacheHitUnstamped is BenchmarkRecursionCacheHit for a request without a stamp:
// the cache reads the clock.
func BenchmarkRecursionCacheHitUnstamped(b *testing.B) { benchCacheHit(b, false) }

func benchCacheHit(b *testing.B, stamped bool) {
	p := cachedPipeline(b, nil, "www.example.org. 3600 IN A 192.0.2.1")
	q := dns.NewMsg("www.example.org.", dns.TypeA)
	q.UDPSize = 1232
	if err := q.Pack(); err != nil {
		b.Fatal(err)
	}
	req := &query.Request{Wire: q.Data, Transport: query.UDP, Client: netip.MustParseAddrPort("127.0.0.1:5353")}
	out := make([]byte, 0, 65535)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if stamped && i%stampBatch == 0 {
			req.Received = time.Now()
		}
		if res := p.ServeDNS(req, out); len(res) == 0 || res[3]&0xF != 0 {
			b.Fatal("no answer from the cache")
		}
	}
}

// stampBatch is how many queries of a benchmark share one reading of the clock: the most the UDP
// worker reads in one recvmmsg (its udpBatch), and so stamps with one reading.
const stampBatch = 32

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
