package pipeline

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/metrics"
	"warden/internal/query"
	"warden/internal/querylog"
	"warden/internal/server"
)

// BenchmarkPipelineHitQueryLog is BenchmarkPipelineHitMetrics with the query log beside the
// metrics, as the daemon wires them (server.Observers): off, metrics only, metrics and the log.
// The log is the real one, its collector and writer running and writing Parquet files to a
// temporary directory; the loop answers far faster than any network brings queries, so the
// rings fill and part of the records take the dropping path: dropped/op says how many. Every
// variant must report 0 allocs/op.
func BenchmarkPipelineHitQueryLog(b *testing.B) {
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
		for _, mode := range []string{"off", "metrics", "metrics+querylog"} {
			b.Run(c.name+"/"+mode, func(b *testing.B) { benchHitQueryLog(b, c.p(b), c.q, mode) })
		}
	}
}

func benchHitQueryLog(b *testing.B, p *Pipeline, name, mode string) {
	m := dns.NewMsg(name, dns.TypeA)
	m.UDPSize = 1232
	if err := m.Pack(); err != nil {
		b.Fatal(err)
	}
	req := &query.Request{Wire: m.Data, Transport: query.UDP, Client: netip.MustParseAddrPort("127.0.0.1:5353")}
	out := make([]byte, 0, 65535)
	var h server.Handler = p
	var obs server.Observers
	var ql *querylog.Log
	switch mode {
	case "metrics+querylog":
		var err error
		ql, err = querylog.Open(querylog.Config{Dir: b.TempDir(), MaxBytes: 64 << 20, Sample: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			b.Fatal(err)
		}
		defer ql.Close()
		obs = append(obs, ql)
		fallthrough
	case "metrics":
		obs = append(server.Observers{metrics.NewQueries()}, obs...)
	}
	var rec server.Recorder
	if len(obs) > 0 {
		rec = obs.Recorder(query.UDP, true)
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
	b.StopTimer()
	if ql != nil {
		b.ReportMetric(float64(ql.Dropped())/float64(b.N), "dropped/op")
	}
}
