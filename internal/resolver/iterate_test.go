package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// scripted answers each query with what reply returns for it, counting queries.
type scripted struct {
	reply   func(q Question, server netip.Addr) *dns.Msg
	queries int
	// zones is the zone cut each query went to, as the resolution said.
	zones []string
}

func (s *scripted) Exchange(_ context.Context, q Question, zone string, server netip.Addr) (*dns.Msg, error) {
	s.queries++
	s.zones = append(s.zones, zone)
	if m := s.reply(q, server); m != nil {
		return m, nil
	}
	return nil, fmt.Errorf("timeout")
}

func rootHint() []NameServer {
	return []NameServer{{Name: "a.root.", Addrs: []netip.Addr{netip.MustParseAddr("127.0.1.1")}}}
}

// A server that delegates to a name server with no glue, under many names (NXNSAttack): the
// resolver looks up only MaxNSLookups of them and spends no more than MaxQueries in all.
func TestNSLookupsBounded(t *testing.T) {
	s := &scripted{reply: func(q Question, server netip.Addr) *dns.Msg {
		m := new(dns.Msg)
		m.Response = true
		if q.Name == "www.victim." {
			for i := range 50 {
				rr, _ := dns.New(fmt.Sprintf("victim. 300 IN NS ns%d.target.", i))
				m.Ns = append(m.Ns, rr)
			}
			return m
		}
		// Every lookup of a name server ends in NXDOMAIN from the root.
		m.Rcode = dns.RcodeNameError
		m.Authoritative = true
		return m
	}}
	lim := DefaultLimits
	res := Resolve(context.Background(), s, Question{"www.victim.", dns.TypeA}, rootHint(), lim)
	if res.Rcode != dns.RcodeServerFailure || res.Server.IsValid() {
		t.Fatalf("rcode %d, server %v; want SERVFAIL from no server", res.Rcode, res.Server)
	}
	// Each question costs at most two queries here: the minimised one, whose NXDOMAIN the relaxed
	// mode does not trust, and the full one.
	if max := 2 * (1 + lim.MaxNSLookups); s.queries > max {
		t.Fatalf("%d queries for a delegation of 50 glueless names; at most %d expected", s.queries, max)
	}
}

// Referrals that go ever deeper end at MaxReferrals, and the query budget holds.
func TestReferralChainBounded(t *testing.T) {
	s := &scripted{reply: func(q Question, server netip.Addr) *dns.Msg {
		m := new(dns.Msg)
		m.Response = true
		// Refer one label deeper each time, towards the question name.
		labels := strings.Split(strings.TrimSuffix(q.Name, "."), ".")
		depth := int(server.As4()[3]) // the server's address says how deep its zone is
		if depth >= len(labels) {
			return m
		}
		cut := strings.Join(labels[len(labels)-depth-1:], ".") + "."
		ns, _ := dns.New(fmt.Sprintf("%s 300 IN NS ns.%s", cut, cut))
		glue, _ := dns.New(fmt.Sprintf("ns.%s 300 IN A 127.0.1.%d", cut, depth+1))
		m.Ns, m.Extra = []dns.RR{ns}, []dns.RR{glue}
		return m
	}}
	name := strings.Repeat("a.", 60)
	lim := DefaultLimits
	lim.MaxReferrals = 10
	res := Resolve(context.Background(), s, Question{name, dns.TypeA}, rootHint(), lim)
	if res.Rcode != dns.RcodeServerFailure || s.queries > lim.MaxReferrals+1 {
		t.Fatalf("rcode %d after %d queries", res.Rcode, s.queries)
	}
}

// Silent servers are skipped and the next one answers.
func TestTimeoutMovesOn(t *testing.T) {
	hints := []NameServer{{Name: "a.root.", Addrs: []netip.Addr{netip.MustParseAddr("127.0.1.1"), netip.MustParseAddr("127.0.1.2")}}}
	s := &scripted{reply: func(q Question, server netip.Addr) *dns.Msg {
		if server == netip.MustParseAddr("127.0.1.1") {
			return nil
		}
		m := new(dns.Msg)
		m.Response, m.Authoritative = true, true
		rr, _ := dns.New("www. 300 IN A 192.0.2.1")
		m.Answer = []dns.RR{rr}
		return m
	}}
	res := Resolve(context.Background(), s, Question{"www.", dns.TypeA}, hints, DefaultLimits)
	if res.Rcode != dns.RcodeSuccess || len(res.Answer) != 1 {
		t.Fatalf("%+v", res)
	}
	// The query log names the server that answered, not the one that stayed silent.
	if want := netip.MustParseAddr("127.0.1.2"); res.Server != want {
		t.Errorf("answered by %v, want %v", res.Server, want)
	}
}

