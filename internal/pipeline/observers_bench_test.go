package pipeline

import (
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstap"
	"warden/internal/dnstest"
	"warden/internal/metrics"
	"warden/internal/query"
	"warden/internal/querylog"
	"warden/internal/server"
)

// The hit path as a UDP worker runs it, with the observers of the answers a server may have:
// batches of stampBatch queries stamped with one clock reading, each answered through the
// Handler interface, and with observers on each recorded (query.RecordOf) and the batch handed
// to the worker's Recorder after one more clock reading, as udp_linux.go does after sendmmsg.
// Every variant must report 0 allocs/op; the difference in ns/op is what observing costs.

// BenchmarkPipelineHitMetrics: no observer, and the metrics.
func BenchmarkPipelineHitMetrics(b *testing.B) { benchObserved(b, "off", "on") }

// BenchmarkPipelineHitDnstap: dnstap writing to fstrm_capture (its file /dev/null), so that the
// listener's side of dnstap is measured with a collector taking the stream.
func BenchmarkPipelineHitDnstap(b *testing.B) { benchObserved(b, "off", "metrics", "metrics+dnstap") }

// BenchmarkPipelineHitQueryLog: the real query log, its collector and writer running and writing
// Parquet files to a temporary directory. The loop answers far faster than any network brings
// queries, so the rings fill and part of the records take the dropping path: dropped/op says
// how many.
func BenchmarkPipelineHitQueryLog(b *testing.B) {
	benchObserved(b, "off", "metrics", "metrics+querylog")
}

// benchObserved runs the authoritative and the cache hit under each set of observers, named by
// its parts joined with "+" ("on" is the metrics alone).
func benchObserved(b *testing.B, modes ...string) {
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
		for _, mode := range modes {
			b.Run(c.name+"/"+mode, func(b *testing.B) {
				rec, ql, tap := observersFor(b, mode)
				benchHitRecorded(b, c.p(b), c.q, rec)
				if ql != nil {
					b.ReportMetric(float64(ql.Dropped())/float64(b.N), "dropped/op")
				}
				// Records dropped at a full ring skip the encoding: how many did says what
				// the ns/op include.
				if tap != nil {
					b.ReportMetric(float64(tap.Stats().Dropped)/float64(b.N), "tap-dropped/op")
				}
			})
		}
	}
}

// observersFor builds the observers mode names and returns a UDP worker's Recorder of them (nil
// for "off"), and the query log and the dnstap Writer when they are among them.
func observersFor(b *testing.B, mode string) (server.Recorder, *querylog.Log, *dnstap.Writer) {
	var obs server.Observers
	var ql *querylog.Log
	var tap *dnstap.Writer
	for _, part := range strings.Split(mode, "+") {
		switch part {
		case "off":
		case "on", "metrics":
			obs = append(obs, metrics.NewQueries())
		case "dnstap":
			col := dnstest.StartCollectorTo(b, b.TempDir(), "/dev/null")
			tap = dnstap.Open(dnstap.Config{Network: "unix", Addr: col.Socket})
			b.Cleanup(func() { tap.Close() })
			obs = append(obs, tap)
		case "querylog":
			var err error
			ql, err = querylog.Open(querylog.Config{Dir: b.TempDir(), MaxBytes: 64 << 20, Sample: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { ql.Close() })
			obs = append(obs, ql)
		default:
			b.Fatalf("unknown observer %q", part)
		}
	}
	if len(obs) == 0 {
		return nil, nil, nil
	}
	return obs.Recorder(query.UDP, true), ql, tap
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
	b.StopTimer()
}
