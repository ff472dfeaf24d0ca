package server

import (
	"net/netip"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/cache"
	"warden/internal/query"
	"warden/internal/wire"
)

// BenchmarkRecursionCacheHit is a resolver's common case behind the socket: admission, no zone,
// the client allowed, an answer in the cache. It must report 0 allocs/op.
func BenchmarkRecursionCacheHit(b *testing.B) {
	c := cache.New(cache.Config{})
	resp := dns.NewMsg("www.example.org.", dns.TypeA)
	resp.Response, resp.RecursionAvailable = true, true
	rr, _ := dns.New("www.example.org. 3600 IN A 192.0.2.1")
	resp.Answer = []dns.RR{rr}
	resp.UDPSize = 1232
	if err := resp.Pack(); err != nil {
		b.Fatal(err)
	}
	if err := c.Put(resp.Data, cache.RankAuthAnswer); err != nil {
		b.Fatal(err)
	}
	local, err := NewSpecialUse(nil)
	if err != nil {
		b.Fatal(err)
	}
	rec := NewRecursor(RecursorConfig{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: time.Second, MaxConcurrent: 1,
		Cache: c, Local: local,
	})
	empty, _ := authority.New(nil)
	p := NewPipeline(wire.Limits{UDPPayload: 1232}, &Snapshot{Authority: empty, Recursion: rec})
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
