package pipeline

import (
	"net/netip"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/policy"
	"warden/internal/query"
	"warden/internal/upstream"
)

// Every answer says which stage made it, and a policy answer which rule: the telemetry reads
// nothing else.
func TestOutcomeNamesTheStage(t *testing.T) {
	pol := testPolicy(t, "blocked.example CNAME .\n", policy.Options{Name: "rpz.test."})
	p := cachedPipeline(t, pol, "cached.example. 300 IN A 192.0.2.1")
	up := &switchable{}
	up.working.Store(true)
	p.Snapshot().Recursion.fwd = newForwardZones([]Forward{{Zone: "corp.example.", Upstreams: []upstream.Upstream{up}}}, nil)
	zones := testPipeline(t, "")
	p.Update(func(s *Snapshot) { s.Authority = zones.Snapshot().Authority })

	for _, c := range []struct {
		name      string
		qtype     uint16
		rd        bool
		client    string
		want      query.Source
		set, rule string
		upstream  string
	}{
		{"www.example.test.", dns.TypeA, false, "127.0.0.1", query.SourceAuthority, "", "", ""},
		{"cached.example.", dns.TypeA, true, "127.0.0.1", query.SourceCache, "", "", ""},
		{"blocked.example.", dns.TypeA, true, "127.0.0.1", query.SourcePolicy, "rpz.test.", "blocked.example.rpz.test.", ""},
		{"localhost.", dns.TypeA, true, "127.0.0.1", query.SourceLocal, "", "", ""},
		{"www.corp.example.", dns.TypeA, true, "127.0.0.1", query.SourceForward, "", "", "switchable"},
		{"cached.example.", dns.TypeA, true, "192.0.2.1", query.SourceLocal, "", "", ""}, // refused
	} {
		m := dns.NewMsg(c.name, c.qtype)
		m.RecursionDesired = c.rd
		if err := m.Pack(); err != nil {
			t.Fatal(err)
		}
		req := &query.Request{Wire: m.Data, Transport: query.TCP, Client: netip.AddrPortFrom(netip.MustParseAddr(c.client), 5353)}
		if out := p.ServeDNS(req, make([]byte, 0, 4096)); len(out) == 0 {
			t.Fatalf("%s from %s: no answer", c.name, c.client)
		}
		got := req.Outcome
		if got.Source != c.want || got.PolicySet != c.set || got.PolicyRule != c.rule || got.Upstream != c.upstream {
			t.Errorf("%s from %s: outcome %v %q %q %q; want %v %q %q %q", c.name, c.client, got.Source, got.PolicySet, got.PolicyRule, got.Upstream,
				c.want, c.set, c.rule, c.upstream)
		}
	}
}
