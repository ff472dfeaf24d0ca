package dnstap

import (
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"warden/internal/dnstest"
	"warden/internal/query"
)

// BenchmarkWriterUDP is dnstap's whole cost per answer on a server: a UDP worker's batch of 32
// answers encoded into its ring, and the Writer's goroutine writing the frames to fstrm_capture
// (its file /dev/null, on the CPUs the benchmark is not pinned to). The loop sleeps while the
// ring is more than half full, past the point where a Writer holding a batch is woken, so that
// nothing is dropped and the loop does not wait out the Writer's hold. cpu-ns/exchange is the
// process's CPU time (both goroutines, the kernel's work for the writes) per exchange sent; with
// -cpu 1 it is what one core pays.
func BenchmarkWriterUDP(b *testing.B) {
	dir := b.TempDir()
	col := dnstest.StartCollectorTo(b, dir, "/dev/null")
	pinAway(b, col.PID())
	w := Open(Config{Network: "unix", Addr: col.Socket, Identity: []byte("bench")})
	defer w.Close()
	rec := w.Recorder(query.UDP, true)
	batch := benchBatch(b)
	deadline := time.Now().Add(10 * time.Second)
	for !w.Stats().Connected {
		if time.Now().After(deadline) {
			b.Fatal("not connected to fstrm_capture within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	start := w.Stats()
	b.ResetTimer()
	for n := 0; n < b.N; n += len(batch) {
		rec.Record(batch[:min(len(batch), b.N-n)])
		// Sleeping, not yielding: a loop that yields spins while the Writer waits for the
		// collector, and its CPU would count as dnstap's.
		for w.Stats().QueuedBytes > DefaultQueueBytes/2 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	// Everything queued is written out before the clock stops.
	for s := w.Stats(); s.Queued-start.Queued > (s.Sent-start.Sent)/2+(s.Dropped-start.Dropped); s = w.Stats() {
		if time.Now().After(deadline.Add(time.Minute)) {
			b.Fatalf("stats %+v: the queue did not empty", s)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	s := w.Stats()
	sent := float64(s.Sent-start.Sent) / 2
	if sent == 0 {
		b.Fatalf("stats %+v: nothing sent", s)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/sent, "cpu-ns/exchange")
	b.ReportMetric(float64(s.Dropped-start.Dropped)/float64(b.N), "dropped/op")
}

// cpuTime is the CPU time the process has used, user and system, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWriterPaced is dnstap's cost on a server that is busy but not saturated: a UDP
// worker's batches of 32 answers at a steady rate, those due each millisecond (the rate sub-benchmark's name gives, in
// exchanges a second), so the Writer's goroutine finds its rings run empty between its reads,
// holds batches and is woken as on such a server; BenchmarkWriterUDP, whose loop never sleeps,
// does not show that. "off" runs the same paced loop with no Recorder: the difference of the two
// cpu-ns/exchange is what dnstap costs, timers and wake-ups of the loop itself taken out. Run it
// with -cpu 1 and the process pinned to one core (taskset), as a GOMAXPROCS=1 server.
func BenchmarkWriterPaced(b *testing.B) {
	for _, rate := range []int{50_000, 150_000} {
		for _, on := range []bool{false, true} {
			name := "off"
			if on {
				name = "on"
			}
			b.Run(fmt.Sprintf("rate=%d/%s", rate, name), func(b *testing.B) { benchPaced(b, rate, on) })
		}
	}
}

func benchPaced(b *testing.B, rate int, on bool) {
	batch := benchBatch(b)
	var rec interface{ Record([]query.Record) }
	var w *Writer
	if on {
		col := dnstest.StartCollectorTo(b, b.TempDir(), "/dev/null")
		pinAway(b, col.PID())
		w = Open(Config{Network: "unix", Addr: col.Socket, Identity: []byte("bench")})
		defer w.Close()
		rec = w.Recorder(query.UDP, true)
		waitConnected(b, w)
	}
	b.ReportAllocs()
	var start Stats
	if w != nil {
		start = w.Stats()
	}
	cpu0 := cpuTime()
	began := time.Now()
	b.ResetTimer()
	// Every millisecond, the batches due by then: a sleep per batch would cost more than
	// dnstap itself and drown it in the timers' noise.
	for n, tick := 0, 1; n < b.N; tick++ {
		due := min(b.N, rate*tick/1000)
		for ; n < due; n += len(batch) {
			if rec != nil {
				rec.Record(batch[:min(len(batch), b.N-n)])
			}
		}
		if d := time.Until(began.Add(time.Duration(tick) * time.Millisecond)); d > 0 {
			time.Sleep(d)
		}
	}
	if w != nil {
		waitWritten(b, w, start)
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/exchange")
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "exchanges/s")
	if w != nil {
		s := w.Stats()
		if s.Sent == start.Sent {
			b.Fatalf("stats %+v: nothing sent", s)
		}
		b.ReportMetric(float64(s.Dropped-start.Dropped)/float64(b.N), "dropped/op")
	}
}

// pinAway moves the collector's process to the CPUs this process is not pinned to, if it is
// pinned (taskset), as bench/auth.sh runs it beside dnsperf: the collector is another machine's
// work, and on the benchmark's own CPU it would compete with the Writer and make it drop.
func pinAway(b *testing.B, pid int) {
	var mine, other unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mine); err != nil {
		b.Fatal(err)
	}
	for cpu := range runtime.NumCPU() {
		if !mine.IsSet(cpu) {
			other.Set(cpu)
		}
	}
	if other.Count() == 0 {
		return
	}
	if err := unix.SchedSetaffinity(pid, &other); err != nil {
		b.Fatal(err)
	}
}

// benchBatch is a UDP worker's batch of 32 answers to one A question, RD=0.
func benchBatch(b *testing.B) []query.Record {
	q := dnstest.NewWire(1, 0)
	if err := q.Question("host1234.bench.test.", 1, 1); err != nil {
		b.Fatal(err)
	}
	a := dnstest.NewWire(1, 1<<15|1<<10)
	if err := a.Question("host1234.bench.test.", 1, 1); err != nil {
		b.Fatal(err)
	}
	resp := append(a.Bytes(), make([]byte, 40)...) // about an A answer's size
	batch := make([]query.Record, 32)
	now := time.Now()
	for i := range batch {
		batch[i] = query.Record{Received: now, Sent: now, Client: netip.MustParseAddrPort("127.0.33.9:40000"),
			Transport: query.UDP, Query: q.Bytes(), Response: resp}
	}
	return batch
}

func waitConnected(b *testing.B, w *Writer) {
	deadline := time.Now().Add(10 * time.Second)
	for !w.Stats().Connected {
		if time.Now().After(deadline) {
			b.Fatal("not connected to fstrm_capture within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitWritten waits until everything queued since start is sent or dropped, within a minute.
func waitWritten(b *testing.B, w *Writer, start Stats) {
	deadline := time.Now().Add(time.Minute)
	for s := w.Stats(); s.Queued-start.Queued > (s.Sent-start.Sent)/2+(s.Dropped-start.Dropped); s = w.Stats() {
		if time.Now().After(deadline) {
			b.Fatalf("stats %+v: the queue did not empty", s)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkRecorderUDP is the listener's side alone: a UDP worker's batch of 32 answers put in
// its ring, the ring then emptied at once by the loop itself (the Writer has no collector, so
// its goroutine waits to reconnect and never reads), so that every record takes the full path
// and none is dropped. ns/op is per answer; cpu-ns/op is the process's CPU time per answer,
// which a loaded machine inflates less than the wall clock.
func BenchmarkRecorderUDP(b *testing.B) {
	w := Open(Config{Network: "unix", Addr: b.TempDir() + "/none.sock", Identity: []byte("bench")})
	defer w.Close()
	rec := w.Recorder(query.UDP, true).(*recorder)
	batch := benchBatch(b)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for n := 0; n < b.N; n += len(batch) {
		rec.Record(batch[:min(len(batch), b.N-n)])
		rec.ring.release(rec.ring.head.Load())
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	if d := rec.ring.dropped.Load(); d != 0 {
		b.Fatalf("%d records dropped", d)
	}
}
