package resolver

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
)

// FuzzParseHints: a root hints file of any content gives servers that all have addresses, or an
// error; never a panic.
func FuzzParseHints(f *testing.F) {
	f.Add([]byte(". 3600 NS a.lab.\na.lab. 3600 A 127.0.1.1\na.lab. 3600 AAAA ::1\n"))
	f.Add([]byte(". NS a.lab.\n$TTL 5\na.lab. A 127.0.1.1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		servers, err := ParseHints(data, "fuzz.hints")
		if err != nil {
			return
		}
		if len(servers) == 0 {
			t.Fatal("no servers and no error")
		}
		for _, s := range servers {
			if len(s.Addrs) == 0 {
				t.Fatalf("%s without an address", s.Name)
			}
		}
	})
}

// replay answers every query with the same reply bytes, its question rewritten to the one asked.
type replay struct{ data []byte }

func (r replay) Exchange(_ context.Context, q Question, _ string, _ netip.Addr) (*dns.Msg, error) {
	m := &dns.Msg{Data: append([]byte(nil), r.data...)}
	if err := m.Unpack(); err != nil {
		return nil, err
	}
	if len(m.Question) == 1 {
		m.Question[0].Header().Name = q.Name
	}
	return m, nil
}

// FuzzResolve: whatever the servers reply, a resolution ends within its query budget, also when
// it starts from delegations an earlier question stored.
func FuzzResolve(f *testing.F) {
	m := dns.NewMsg("www.example.", dns.TypeA)
	m.Response = true
	m.Ns = []dns.RR{mustRR(f, "example. 300 IN NS ns.example.")}
	m.Extra = []dns.RR{mustRR(f, "ns.example. 300 IN A 127.0.2.1")}
	if err := m.Pack(); err != nil {
		f.Fatal(err)
	}
	f.Add(m.Data, "www.example.")
	m = dns.NewMsg("www.example.", dns.TypeA)
	m.Response, m.Authoritative = true, true
	m.Answer = []dns.RR{mustRR(f, "www.example. 300 IN CNAME www.example.")}
	if err := m.Pack(); err != nil {
		f.Fatal(err)
	}
	f.Add(m.Data, "www.example.")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		name = strings.ToLower(name)
		if !dnsutil.IsName(name) || !strings.HasSuffix(name, ".") || len(name) > 200 {
			return
		}
		counted := &countingExchanger{x: replay{data}}
		deleg := NewDelegations(DelegationsConfig{})
		rv := NewResolver(Config{Exchanger: counted, Hints: rootHint(), Limits: DefaultLimits, Delegations: deleg})
		for range 2 { // the second question starts from whatever the first one stored
			rv.Resolve(context.Background(), Question{name, dns.TypeA})
		}
		if counted.n > 2*DefaultLimits.MaxQueries {
			t.Fatalf("%d queries for two questions; the budget is %d each", counted.n, DefaultLimits.MaxQueries)
		}
	})
}

type countingExchanger struct {
	x Exchanger
	n int
}

func (c *countingExchanger) Exchange(ctx context.Context, q Question, zone string, s netip.Addr) (*dns.Msg, error) {
	c.n++
	return c.x.Exchange(ctx, q, zone, s)
}
