package metrics

import (
	"net/netip"
	"testing"
	"time"

	"warden/internal/rrl"
)

// The rate limiter's counters are exported as they stand, at 0 while limiting is off, and follow
// the limiter in force when a reload replaces it.
func TestRRLExported(t *testing.T) {
	var l *rrl.Limiter
	reg := New(Sources{RateLimit: func() *rrl.Limiter { return l }})
	value := func(name string) float64 {
		t.Helper()
		f := gather(t, reg)[name]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Fatalf("%s: %v", name, f)
		}
		m := f.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	for _, name := range []string{"warden_rrl_dropped_total", "warden_rrl_slipped_total", "warden_rrl_would_limit_total", "warden_rrl_entries", "warden_rrl_capacity"} {
		if v := value(name); v != 0 {
			t.Errorf("limiting off: %s = %v, want 0", name, v)
		}
	}
	l = rrl.New(rrl.Config{Rate: 1, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
	k := &rrl.Key{Client: netip.MustParseAddr("198.18.0.1"), Class: rrl.Answer, QType: 1, Name: []byte("\x01x\x00")}
	now := time.Now()
	for range 9 {
		l.Check(k, now)
	}
	st := l.Stats()
	if st.Dropped+st.Slipped == 0 {
		t.Fatalf("the limiter limited nothing: %+v", st)
	}
	for name, want := range map[string]float64{
		"warden_rrl_dropped_total": float64(st.Dropped), "warden_rrl_slipped_total": float64(st.Slipped),
		"warden_rrl_entries": 1, "warden_rrl_capacity": float64(st.Capacity),
	} {
		if v := value(name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}