// Each query is handed to the Exchanger with the zone cut its server was chosen for (dnstap's
// query_zone), and the result names the server of the final reply.
func TestExchangerToldTheZone(t *testing.T) {
	s := &scripted{reply: func(q Question, server netip.Addr) *dns.Msg {
		m := new(dns.Msg)
		m.Response = true
		if server == netip.MustParseAddr("127.0.1.1") { // the root: refer to example.
			ns, _ := dns.New("example. 300 IN NS ns.example.")
			glue, _ := dns.New("ns.example. 300 IN A 127.0.1.5")
			m.Ns, m.Extra = []dns.RR{ns}, []dns.RR{glue}
			return m
		}
		m.Authoritative = true
		if q.Name == "www.example." {
			rr, _ := dns.New("www.example. 300 IN A 192.0.2.1")
			m.Answer = []dns.RR{rr}
		} else {
			soa, _ := dns.New("example. 300 IN SOA ns.example. h.example. 1 3600 600 86400 300")
			m.Ns = []dns.RR{soa}
		}
		return m
	}}
	res := Resolve(context.Background(), s, Question{"www.example.", dns.TypeA}, rootHint(), DefaultLimits)
	if res.Rcode != dns.RcodeSuccess || len(res.Answer) != 1 {
		t.Fatalf("%+v", res)
	}
	if len(s.zones) < 2 || s.zones[0] != "." || s.zones[len(s.zones)-1] != "example." {
		t.Errorf("zones told %q, want the root first and example. last", s.zones)
	}
	if want := netip.MustParseAddr("127.0.1.5"); res.Server != want {
		t.Errorf("answered by %v, want %v", res.Server, want)
	}
}

// QNAME minimisation: the root hears only the top-level label, the TLD one label more.
func TestQNAMEMinimisation(t *testing.T) {
	var asked []string
	s := &scripted{reply: func(q Question, server netip.Addr) *dns.Msg {
		asked = append(asked, q.Name+" "+dns.TypeToString[q.Type])
		m := new(dns.Msg)
		m.Response = true
		switch server.String() {
		case "127.0.1.1": // the root
			ns, _ := dns.New("example. 300 IN NS ns.example.")
			glue, _ := dns.New("ns.example. 300 IN A 127.0.2.1")
			m.Ns, m.Extra = []dns.RR{ns}, []dns.RR{glue}
		case "127.0.2.1": // example.: www.shop.example. is in the zone, shop.example. is an empty non-terminal
			m.Authoritative = true
			if q.Name == "www.shop.example." {
				rr, _ := dns.New("www.shop.example. 300 IN MX 10 mail.example.")
				m.Answer = []dns.RR{rr}
			} else {
				soa, _ := dns.New("example. 300 IN SOA ns.example. h.example. 1 2 3 4 5")
				m.Ns = []dns.RR{soa}
			}
		}
		return m
	}}
	res := Resolve(context.Background(), s, Question{"www.shop.example.", dns.TypeMX}, rootHint(), DefaultLimits)
	want := []string{"example. A", "shop.example. A", "www.shop.example. MX"}
	if res.Rcode != dns.RcodeSuccess || len(res.Answer) != 1 || strings.Join(asked, ",") != strings.Join(want, ",") {
		t.Fatalf("asked %q, answer %v", asked, res.Answer)
	}
}

type fixedRTTs map[netip.Addr]time.Duration

func (f fixedRTTs) SRTT(a netip.Addr) time.Duration { return f[a] }

// The fastest server of a zone is asked first.
func TestFastestServerFirst(t *testing.T) {
	slow, fast := netip.MustParseAddr("127.0.1.1"), netip.MustParseAddr("127.0.1.2")
	hints := []NameServer{{Name: "a.root.", Addrs: []netip.Addr{slow, fast}}}
	r := New(Question{"www.", dns.TypeA}, hints, DefaultLimits)
	r.rtt = fixedRTTs{slow: 300 * time.Millisecond, fast: 5 * time.Millisecond}
	if s := r.Next(); s.Server != fast {
		t.Fatalf("asked %s first", s.Server)
	}
}

// ResolveAt asks the given servers first, not the root, and goes back to the root when every one
// of them fails.
func TestResolveAt(t *testing.T) {
	child := netip.MustParseAddr("127.0.3.1")
	for _, tc := range []struct {
		name      string
		childDown bool
		servers   []netip.Addr // asked first, in order
	}{
		{"the delegation's server answers", false, []netip.Addr{child}},
		{"it fails: from the root", true, []netip.Addr{child, netip.MustParseAddr("127.0.1.1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []netip.Addr
			s := &scripted{reply: func(q Question, server netip.Addr) *dns.Msg {
				asked = append(asked, server)
				if server == child && tc.childDown {
					return nil
				}
				m := new(dns.Msg)
				m.Response, m.Authoritative = true, true
				rr, _ := dns.New("www.shop.example. 300 IN A 192.0.2.11")
				m.Answer = []dns.RR{rr}
				return m
			}}
			rv := NewResolver(Config{Exchanger: s, Hints: rootHint(), Limits: DefaultLimits})
			res := rv.ResolveAt(context.Background(), Question{"www.shop.example.", dns.TypeA}, "Shop.Example.",
				[]NameServer{{Name: "ns1.shop.example.", Addrs: []netip.Addr{child}}})
			if res.Rcode != dns.RcodeSuccess || len(res.Answer) != 1 {
				t.Fatalf("%+v", res)
			}
			if len(asked) < len(tc.servers) || fmt.Sprint(asked[:len(tc.servers)]) != fmt.Sprint(tc.servers) {
				t.Errorf("asked %v, want %v", asked, tc.servers)
			}
		})
	}
}
