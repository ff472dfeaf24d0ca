package rrl

import (
	"net/netip"
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
	c := l.Counters()
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
		if c.logOnly && l.Counters().LogOnly != 91 {
			t.Errorf("log-only counted %d", l.Counters().LogOnly)
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
