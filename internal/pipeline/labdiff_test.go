package pipeline_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/lab"
	"warden/internal/lab/labtest"
)

// labCorpus is every owner name of the mini internet's zones, a name below each that does not
// exist, and each asked for several types.
func labCorpus(t *testing.T) []dns.RR {
	t.Helper()
	seen := map[string]bool{}
	var names []string
	for _, s := range lab.Hierarchy() {
		for _, z := range s.Zones {
			zp := dns.NewZoneParser(strings.NewReader(z.Text), z.Origin, "")
			for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
				n := strings.ToLower(rr.Header().Name)
				if strings.HasPrefix(n, "*.") {
					n = "any" + n[1:]
				}
				if !seen[n] && n != "." {
					seen[n] = true
					names = append(names, n)
				}
			}
		}
	}
	slices.Sort(names)
	var qs []dns.RR
	for _, n := range names {
		for _, typ := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT, dns.TypeNS, dns.TypeSOA} {
			q := dns.TypeToRR[typ]()
			q.Header().Name, q.Header().Class = n, dns.ClassINET
			qs = append(qs, q)
		}
		q := dns.TypeToRR[dns.TypeA]()
		q.Header().Name, q.Header().Class = "nonexistent-"+n, dns.ClassINET
		qs = append(qs, q)
	}
	return qs
}

// TestLabDifferentialUnbound: Warden as a resolver and Unbound, both starting from the mini
// internet's root, must give the same rcode and answer (as a set, TTLs aside) for every question
// of the corpus.
func TestLabDifferentialUnbound(t *testing.T) {
	l := labtest.Start(t)
	unbound := dnstest.StartUnbound(t, l.RootHints())
	_, warden := serveRecursion(t, labRecursor(t, l))
	corpus := labCorpus(t)
	if len(corpus) < 300 {
		t.Fatalf("corpus of %d questions; at least 300 wanted", len(corpus))
	}
	differ := 0
	for _, q := range corpus {
		ask := func(addr string) *dns.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m := &dns.Msg{Question: []dns.RR{q}}
			m.ID, m.RecursionDesired, m.UDPSize = dns.ID(), true, 1232
			r, err := dns.Exchange(ctx, m, "udp", addr)
			if err == nil && r.Truncated {
				r, err = dns.Exchange(ctx, m, "tcp", addr)
			}
			if err != nil {
				t.Fatalf("%s %s to %s: %v", q.Header().Name, dns.TypeToString[dns.RRToType(q)], addr, err)
			}
			return r
		}
		got, want := ask(warden), ask(unbound)
		g, w := answerSet(got.Answer), answerSet(want.Answer)
		if got.Rcode != want.Rcode || !slices.Equal(g, w) {
			differ++
			t.Errorf("%s %s: Warden rcode %d %q; Unbound rcode %d %q", q.Header().Name, dns.TypeToString[dns.RRToType(q)], got.Rcode, g, want.Rcode, w)
		}
	}
	t.Logf("%d of %d questions differ from Unbound", differ, len(corpus))
	if differ > 0 {
		t.Fail()
	}
}
