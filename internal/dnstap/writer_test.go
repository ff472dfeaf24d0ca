package dnstap

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"warden/internal/dnstest"
	"warden/internal/query"
)

// shortWaits makes the Writer retry and time out quickly for the test, restoring the times after.
func shortWaits(t *testing.T) {
	saved := []time.Duration{dialTimeout, writeTimeout, minBackoff, maxBackoff, finishAfter}
	dialTimeout, writeTimeout, minBackoff, maxBackoff, finishAfter = 300*time.Millisecond, 300*time.Millisecond, 20*time.Millisecond, 100*time.Millisecond, time.Second
	t.Cleanup(func() {
		dialTimeout, writeTimeout, minBackoff, maxBackoff, finishAfter = saved[0], saved[1], saved[2], saved[3], saved[4]
	})
}

// clientRecord is one answered RD=1 query for name.
func clientRecord(t *testing.T, id uint16, name string) query.Record {
	now := time.Now()
	return query.Record{Received: now, Sent: now, Client: netip.MustParseAddrPort("127.0.9.20:5353"), Transport: query.UDP,
		Query: message(t, id, name, true, false), Response: message(t, id, name, true, true)}
}

// waitSent waits until w has sent at least n messages, recording rec again every 50 ms (a
// record made while the collector was away may have been lost with the connection).
func waitSent(t *testing.T, w *Writer, n uint64, r interface{ Record([]query.Record) }, rec query.Record) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Sent < n {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s, %+v; want %d sent", w.Stats(), n)
		}
		r.Record([]query.Record{rec})
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReconnectAfterCollectorRestart stops the collector under a connected Writer and starts
// another on the same socket: the Writer must find it and send the later records to it.
func TestReconnectAfterCollectorRestart(t *testing.T) {
	shortWaits(t)
	dir := t.TempDir()
	first := dnstest.StartCollector(t, dir, "first")
	w := Open(Config{Network: "unix", Addr: first.Socket})
	t.Cleanup(func() { w.Close() })
	r := w.Recorder(query.UDP, true)
	r.Record([]query.Record{clientRecord(t, 1, "before.example.")})
	waitSent(t, w, 2, r, clientRecord(t, 1, "before.example."))
	first.Stop(t)

	second := dnstest.StartCollector(t, dir, "second")
	sentBefore := w.Stats().Sent
	waitSent(t, w, sentBefore+2, r, clientRecord(t, 2, "after.example."))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	second.Stop(t)
	if s := w.Stats(); s.Reconnects == 0 {
		t.Errorf("stats %+v: no reconnection counted", s)
	}
	found := false
	for _, m := range dnstest.ReadDnstap(t, second.File) {
		if m.Fields["type"] == "CLIENT_QUERY" && bytes.Contains([]byte(m.Query), []byte(";after.example.")) {
			found = true
		}
	}
	if !found {
		t.Errorf("the restarted collector got no CLIENT_QUERY for after.example.")
	}
}

// TestStalledCollectorDrops stops the collector's process: the Writer's ring fills, records are
// dropped and counted, and recording never waits. Once the collector goes on, records flow again.
func TestStalledCollectorDrops(t *testing.T) {
	shortWaits(t)
	dir := t.TempDir()
	col := dnstest.StartCollector(t, dir, "stalled")
	w := Open(Config{Network: "unix", Addr: col.Socket, QueueBytes: 1 << 16})
	t.Cleanup(func() { w.Close() })
	r := w.Recorder(query.UDP, true)
	rec := clientRecord(t, 1, "stall.example.")
	waitSent(t, w, 2, r, rec)
	if err := col.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = col.Resume()
		}
	})
	// Far more than the socket buffers and the ring hold together.
	batch := make([]query.Record, 64)
	for i := range batch {
		batch[i] = rec
	}
	// Recording that waited for the paused collector would never end: bound the wait.
	finished := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		for range 2000 {
			r.Record(batch)
		}
		finished <- time.Since(start)
	}()
	select {
	case took := <-finished:
		t.Logf("128000 records in %v", took)
	case <-time.After(10 * time.Second):
		_ = col.Resume()
		t.Fatal("recording into a stalled collector did not finish within 10s")
	}
	s := w.Stats()
	if s.Dropped == 0 {
		t.Errorf("stats %+v after 128000 records into a stalled collector: none dropped", s)
	}
	if err := col.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	sent := w.Stats().Sent
	waitSent(t, w, sent+2, r, rec)
}

// TestHandshakeRefused: a collector that accepts another content type is not written to.
func TestHandshakeRefused(t *testing.T) {
	a, b := netPipe(t)
	errc := make(chan error, 1)
	go func() { errc <- handshake(a) }()
	c, err := readControl(b)
	if err != nil || c.typ != controlReady || !c.accepts(ContentType) {
		t.Fatalf("first frame %+v %v, want READY with %s", c, err, ContentType)
	}
	if _, err := b.Write(appendControl(nil, controlAccept, "protobuf:other.Type")); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Fatal("handshake went on with a collector that does not accept dnstap")
	}
}

// TestRingWraps pushes entries of varied sizes through a small ring many times over, checking
// each comes out whole and in order.
func TestRingWraps(t *testing.T) {
	r := newRing(1 << 12)
	next, full := 0, uint64(0)
	for i := range 5000 {
		n := 1 + (i*37)%900
		b, head := r.reserve(n)
		if b == nil {
			full++
			// Full: read everything back first.
			for {
				e, tail := r.peek()
				if e == nil {
					break
				}
				if want := 1 + (next*37)%900; len(e) != want || e[0] != byte(next) {
					t.Fatalf("entry %d: %d bytes starting %d, want %d starting %d", next, len(e), e[0], want, byte(next))
				}
				r.release(tail)
				next++
			}
			if b, head = r.reserve(n); b == nil {
				t.Fatalf("entry %d of %d bytes does not fit an empty ring", i, n)
			}
		}
		for j := range b {
			b[j] = byte(i)
		}
		r.publish(head)
	}
	if r.dropped.Load() != full || r.queued.Load() != 5000 || full == 0 {
		t.Errorf("dropped %d, queued %d; the ring was full %d times", r.dropped.Load(), r.queued.Load(), full)
	}
}
