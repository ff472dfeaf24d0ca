package pipeline_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/cache"
	"warden/internal/dnstest"
	"warden/internal/lab"
	"warden/internal/lab/labtest"
	"warden/internal/pipeline"
	"warden/internal/resolver"
	"warden/internal/server"
	"warden/internal/upstream"
	"warden/internal/wire"
)

// TestRecursionThroughLab runs Warden as a resolver over the mini internet and compares its answers
// with Unbound's, over UDP (answered from the resolving goroutine) and TCP.
func TestRecursionThroughLab(t *testing.T) {
	l := labtest.Start(t)
	unbound := dnstest.StartUnbound(t, l.RootHints())
	pipe, warden := serveRecursion(t, labRecursor(t, l))

	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.shop.example.", dns.TypeA}, {"Cdn.Shop.Example.", dns.TypeA}, {"www.legacy.shop.example.", dns.TypeA},
		{"post.blog.example.", dns.TypeTXT}, {"a.b.wild.org.", dns.TypeA}, {"www.moved.example.", dns.TypeA},
		{"www.flaky.example.", dns.TypeA}, {"nothere.shop.example.", dns.TypeA}, {"shop.example.", dns.TypeMX},
		{"txt.big.example.", dns.TypeTXT},
	} {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(network+" "+q.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				m := dns.NewMsg(q.name, q.qtype)
				m.UDPSize = 1232
				got, err := dns.Exchange(ctx, m, network, warden)
				if err != nil {
					t.Fatal(err)
				}
				want, err := dns.Exchange(ctx, m, network, unbound)
				if err != nil {
					t.Fatal(err)
				}
				if got.Truncated && network == "udp" {
					return // the TCP run compares the whole answer
				}
				if got.Rcode != want.Rcode || !got.RecursionAvailable || got.Question[0].Header().Name != q.name {
					t.Fatalf("rcode %d ra %v question %s; Unbound rcode %d", got.Rcode, got.RecursionAvailable, got.Question[0].Header().Name, want.Rcode)
				}
				if g, w := answerSet(got.Answer), answerSet(want.Answer); !slices.Equal(g, w) {
					t.Fatalf("answer\n got  %q\n want %q", g, w)
				}
			})
		}
	}

	// With the whole mini internet gone, what was resolved is still answered, from the cache, and
	// a non-recursive query gets it too.
	_ = l.Close()
	for _, rd := range []bool{true, false} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		m := dns.NewMsg("WWW.shop.example.", dns.TypeA)
		m.RecursionDesired = rd
		r, err := dns.Exchange(ctx, m, "udp", warden)
		cancel()
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].Header().Name != "WWW.shop.example." {
			t.Fatalf("from the cache (rd=%v): %v %v", rd, r, err)
		}
	}

	// Clients outside the allowed networks are refused.
	if rec2 := pipeline.NewRecursor(pipeline.RecursorConfig{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Exchanger: resolver.NewUpstreams(53, time.Second), Timeout: time.Second, MaxConcurrent: 1}); rec2 != nil {
		empty, _ := authority.New(nil)
		pipe.Update(func(s *pipeline.Snapshot) { s.Authority, s.Recursion = empty, rec2 })
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		r, err := dns.Exchange(ctx, dns.NewMsg("www.shop.example.", dns.TypeA), "udp", warden)
		if err != nil || r.Rcode != dns.RcodeRefused {
			t.Fatalf("a client outside the allowed networks: %v %v", r, err)
		}
	}
}

