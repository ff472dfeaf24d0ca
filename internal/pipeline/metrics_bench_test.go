package pipeline

import (
	"net/netip"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/metrics"
	"warden/internal/query"
	"warden/internal/server"
)

// BenchmarkPipelineHitMetrics is the hit path as a UDP worker runs it, with the metrics off and
// on: batches of stampBatch queries stamped with one clock reading, each answered through the
// Handler interface, and with metrics on each recorded (query.RecordOf) and the batch handed to
// the worker's own shard after one more clock reading, as udp_linux.go does after sendmmsg. Both
// must report 0 allocs/op; the difference in ns/op is what counting costs a query.
func BenchmarkPipelineHitMetrics(b *testing.B) {
	for _, c := range []struct {
		name string
		p    func(testing.TB) *Pipeline
		q    string
	}{
		{"authority", func(tb testing.TB) *Pipeline { return withGuards(testPipeline(tb, ""), testSecret, nil) }, "www.example.test."},
		{"cache", func(tb testing.TB) *Pipeline {
			return withGuards(cachedPipeline(tb, nil, "www.example.org. 3600 IN A 192.0.2.1"), testSecret, nil)
		}, "www.example.org."},
	} {
		for _, on := range []bool{false, true} {
			name := c.name + "/off"
			if on {
				name = c.name + "/on"
			}
			b.Run(name, func(b *testing.B) { benchHitMetrics(b, c.p(b), c.q, on) })
		}
	}
}

func benchHitMetrics(b *testing.B, p *Pipeline, name string, on bool) {
	m := dns.NewMsg(name, dns.TypeA)
	m.UDPSize = 1232
	if err := m.Pack(); err != nil {
		b.Fatal(err)
	}
	req := &query.Request{Wire: m.Data, Transport: query.UDP, Client: netip.MustParseAddrPort("127.0.0.1:5353")}
	out := make([]byte, 0, 65535)
	var h server.Handler = p
	var rec server.Recorder
	if on {
		rec = metrics.NewQueries().Recorder(query.UDP, true)
	}
	recs := make([]query.Record, stampBatch)
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		if k == 0 {
			req.Received = time.Now()
		}
		res := h.ServeDNS(req, out)
		if len(res) == 0 || res[3]&0xF != 0 {
			b.Fatal("no answer")
		}
		if rec != nil {
			query.RecordOf(&recs[k], req, res)
			recs[k].Received = req.Received
		}
		if k++; k == stampBatch {
			if rec != nil {
				sent := time.Now()
				for i := range recs {
					recs[i].Sent = sent
				}
				rec.Record(recs)
			}
			k = 0
		}
	}
}
