package metrics

import (
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"warden/internal/query"
)

// gather returns the families of r by name.
func gather(t testing.TB, r *Registry) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// counter returns the value of the series of name with exactly these labels, -1 when absent.
func counter(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := len(got) == len(labels)/2
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && got[labels[i]] == labels[i+1]
		}
		if match {
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return -1
}

func record(rcode, qtype uint16, src query.Source, cache query.CacheUse, took time.Duration) query.Record {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return query.Record{
		Received: at, Sent: at.Add(took), Client: netip.MustParseAddrPort("192.0.2.1:5353"),
		Rcode: rcode, QType: qtype, Outcome: query.Outcome{Source: src, Cache: cache},
	}
}

// Each record lands under its labels: names for the common types and codes, "other" for the
// rest; cache use and the time to the send are counted beside.
func TestQueriesCountByLabel(t *testing.T) {
	q := NewQueries()
	udp := q.Recorder(query.UDP, true)
	tcp := q.Recorder(query.TCP, false)
	udp.Record([]query.Record{
		record(0, 1, query.SourceAuthority, query.CacheNone, 20*time.Microsecond),
		record(0, 1, query.SourceAuthority, query.CacheNone, 30*time.Microsecond),
		record(3, 28, query.SourceCache, query.CacheHit, 2*time.Millisecond),
		record(2, 65280, query.SourceResolver, query.CacheMiss, 3*time.Second),
		record(query.RcodeBadVers, 1, query.SourceLocal, query.CacheNone, 0),
		record(23, 257, query.SourceNone, query.CacheNone, 10*time.Second), // BADCOOKIE, CAA
	})
	tcp.Record([]query.Record{record(5, 252, query.SourceLocal, query.CacheNone, time.Millisecond)})
	fams := gather(t, New(Sources{Queries: q}))
	for _, tt := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"rcode", "NOERROR", "qtype", "A", "transport", "udp", "source", "authority"}, 2},
		{[]string{"rcode", "NXDOMAIN", "qtype", "AAAA", "transport", "udp", "source", "cache"}, 1},
		{[]string{"rcode", "SERVFAIL", "qtype", "other", "transport", "udp", "source", "resolver"}, 1},
		{[]string{"rcode", "BADVERS", "qtype", "A", "transport", "udp", "source", "local"}, 1},
		{[]string{"rcode", "other", "qtype", "CAA", "transport", "udp", "source", "local"}, 1},
		{[]string{"rcode", "REFUSED", "qtype", "AXFR", "transport", "tcp", "source", "local"}, 1},
		// Shown from the start for every transport listened on and every source.
		{[]string{"rcode", "NOERROR", "qtype", "A", "transport", "tcp", "source", "policy"}, 0},
		// Not listened on: absent.
		{[]string{"rcode", "NOERROR", "qtype", "A", "transport", "doh", "source", "policy"}, -1},
	} {
		if got := counter(fams, "warden_queries_total", tt.labels...); got != tt.want {
			t.Errorf("warden_queries_total%v = %v; want %v", tt.labels, got, tt.want)
		}
	}
	if got := counter(fams, "warden_cache_hits_total"); got != 1 {
		t.Errorf("cache hits %v; want 1", got)
	}
	if got := counter(fams, "warden_cache_misses_total"); got != 1 {
		t.Errorf("cache misses %v; want 1", got)
	}
	h := fams["warden_query_duration_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 7 {
		t.Errorf("duration count %d; want 7", h.GetSampleCount())
	}
	wantSum := (20e-6 + 30e-6 + 2e-3 + 3 + 0 + 10 + 1e-3)
	if d := h.GetSampleSum() - wantSum; d > 1e-9 || d < -1e-9 {
		t.Errorf("duration sum %v; want %v", h.GetSampleSum(), wantSum)
	}
	for _, b := range h.GetBucket() {
		var want uint64
		switch b.GetUpperBound() {
		case 25e-6:
			want = 2 // 0 and 20µs
		case 50e-6:
			want = 3
		case 1e-3:
			want = 4 // a bound holds the values equal to it
		case 2.5e-3:
			want = 5
		case 5:
			want = 6
		default:
			continue
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d; want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}

// Many writers at once, exclusive shards and the shared one, lose no count; run with -race this
// also shows that a scrape while they write is not a data race.
func TestQueriesConcurrent(t *testing.T) {
	q := NewQueries()
	reg := New(Sources{Queries: q})
	const writers, batches, per = 4, 200, 8
	var wg sync.WaitGroup
	for w := range writers {
		rec := q.Recorder(query.UDP, w%2 == 0) // half exclusive, half the shared shard
		wg.Go(func() {
			batch := make([]query.Record, per)
			for i := range batch {
				batch[i] = record(0, 1, query.SourceCache, query.CacheHit, time.Millisecond)
			}
			for range batches {
				rec.Record(batch)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			gather(t, reg)
		}
	})
	wg.Wait()
	fams := gather(t, reg)
	want := float64(writers * batches * per)
	if got := counter(fams, "warden_queries_total", "rcode", "NOERROR", "qtype", "A", "transport", "udp", "source", "cache"); got != want {
		t.Errorf("counted %v; want %v", got, want)
	}
	if got := counter(fams, "warden_cache_hits_total"); got != want {
		t.Errorf("cache hits %v; want %v", got, want)
	}
}

func TestLabelIndexes(t *testing.T) {
	for code, want := range map[uint16]string{0: "NOERROR", 3: "NXDOMAIN", 10: "NOTZONE", 11: "other", 16: "BADVERS", 23: "other", 4095: "other"} {
		if got := rcodeNames[rcodeIndex(code)]; got != want {
			t.Errorf("rcode %d: %s; want %s", code, got, want)
		}
	}
	for code, want := range map[uint16]string{1: "A", 28: "AAAA", 65: "HTTPS", 255: "ANY", 257: "CAA", 0: "other", 99: "other", 256: "other", 65535: "other"} {
		if got := qtypeName(qtypeIndex(code)); got != want {
			t.Errorf("qtype %d: %s; want %s", code, got, want)
		}
	}
	for s := query.SourceNone; s <= query.SourcePolicy; s++ {
		want := s.String()
		if s == query.SourceNone {
			want = "local"
		}
		if got := sourceNames[sourceIndex(s)]; got != want {
			t.Errorf("source %v: %s", s, got)
		}
	}
}

// Recording a batch on a worker's own shard allocates nothing: it runs once per batch on the
// UDP hot path.
func BenchmarkShardRecord(b *testing.B) {
	rec := NewQueries().Recorder(query.UDP, true)
	batch := make([]query.Record, 32)
	for i := range batch {
		// One batch of a UDP worker: its answers share the clock readings.
		batch[i] = record(uint16(i%4), uint16(1+i%30), query.Source(1+i%6), query.CacheUse(i%3), 40*time.Microsecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec.Record(batch)
	}
	if allocs := testing.AllocsPerRun(100, func() { rec.Record(batch) }); allocs != 0 {
		b.Fatalf("%v allocs per batch; want 0", allocs)
	}
}

// The transports' shared Recorder spreads its batches over its stripes (so that cores counting at
// once seldom write one cache line) and every call for a transport gets the same one.
func TestSharedRecorderSpreads(t *testing.T) {
	q := NewQueries()
	rec := q.Recorder(query.TCP, false)
	if again := q.Recorder(query.TCP, false); again != rec {
		t.Fatal("a second shared Recorder for TCP is not the first")
	}
	batch := []query.Record{record(0, 1, query.SourceAuthority, query.CacheNone, time.Millisecond)}
	const batches = 400
	for range batches {
		rec.Record(batch)
	}
	used := 0
	var sum uint64
	for _, s := range q.snapshot() {
		if n := s.queries[rcodeIndex(0)][qtypeIndex(1)][sourceIndex(query.SourceAuthority)].Load(); n > 0 {
			used++
			sum += n
		}
	}
	if sum != batches || used < numStripes/2 {
		t.Fatalf("%d answers counted over %d stripes; want %d over at least %d", sum, used, batches, numStripes/2)
	}
}

// BenchmarkSharedRecord is the TCP listener's counting: goroutines on every core recording
// answers one at a time into the transport's shared Recorder (go test -cpu 1,2,4). cpu-ns/op is
// the process's CPU time per answer, which a cache line fought over between cores raises and
// which other programs on the machine do not.
func BenchmarkSharedRecord(b *testing.B) {
	rec := NewQueries().Recorder(query.TCP, false)
	b.ReportAllocs()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.RunParallel(func(pb *testing.PB) {
		batch := []query.Record{record(0, 1, query.SourceAuthority, query.CacheNone, 40*time.Microsecond)}
		for pb.Next() {
			rec.Record(batch)
		}
	})
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
