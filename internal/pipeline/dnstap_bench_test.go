package pipeline

import (
	"net/netip"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstap"
	"warden/internal/dnstest"
	"warden/internal/metrics"
	"warden/internal/query"
	"warden/internal/server"
)

// BenchmarkPipelineHitDnstap is BenchmarkPipelineHitMetrics with the observers a server with
// dnstap has: none, metrics, and metrics with dnstap writing to fstrm_capture (its file
// /dev/null), so that the listener's side of dnstap is measured with a collector taking the
// stream. Every case must report 0 allocs/op.
func BenchmarkPipelineHitDnstap(b *testing.B) {
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
		for _, obs := range []string{"off", "metrics", "metrics+dnstap"} {
			b.Run(c.name+"/"+obs, func(b *testing.B) {
				var o server.Observers
				if obs != "off" {
					o = append(o, metrics.NewQueries())
				}
				if obs == "metrics+dnstap" {
					col := dnstest.StartCollectorTo(b, b.TempDir(), "/dev/null")
					w := dnstap.Open(dnstap.Config{Network: "unix", Addr: col.Socket})
					b.Cleanup(func() { w.Close() })
					o = append(o, w)
				}
				var rec server.Recorder
				if len(o) > 0 {
					rec = o.Recorder(query.UDP, true)
				}
				benchHitRecorded(b, c.p(b), c.q, rec)
			})
		}
	}
}

// benchHitRecorded answers batches of stampBatch queries as a UDP worker does and hands each
// batch to rec (when set) after one more clock reading.
func benchHitRecorded(b *testing.B, p *Pipeline, name string, rec server.Recorder) {
	m := dns.NewMsg(name, dns.TypeA)
	m.UDPSize = 1232
	m.RecursionDesired = true
	if err := m.Pack(); err != nil {
		b.Fatal(err)
	}
	req := &query.Request{Wire: m.Data, Transport: query.UDP, Client: netip.MustParseAddrPort("127.0.0.1:5353")}
	out := make([]byte, 0, 65535)
	var h server.Handler = p
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
