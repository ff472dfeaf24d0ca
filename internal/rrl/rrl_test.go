package rrl

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flood sends n identical responses per second for secs seconds, evenly spread, and counts what
// the limiter decides.
func flood(l *Limiter, k *Key, start time.Time, perSecond, secs int) (sent, dropped, slipped int) {
	for i := range perSecond * secs {
		now := start.Add(time.Duration(i) * time.Second / time.Duration(perSecond))
		switch l.Check(k, now) {
		case Send:
			sent++
		case Drop:
			dropped++
		case Slip:
			slipped++
		}
	}
	return
}

func TestFloodLimitedToRate(t *testing.T) {
	l := New(Config{Rate: 10, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
	k := &Key{Client: netip.MustParseAddr("192.0.2.7"), Class: Answer, QType: 1, Name: []byte("\x03www\x07example\x00")}
	sent, dropped, slipped := flood(l, k, l.start, 100, 5)
	// A second's credit at the start, then the rate.
	if sent < 55 || sent > 61 {
		t.Errorf("sent %d of 500 at 10/s over 5 s, want about 60", sent)
	}
	if d := dropped - slipped; d < -1 || d > 1 {
		t.Errorf("dropped %d, slipped %d: slip 2 should halve them", dropped, slipped)
	}
	c := l.Stats()
	if int(c.Dropped) != dropped || int(c.Slipped) != slipped {
		t.Errorf("counters %+v", c)
	}
	// Another client, another name, another type, another class: each its own credit.
	for _, other := range []Key{
		{Client: netip.MustParseAddr("192.0.3.7"), Class: Answer, QType: 1, Name: k.Name},
		{Client: k.Client, Class: Answer, QType: 1, Name: []byte("\x03ftp\x07example\x00")},
		{Client: k.Client, Class: Answer, QType: 28, Name: k.Name},
		{Client: k.Client, Class: NoData, QType: 1, Name: k.Name},
	} {
		if s, _, _ := flood(l, &other, l.start.Add(5*time.Second), 10, 1); s != 10 {
			t.Errorf("%+v: sent %d of 10 at the rate", other, s)
		}
	}
	// The same /24 is the same client.
	same := *k
	same.Client = netip.MustParseAddr("192.0.2.200")
	if l.Check(&same, l.start.Add(4990*time.Millisecond)) == Send {
		t.Error("a neighbour in the /24 has its own credit")
	}
	// After a quiet second the credit is back.
	if s, _, _ := flood(l, k, l.start.Add(7*time.Second), 10, 1); s != 10 {
		t.Errorf("after a pause, sent %d of 10", s)
	}
}

func TestSlipAndLogOnly(t *testing.T) {
	k := &Key{Client: netip.MustParseAddr("2001:db8::1"), Class: Error}
	for _, c := range []struct {
		slip          int
		logOnly       bool
		sent, slipped int
	}{{0, false, 9, 0}, {1, false, 9, 91}, {3, false, 9, 30}, {2, true, 100, 0}} {
		l := New(Config{Rate: 5, Slip: c.slip, IPv4Prefix: 24, IPv6Prefix: 56, LogOnly: c.logOnly}, nil)
		// 5 at once, then 5 a second: 9 by the end of the second.
		sent, _, slipped := flood(l, k, l.start, 100, 1)
		if sent != c.sent || slipped != c.slipped {
			t.Errorf("slip %d log-only %t: sent %d slipped %d, want %d %d", c.slip, c.logOnly, sent, slipped, c.sent, c.slipped)
		}
		if c.logOnly && l.Stats().WouldLimit != 91 {
			t.Errorf("log-only counted %d", l.Stats().WouldLimit)
		}
	}
}

func TestReportOncePerWindow(t *testing.T) {
	var calls []Counters
	l := New(Config{Rate: 1, Slip: 0, Window: 10 * time.Second, IPv4Prefix: 24, IPv6Prefix: 56}, func(total, delta Counters) {
		calls = append(calls, delta)
	})
	k := &Key{Client: netip.MustParseAddr("192.0.2.1"), Class: Error}
	flood(l, k, l.start, 10, 25)
	if len(calls) != 3 {
		t.Fatalf("%d reports in 25 s with a 10 s window: %+v", len(calls), calls)
	}
}

func TestCheckAllocs(t *testing.T) {
	l := New(Config{Rate: 10, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
	k := &Key{Client: netip.MustParseAddr("192.0.2.7"), Class: Answer, QType: 1, Name: []byte("\x03www\x00")}
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() { l.Check(k, now) }); n != 0 {
		t.Fatalf("%v allocs per check", n)
	}
}

func BenchmarkCheck(b *testing.B) {
	l := New(Config{Rate: 1000, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
	k := &Key{Client: netip.MustParseAddr("192.0.2.7"), Class: Answer, QType: 1, Name: []byte("\x03www\x07example\x04test\x00")}
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Check(k, now)
		}
	})
}

// Stats counts the table's entries and, from many goroutines limiting many keys at once, every
// limited response exactly once; ContinueFrom carries the totals over to a new limiter.
func TestStats(t *testing.T) {
	l := New(Config{Rate: 1, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
	if st := l.Stats(); st.Entries != 0 || st.Capacity != ways<<groupBits || st.Counters != (Counters{}) {
		t.Fatalf("a new limiter: %+v", st)
	}
	const workers, keys, each = 4, 50, 40
	now := l.start
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range keys {
				k := &Key{Client: netip.AddrFrom4([4]byte{10, byte(w), byte(i), 1}), Class: Answer, QType: 1, Name: []byte("\x01x\x00")}
				for range each {
					l.Check(k, now)
				}
			}
		}()
	}
	wg.Wait()
	st := l.Stats()
	// Each key: one response sent (a second's credit at rate 1), the rest limited, every second
	// one of them slipped.
	limited := workers * keys * (each - 1)
	if got := st.Dropped + st.Slipped; got != uint64(limited) || st.Slipped != uint64(workers*keys*((each-1)/2)) {
		t.Errorf("dropped %d slipped %d, want %d limited, half slipped", st.Dropped, st.Slipped, limited)
	}
	// Keys may collide in a set and evict each other; nearly all hold a word.
	if st.Entries < workers*keys*9/10 || st.Entries > workers*keys {
		t.Errorf("%d entries for %d keys", st.Entries, workers*keys)
	}

	next := New(Config{Rate: 2, Slip: 0, IPv4Prefix: 24, IPv6Prefix: 56, LogOnly: true}, nil)
	next.ContinueFrom(l)
	k := &Key{Client: netip.MustParseAddr("192.0.2.1"), Class: Error}
	flood(next, k, next.start, 10, 1)
	got := next.Stats()
	if got.Dropped != st.Dropped || got.Slipped != st.Slipped || got.WouldLimit == 0 || got.Entries != 1 {
		t.Errorf("after ContinueFrom: %+v, carried from %+v", got, st.Counters)
	}
}

func TestStatsAllocs(t *testing.T) {
	l := New(Config{Rate: 1, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
	if n := testing.AllocsPerRun(10, func() { l.Stats() }); n != 0 {
		t.Fatalf("%v allocs per Stats", n)
	}
}

// BenchmarkCheckLimited is a flood of many keys, all over the rate, checked from every core at
// once: each check counts a limited response, so it measures the counters' contention.
func BenchmarkCheckLimited(b *testing.B) {
	l := New(Config{Rate: 1, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
	now := time.Now()
	var next atomic.Uint32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		n := next.Add(1)
		keys := make([]Key, 64)
		for i := range keys {
			keys[i] = Key{Client: netip.AddrFrom4([4]byte{10, byte(n), byte(i), 1}), Class: Answer, QType: 1, Name: []byte("\x03www\x00")}
		}
		i := 0
		for pb.Next() {
			l.Check(&keys[i%len(keys)], now)
			i++
		}
	})
}

// BenchmarkStats is the cost of one snapshot: the walk of the table.
func BenchmarkStats(b *testing.B) {
	l := New(Config{Rate: 1, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
	b.ReportAllocs()
	for b.Loop() {
		l.Stats()
	}
}
