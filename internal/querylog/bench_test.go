package querylog

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"warden/internal/query"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bigDir != "" {
		_ = os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

// benchEntries makes n entries as a busy resolver would see them, but with names spread more
// evenly than traffic spreads them (a harder case for the writer and for searches): 500,000
// names each as likely, 5,000 clients, a few types, one answer in 50 from a policy rule.
func benchEntries(n int, start time.Time, seed uint64) []entry {
	return benchEntriesOf(n, 500_000, 5000, start, seed)
}

// benchEntriesOf is benchEntries with names names and clients clients.
func benchEntriesOf(n, names, clients int, start time.Time, seed uint64) []entry {
	r := rand.New(rand.NewPCG(seed, 2))
	es := make([]entry, n)
	for i := range es {
		k := r.IntN(names)
		name := fmt.Sprintf("host%d.zone%d.example.", k, k%977)
		client := r.IntN(clients)
		rec := query.Record{
			Received:  start.Add(time.Duration(i) * 5 * time.Microsecond),
			Sent:      start.Add(time.Duration(i)*5*time.Microsecond + time.Duration(r.IntN(500))*time.Microsecond),
			Client:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(client >> 8), byte(client)}), 40000),
			Transport: query.UDP,
			QType:     []uint16{1, 28, 65, 15, 16}[r.IntN(5)],
			Outcome:   query.Outcome{Source: query.SourceCache, Cache: query.CacheHit},
			QName:     wireName(name),
		}
		if i%50 == 0 {
			rec.Rcode, rec.Outcome = 3, query.Outcome{Source: query.SourcePolicy, PolicySet: "malware", PolicyRule: "*.bad.example"}
		}
		fill(&es[i], &rec)
	}
	return es
}

// BenchmarkWrite is the log's work per answer after the listener's copy: an entry turned into a
// row and written to a segment (Parquet, zstd, Bloom filters), as the collector and the writer
// do it, a second's batch at a time. rows/s is for one core when run with -cpu 1.
func BenchmarkWrite(b *testing.B) {
	benchmarkWrite(b, benchEntries(100_000, time.Now().Add(-time.Hour), 1))
}

// BenchmarkWriteRepeated is BenchmarkWrite with the names and clients of bench/auth.sh's run:
// 10,000 names and a few clients, so that the texts of names and clients are made once and
// found again, as on a server under dnsperf.
func BenchmarkWriteRepeated(b *testing.B) {
	benchmarkWrite(b, benchEntriesOf(100_000, 10_000, 4, time.Now().Add(-time.Hour), 1))
}

func benchmarkWrite(b *testing.B, es []entry) {
	batch := len(es)
	st, err := openStore(b.TempDir(), 0)
	if err != nil {
		b.Fatal(err)
	}
	cols := new(columns)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	written := 0
	for written < b.N {
		cols.reset()
		now := time.Now()
		for i := range min(batch, b.N-written) {
			cols.add(&es[i], now)
		}
		if err := st.write(cols, nil); err != nil {
			b.Fatal(err)
		}
		written += cols.len()
	}
	b.StopTimer()
	// The machine may be shared: the process's CPU time, not the wall clock, says what a core
	// does (the garbage collector's work included).
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "rows/cpu-s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/row")
	b.ReportMetric(float64(st.total)/float64(b.N), "bytes/row")
}

// cpuTime is the CPU time the process has used, user and system, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecord is the listener's side: a batch of 16 records copied into a ring, the way a
// UDP worker hands over a batch; the ring is emptied outside the timing.
func BenchmarkRecord(b *testing.B) {
	r := newRing(ringSize, true, 1)
	recs := make([]query.Record, 16)
	now := time.Now()
	for i := range recs {
		recs[i] = record("www.example.test.", "192.0.2.1", 1, now)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		r.Record(recs)
		if n += len(recs); n >= ringSize-len(recs) {
			b.StopTimer()
			r.drain(func(*entry) {})
			n = 0
			b.StartTimer()
		}
	}
	if r.dropped.Load() != 0 {
		b.Fatalf("%d dropped", r.dropped.Load())
	}
}

var (
	bigDir  string
	bigOnce sync.Once
	bigErr  error
	bigName string
)

// bigLog writes a log of 10 million rows once per process (a minute or so) into a temporary
// directory: 100 segments of a second's batch at 100,000 answers a second, one a minute over the
// last 100 minutes.
func bigLog(b *testing.B) string {
	bigOnce.Do(func() {
		bigDir, bigErr = os.MkdirTemp("", "warden-querylog-bench-")
		if bigErr != nil {
			return
		}
		st, err := openStore(bigDir, 0)
		if err != nil {
			bigErr = err
			return
		}
		start := time.Now().Add(-100 * time.Minute)
		const perSegment = 100_000
		rows := make([]Row, perSegment)
		for s := range 100 {
			es := benchEntries(perSegment, start.Add(time.Duration(s)*time.Minute), uint64(s))
			now := time.Now()
			for i := range es {
				rows[i] = rowOf(&es[i], now)
			}
			if s == 10 {
				bigName = rows[777].Name
			}
			if bigErr = st.write(columnsOf(rows), nil); bigErr != nil {
				return
			}
		}
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigDir
}

// BenchmarkSearch10M searches a log of 10 million rows: by a name (each name is in about 20
// rows), by a name no row has, by a client (in about 2,000 rows), with the default limit of
// 100. Each must take under a second.
func BenchmarkSearch10M(b *testing.B) {
	dir := bigLog(b)
	for _, c := range []struct {
		name string
		f    Filter
	}{
		{"name", Filter{Name: bigName}},
		{"absent-name", Filter{Name: "absent.example."}},
		{"client", Filter{Client: "10.0.19.135"}},
		{"client-since-1h", Filter{Client: "10.0.19.135", Since: time.Now().Add(-time.Hour)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				rows, err := Search(dir, c.f)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(len(rows)), "rows")
			}
		})
	}
}
