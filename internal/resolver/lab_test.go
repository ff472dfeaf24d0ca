package resolver_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/lab"
	"warden/internal/lab/labtest"
	"warden/internal/resolver"
)

// plainExchanger asks over UDP on port 53 and again over TCP when the answer is truncated.
type plainExchanger struct{ timeout time.Duration }

func (p plainExchanger) Exchange(ctx context.Context, q resolver.Question, _ string, server netip.Addr) (*dns.Msg, error) {
	m := dns.NewMsg(q.Name, q.Type)
	m.RecursionDesired = false
	m.UDPSize = 1232
	addr := net.JoinHostPort(server.String(), "53")
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	r, err := dns.Exchange(ctx, m, "udp", addr)
	if err == nil && r.Truncated {
		r, err = dns.Exchange(ctx, m, "tcp", addr)
	}
	return r, err
}

func labHints(t *testing.T) []resolver.NameServer {
	t.Helper()
	for _, s := range lab.Hierarchy() {
		for _, z := range s.Zones {
			if z.Origin == "." {
				return []resolver.NameServer{{Name: s.Name, Addrs: []netip.Addr{netip.MustParseAddr(s.IP)}}}
			}
		}
	}
	t.Fatal("no root server in the lab")
	return nil
}

// TestResolveLabAgainstUnbound resolves names through the mini internet and compares rcode and
// answer (records as a set, TTLs aside) with Unbound's for the same names.
func TestResolveLabAgainstUnbound(t *testing.T) {
	l := labtest.Start(t)
	unbound := dnstest.StartUnbound(t, l.RootHints())
	x := plainExchanger{timeout: 700 * time.Millisecond}
	names := []resolver.Question{
		{"www.shop.example.", dns.TypeA}, {"shop.example.", dns.TypeMX}, {"alias.shop.example.", dns.TypeA},
		{"cdn.shop.example.", dns.TypeA}, {"www.legacy.shop.example.", dns.TypeA}, {"app.hosting.org.", dns.TypeA},
		{"post.blog.example.", dns.TypeTXT}, {"anything.wild.org.", dns.TypeA}, {"x.deep.wild.org.", dns.TypeTXT},
		{"www.moved.example.", dns.TypeA}, {"www.flaky.example.", dns.TypeA}, {"www.slow.example.", dns.TypeA},
		{"txt.big.example.", dns.TypeTXT}, {"nothere.shop.example.", dns.TypeA}, {"www.shop.example.", dns.TypeMX},
		{"www.lab.", dns.TypeA}, {"nope.", dns.TypeA}, {"shop.example.", dns.TypeNS}, {"www.shop.example.", dns.TypeAAAA},
		{"shop.example.", dns.TypeDS}, {"blog.example.", dns.TypeDS},
	}
	for _, q := range names {
		t.Run(q.Name+dns.TypeToString[q.Type], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got := resolver.Resolve(ctx, x, q, labHints(t), resolver.DefaultLimits)
			m := dns.NewMsg(q.Name, q.Type)
			m.RecursionDesired = true
			want, err := dns.Exchange(ctx, m, "udp", unbound)
			if err == nil && want.Truncated {
				want, err = dns.Exchange(ctx, m, "tcp", unbound)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Rcode != want.Rcode {
				t.Fatalf("rcode %d, Unbound %d", got.Rcode, want.Rcode)
			}
			if g, w := records(got.Answer), records(want.Answer); !slices.Equal(g, w) {
				t.Fatalf("answer\n got  %q\n want %q", g, w)
			}
		})
	}
}

// records renders records without TTLs, sorted, for set comparison.
func records(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		f := strings.Fields(rr.String())
		out = append(out, strings.ToLower(f[0])+" "+strings.Join(f[2:], " "))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
