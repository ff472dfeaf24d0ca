package pipeline

import (
	"net/netip"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/cookie"
	"warden/internal/metrics"
	"warden/internal/query"
	"warden/internal/rrl"
	"warden/internal/server"
)

// BenchmarkPipelineParallel runs the hit path on GOMAXPROCS workers at once (go test -cpu 1,2,4,8),
// each as a UDP worker runs it: its own request and reply buffer, batches of stampBatch queries
// stamped with one clock reading, and its own metrics shard, fed a batch at a time. Every worker
// asks the same name of the one pipeline, so whatever the workers share on the way (the zone's
// template, the cache entry, the snapshot) is shared in the worst way. ns/op is wall time per
// answer of all workers together; worker-ns/op is the same times the workers, what one answer
// costs a worker: flat from 1 to as many workers as cores when nothing on the path is contended.
// Past the cores, the workers take turns on them and worker-ns/op grows by the ratio. cpu-ns/op is
// the process's CPU time per answer: what an answer costs a core whether or not other programs
// share the machine, since a worker waiting for a core spends none. It grows with the workers only
// when they contend (a cache line written by several, a lock).
//
// "guards" adds what a public server runs: cookies (queries without one, as load generators send)
// and response rate limiting, each worker's clients in prefixes of their own and the rate at its
// highest, so that every response is counted in the limiter's shared table and none is limited.
func BenchmarkPipelineParallel(b *testing.B) {
	for _, c := range []struct {
		name string
		p    func(testing.TB, *rrl.Limiter) *Pipeline
		q    string
	}{
		{"authority", func(tb testing.TB, lim *rrl.Limiter) *Pipeline {
			return withGuards(testPipeline(tb, ""), guardSecret(lim), lim)
		}, "www.example.test."},
		{"referral", func(tb testing.TB, lim *rrl.Limiter) *Pipeline {
			return withGuards(testPipeline(tb, "sub NS ns.sub\nns.sub A 192.0.2.6\n"), guardSecret(lim), lim)
		}, "www.sub.example.test."},
		{"cache", func(tb testing.TB, lim *rrl.Limiter) *Pipeline {
			return withGuards(cachedPipeline(tb, nil, "www.example.org. 3600 IN A 192.0.2.1"), guardSecret(lim), lim)
		}, "www.example.org."},
	} {
		for _, guards := range []bool{false, true} {
			name := c.name + "/metrics"
			var lim *rrl.Limiter
			if guards {
				name = c.name + "/metrics+guards"
				lim = rrl.New(rrl.Config{Rate: rrl.MaxRate, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
			}
			b.Run(name, func(b *testing.B) { benchParallel(b, c.p(b, lim), c.q) })
		}
	}
}

// guardSecret turns cookies on with the rate limiter, and off without it.
func guardSecret(lim *rrl.Limiter) *cookie.Keyring {
	if lim == nil {
		return nil
	}
	return testSecret
}

func benchParallel(b *testing.B, p *Pipeline, name string) {
	m := dns.NewMsg(name, dns.TypeA)
	m.UDPSize = 1232
	m.RecursionDesired = true
	if err := m.Pack(); err != nil {
		b.Fatal(err)
	}
	counts := metrics.NewQueries()
	var workers atomic.Int32
	var h server.Handler = p
	b.ReportAllocs()
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		w := workers.Add(1)
		rec := counts.Recorder(query.UDP, true)
		req := &query.Request{Wire: m.Data, Transport: query.UDP}
		// 64 clients of a /24 of the worker's own, as a UDP worker's share of the clients.
		var clients [64]netip.AddrPort
		for i := range clients {
			clients[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, byte(w), byte(i), 1}), 5353)
		}
		out := make([]byte, 0, 65535)
		recs := make([]query.Record, stampBatch)
		k, n := 0, 0
		for pb.Next() {
			if k == 0 {
				req.Received = time.Now()
			}
			req.Client = clients[n%len(clients)]
			n++
			res := h.ServeDNS(req, out)
			if len(res) == 0 || res[3]&0xF != 0 {
				panic("no answer") // b.Fatal must not be called from RunParallel's goroutines
			}
			query.RecordOf(&recs[k], req, res)
			recs[k].Received = req.Received
			if k++; k == stampBatch {
				sent := time.Now()
				for i := range recs {
					recs[i].Sent = sent
				}
				rec.Record(recs)
				k = 0
			}
		}
	})
	cpu := processCPU() - cpu0
	procs := runtime.GOMAXPROCS(0)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())*float64(procs)/float64(b.N), "worker-ns/op")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU is the user and system CPU time of the process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
