package pipeline

import (
	"net/netip"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
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