func answerSet(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		f := strings.Fields(rr.String())
		out = append(out, strings.ToLower(f[0]+" "+strings.Join(f[2:], " ")))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestForwarding sends a zone's questions to upstream resolvers: a silent one first, then a real
// knotd; the silent one is passed over, the answer is Knot's, and then comes from the cache.
func TestForwarding(t *testing.T) {
	knot := dnstest.StartKnot(t, dnstest.TestZones())
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var ups []upstream.Upstream
	for _, a := range []string{silent.LocalAddr().String(), knot} {
		up, err := upstream.ParseAddrOptions(a, upstream.Options{Timeout: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, up)
	}
	_, addr := serveRecursion(t, pipeline.NewRecursor(pipeline.RecursorConfig{
		Allow:     []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Exchanger: resolver.NewUpstreams(53, time.Second), Timeout: 3 * time.Second, MaxConcurrent: 10,
		Forwards: []pipeline.Forward{{Zone: "example.test.", Upstreams: ups}},
	}))
	ask := func(name string, network string) *dns.Msg {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := dns.Exchange(ctx, dns.NewMsg(name, dns.TypeA), network, addr)
		if err != nil {
			t.Fatalf("%s over %s: %v", name, network, err)
		}
		return r
	}
	for _, network := range []string{"udp", "tcp"} {
		r := ask("WWW.example.test.", network)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !r.RecursionAvailable || r.Answer[0].Header().Name != "WWW.example.test." {
			t.Fatalf("over %s: %v", network, r)
		}
	}
	if r := ask("nothere.example.test.", "udp"); r.Rcode != dns.RcodeNameError {
		t.Fatalf("NXDOMAIN not passed on: %v", r)
	}
	// Outside every forwarded zone, and with no root hints, there is nobody to ask.
	if r := ask("www.other.example.", "udp"); r.Rcode != dns.RcodeRefused {
		t.Fatalf("outside the forwarded zones: %v", r)
	}
}

// Special-use names are answered by the resolver itself, never sent anywhere.
func TestSpecialUseNames(t *testing.T) {
	local, err := pipeline.NewSpecialUse(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := serveRecursion(t, pipeline.NewRecursor(pipeline.RecursorConfig{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: time.Second, MaxConcurrent: 1,
		Local: local, LocalExcept: []string{"corp.home.arpa."},
	}))
	for _, tt := range []struct {
		name  string
		qtype uint16
		rcode int
		want  string
	}{
		{"localhost.", dns.TypeA, dns.RcodeSuccess, "127.0.0.1"},
		{"LocalHost.", dns.TypeAAAA, dns.RcodeSuccess, "::1"},
		{"app.localhost.", dns.TypeA, dns.RcodeSuccess, "127.0.0.1"},
		{"1.0.0.127.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "localhost."},
		{"www.test.", dns.TypeA, dns.RcodeNameError, ""},
		{"hidden.onion.", dns.TypeA, dns.RcodeNameError, ""},
		{"5.1.168.192.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, ""},
		{"printer.home.arpa.", dns.TypeA, dns.RcodeNameError, ""},
		// An operator's zone under a special-use name is not answered locally; with no hints or
		// forwarders configured here, nobody answers it.
		{"nas.corp.home.arpa.", dns.TypeA, dns.RcodeRefused, ""},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := dns.Exchange(ctx, dns.NewMsg(tt.name, tt.qtype), "udp", addr)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if int(r.Rcode) != tt.rcode {
			t.Errorf("%s: rcode %d, want %d", tt.name, r.Rcode, tt.rcode)
			continue
		}
		if tt.want != "" && (len(r.Answer) != 1 || !strings.HasSuffix(r.Answer[0].String(), tt.want) || !r.RecursionAvailable) {
			t.Errorf("%s: %v", tt.name, r.Answer)
		}
	}
}

// TestPoisonRejected: a server that adds records for a zone it does not serve (an address for
// www.bank.example. in every section, a delegation of bank.example. to itself) must get none of
// them into the cache or to a client.
func TestPoisonRejected(t *testing.T) {
	l := labtest.Start(t)
	_, addr := serveRecursion(t, labRecursor(t, l))
	ask := func(name string, rd bool) *dns.Msg {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m := dns.NewMsg(name, dns.TypeA)
		m.RecursionDesired = rd
		r, err := dns.Exchange(ctx, m, "udp", addr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return r
	}
	r := ask("www.evil.example.", true)
	if len(r.Answer) != 1 || !strings.HasSuffix(r.Answer[0].String(), "127.0.9.66") {
		t.Fatalf("the poisoning server's own name: %v", r.Answer)
	}
	for _, sec := range [][]dns.RR{r.Answer, r.Ns, r.Extra} {
		for _, rr := range sec {
			if strings.Contains(strings.ToLower(rr.Header().Name), "bank.example.") {
				t.Fatalf("forged record passed to the client: %s", rr)
			}
		}
	}
	// Nothing about www.bank.example. entered the cache: without recursion it is not known.
	if r := ask("www.bank.example.", false); r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
		t.Fatalf("forged data in the cache: %v", r)
	}
	// Resolved properly, it is the bank's own address.
	if r := ask("www.bank.example.", true); len(r.Answer) != 1 || !strings.HasSuffix(r.Answer[0].String(), "127.0.9.90") {
		t.Fatalf("www.bank.example.: %v (forged address is %s)", r.Answer, lab.PoisonAddr)
	}
}

// serveRecursion runs a pipeline with no zones and rec as its resolution stage on a loopback port
// for the rest of the test, and returns it with the address.
func serveRecursion(t *testing.T, rec *pipeline.Recursor) (*pipeline.Pipeline, string) {
	t.Helper()
	empty, _ := authority.New(nil)
	pipe := pipeline.NewPipeline(wire.Limits{UDPPayload: 1232}, &pipeline.Snapshot{Authority: empty, Recursion: rec})
	ln, err := server.Listen(server.ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, pipe, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return pipe, ln.UDPAddr().String()
}

// labRecursor resolves from the mini internet's root for loopback clients.
func labRecursor(t *testing.T, l *lab.Lab) *pipeline.Recursor {
	t.Helper()
	hints, err := resolver.ParseHints([]byte(l.RootHints()), "lab hints")
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.NewRecursor(pipeline.RecursorConfig{
		Hints: hints, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Exchanger: resolver.NewUpstreams(53, 700*time.Millisecond), Timeout: 8 * time.Second, MaxConcurrent: 100,
	})
}

// An answer still asked for shortly before it expires is refreshed in the background.
func TestPrefetch(t *testing.T) {
	knot := dnstest.StartKnot(t, dnstest.TestZones())
	up, err := upstream.ParseAddr(knot)
	if err != nil {
		t.Fatal(err)
	}
	var offset atomic.Int64 // seconds the test clock runs ahead
	start := time.Now()
	c := cache.New(cache.Config{Now: func() time.Time { return start.Add(time.Duration(offset.Load()) * time.Second) }})
	_, addr := serveRecursion(t, pipeline.NewRecursor(pipeline.RecursorConfig{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: 3 * time.Second, MaxConcurrent: 10,
		Cache: c, Forwards: []pipeline.Forward{{Zone: "example.test.", Upstreams: []upstream.Upstream{up}}},
	}))
	ttl := func() uint32 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		r, err := dns.Exchange(ctx, dns.NewMsg("www.example.test.", dns.TypeA), "udp", addr)
		if err != nil || len(r.Answer) == 0 {
			t.Fatalf("%v %v", r, err)
		}
		return r.Answer[0].Header().TTL
	}
	full := ttl()
	offset.Store(int64(full) - int64(full)/20) // 5 % of the lifetime left
	if left := ttl(); left > full/10 {
		t.Fatalf("TTL %d of %d: the clock did not move", left, full)
	}
	deadline := time.Now().Add(3 * time.Second)
	for ttl() < full-1 {
		if time.Now().After(deadline) {
			t.Fatal("the answer was not refreshed before it expired")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
