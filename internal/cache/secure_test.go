package cache

import (
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
)

// TestSecureAnswersCarryAD: an answer stored as validated gets AD=1 on hits for clients that set
// DO or AD, and only for them (RFC 6840 §5.8); one stored unvalidated never does.
func TestSecureAnswersCarryAD(t *testing.T) {
	c := newCache(Config{}, newClock())
	for _, x := range []struct {
		name   string
		secure bool
	}{{"signed.example.test.", true}, {"unsigned.example.test.", false}} {
		for _, do := range []bool{false, true} {
			a := Answer{Name: request(t, ask{name: x.name, qtype: dns.TypeA}).Lower(), Type: dns.TypeA, Class: dns.ClassINET, DO: do, Secure: x.secure,
				Answer: rrs(t, []string{x.name + " 300 IN A 192.0.2.1"})}
			if err := c.PutAnswer(a, RankAuthAnswer); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, x := range []struct {
		name   string
		do, ad bool
		wantAD bool
	}{
		{"signed.example.test.", false, false, false},
		{"signed.example.test.", true, false, true},
		{"signed.example.test.", false, true, true},
		{"unsigned.example.test.", true, false, false},
		{"unsigned.example.test.", false, true, false},
	} {
		req := request(t, ask{name: x.name, qtype: dns.TypeA, do: x.do})
		if x.ad {
			req.Wire[3] |= byte(query.FlagAD)
			req.Parse()
		}
		out, st := c.Get(req, make([]byte, 0, 65535))
		if !st.Found() {
			t.Fatalf("%s: miss", x.name)
		}
		if got := out[3]&byte(query.FlagAD) != 0; got != x.wantAD {
			t.Errorf("%s DO=%t AD=%t: AD %t, want %t", x.name, x.do, x.ad, got, x.wantAD)
		}
	}
}

func secureCache(tb testing.TB) (*Cache, *query.Request) {
	tb.Helper()
	c := newCache(Config{}, newClock())
	name := "signed.example.test."
	a := Answer{Name: request(tb, ask{name: name, qtype: dns.TypeA}).Lower(), Type: dns.TypeA, Class: dns.ClassINET, DO: true, Secure: true,
		Answer: rrs(tb, []string{name + " 300 IN A 192.0.2.1",
			name + " 300 IN RRSIG A 13 4 300 20260101000000 20250101000000 12345 example.test. c2lnbmF0dXJlIG9mIHRoZSB0ZXN0"})}
	if err := c.PutAnswer(a, RankAuthAnswer); err != nil {
		tb.Fatal(err)
	}
	return c, request(tb, ask{name: name, qtype: dns.TypeA, do: true})
}

// TestSecureHitDoesNotAllocate: the AD bit costs a hit nothing.
func TestSecureHitDoesNotAllocate(t *testing.T) {
	c, req := secureCache(t)
	out := make([]byte, 0, 1232)
	allocs := testing.AllocsPerRun(100, func() {
		var st Status
		if out, st = c.Get(req, out[:0]); st != Hit || out[3]&byte(query.FlagAD) == 0 {
			t.Fatalf("status %s, AD %t", st, out[3]&byte(query.FlagAD) != 0)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per secure hit", allocs)
	}
}

// BenchmarkGetHitSecure is BenchmarkGetHit for a validated answer asked with DO=1: the RRSIG
// rendered and AD set.
func BenchmarkGetHitSecure(b *testing.B) {
	c, req := secureCache(b)
	out := make([]byte, 0, 1232)
	b.ReportAllocs()
	for b.Loop() {
		var st Status
		if out, st = c.Get(req, out[:0]); st != Hit {
			b.Fatalf("status %s", st)
		}
	}
}
