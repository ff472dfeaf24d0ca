package pipeline

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/query"
	"warden/internal/upstream"
	"warden/internal/wire"
)

// switchable is a forwarder that answers every question with an A record while working, and fails
// at once while broken.
type switchable struct {
	working atomic.Bool
	calls   atomic.Int32
	last    atomic.Value // the last question, "name type"
}

func (s *switchable) Addr() string          { return "switchable" }
func (s *switchable) Stats() upstream.Stats { return upstream.Stats{} }

func (s *switchable) Exchange(_ context.Context, q *upstream.Query) (*upstream.Reply, error) {
	s.calls.Add(1)
	s.last.Store(wire.NameString(q.Name) + " " + dns.TypeToString[q.Type])
	if !s.working.Load() {
		return nil, errors.New("connection refused")
	}
	name := wire.NameString(q.Name)
	m := dns.NewMsg(name, q.Type)
	m.Response, m.RecursionAvailable, m.RecursionDesired = true, true, true
	if q.Type == dns.TypeA {
		rr, _ := dns.New(name + " 300 IN A 192.0.2.53")
		m.Answer = []dns.RR{rr}
	}
	if err := m.Pack(); err != nil {
		return nil, err
	}
	return &upstream.Reply{Data: m.Data, Flags: uint16(m.Data[2])<<8 | uint16(m.Data[3])}, nil
}

// An upstream that fails twice in a row is down: the healthy one is asked first from then on, the
// down one gets a health check at most once per probeInterval, and after a check succeeds it is
// asked first again.
func TestForwardHealth(t *testing.T) {
	flaky, good := &switchable{}, &switchable{}
	good.working.Store(true)
	rec := NewRecursor(RecursorConfig{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: time.Second, MaxConcurrent: 4,
		Forwards: []Forward{{Zone: "corp.example.", Upstreams: []upstream.Upstream{flaky, good}}},
	})
	n := 0
	ask := func() {
		t.Helper()
		n++
		m := dns.NewMsg("h"+string(rune('a'+n))+".corp.example.", dns.TypeA)
		m.RecursionDesired = true
		if err := m.Pack(); err != nil {
			t.Fatal(err)
		}
		req := &query.Request{Wire: m.Data, Transport: query.TCP, Client: netip.MustParseAddrPort("127.0.0.1:5353")}
		req.Parse()
		out := rec.Serve(req, make([]byte, 0, 512))
		if len(out) < 4 || out[3]&0xf != dns.RcodeSuccess {
			t.Fatalf("question %d not answered: %x", n, out)
		}
	}
	ask()
	ask() // the second failure in a row: flaky is down
	if flaky.calls.Load() != 2 || !rec.fwd[0].targets[0].down.Load() {
		t.Fatalf("flaky asked %d times, down %v; want 2 and down", flaky.calls.Load(), rec.fwd[0].targets[0].down.Load())
	}
	ask() // the healthy one first; flaky gets one health check
	dnstest.WaitUntil(t, "the end of the health check", func() bool { return !rec.fwd[0].targets[0].probing.Load() })
	ask() // within probeInterval: no second check
	if got := flaky.calls.Load(); got != 3 {
		t.Fatalf("flaky asked %d times while down; want 2 questions and 1 health check", got)
	}
	if got := flaky.last.Load(); got != "corp.example. SOA" {
		t.Fatalf("the health check asked %v; want the forwarded zone's SOA", got)
	}

	flaky.working.Store(true)
	rec.fwd[0].targets[0].lastProbe.Store(time.Now().Add(-2 * probeInterval).UnixNano())
	ask() // the check succeeds in the background
	dnstest.WaitUntil(t, "the successful health check to bring the upstream back", func() bool { return !rec.fwd[0].targets[0].down.Load() })
	before := flaky.calls.Load()
	ask()
	if flaky.calls.Load() != before+1 {
		t.Fatal("the recovered upstream was not asked first")
	}
}
