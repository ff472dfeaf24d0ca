package policy

import (
	"net/netip"
	"slices"
	"testing"
)

// decision is what the policy in force does with a name: "none", or the action and the rule. A
// name that needs the answer is given an empty one (counted as a question).
func decision(p *Policy, name string) string {
	m, needResponse := p.Evaluate(q(name))
	if needResponse {
		m = p.Response(q(name), Response{})
	}
	if m.Rule == nil {
		return "none"
	}
	return m.Action.String() + " by " + m.Rule.Name()
}

// A suspended rule is passed over as if absent: the set's next rule for the name decides, or,
// when there is none, the next set.
func TestSuspendedRules(t *testing.T) {
	one := mustLoad(t, "one.rpz.", `
exact.test CNAME .
*.exact.test CNAME *.
*.test CNAME rpz-drop.
*.sub.test CNAME rpz-tcp-only.
32.2.0.0.127.rpz-client-ip CNAME rpz-drop.
24.0.2.0.192.rpz-ip CNAME .
`, Options{})
	two := mustLoad(t, "two.rpz.", "*.test A 192.0.2.99\nexact.test A 192.0.2.98\n", Options{})
	p := New(one, two)
	client2 := q("nothing.example.")
	client2.Client = netip.MustParseAddr("127.0.0.2")
	check := func(when string, want map[string]string) {
		t.Helper()
		for name, w := range want {
			if got := decision(p, name); got != w {
				t.Errorf("%s: %s: %s, want %s", when, name, got, w)
			}
		}
	}
	check("nothing suspended", map[string]string{"exact.test.": "nxdomain by exact.test.", "x.sub.test.": "tcp-only by *.sub.test.",
		"a.exact.test.": "nodata by *.exact.test."})
	if n := one.SuspendRules("exact.test.", "*.sub.test.", "32.2.0.0.127.rpz-client-ip", "nonesuch."); n != 3 {
		t.Fatalf("found %d rules of 4 names, want 3", n)
	}
	check("suspended", map[string]string{
		"exact.test.":   "drop by *.test.", // the wildcard above it in one.rpz.
		"x.sub.test.":   "drop by *.test.", // the next wildcard up
		"a.exact.test.": "nodata by *.exact.test.",
	})
	if m, _ := p.Evaluate(client2); m.Rule != nil {
		t.Errorf("suspended client-IP rule still matches: %s", m.Rule.Name())
	}
	if got := one.SuspendedRules(); !slices.Equal(got, []string{"exact.test.", "*.sub.test.", "32.2.0.0.127.rpz-client-ip"}) {
		t.Errorf("SuspendedRules %q", got)
	}
	one.SuspendRules("*.test.")
	check("no rule of one.rpz. left for the names", map[string]string{
		"exact.test.":   "local by exact.test.", // two.rpz. decides
		"x.sub.test.":   "local by *.test.",
		"a.exact.test.": "nodata by *.exact.test.",
	})
	r := Response{Answer: rrs(t, "nothing.example. 60 IN A 192.0.2.1")}
	if m := p.Response(q("nothing.example."), r); m.Rule == nil || m.Rule.Name() != "24.0.2.0.192.rpz-ip" {
		t.Fatalf("rpz-ip rule: %+v", m)
	}
	one.SuspendRules("24.0.2.0.192.rpz-ip")
	if m := p.Response(q("nothing.example."), r); m.Rule != nil {
		t.Fatalf("suspended rpz-ip rule still matches: %s", m.Rule.Name())
	}
	one.ResumeRules()
	check("resumed", map[string]string{"exact.test.": "nxdomain by exact.test.", "x.sub.test.": "tcp-only by *.sub.test."})

	// A lookup past suspended rules allocates no more than one without.
	one.SuspendRules("exact.test.")
	for _, name := range []string{"exact.test.", "x.sub.test.", "miss.example."} {
		qq := q(name)
		if n := testing.AllocsPerRun(100, func() { p.Question(qq) }); n != 0 {
			t.Errorf("%s with a rule suspended: %v allocs", name, n)
		}
	}
}

func TestRuleNames(t *testing.T) {
	s := mustLoad(t, "rpz.push.", `
* A 198.18.0.66
*.cn CNAME rpz-passthru.
malware.example CNAME .
32.2.0.0.127.rpz-client-ip CNAME rpz-drop.
ns.example.rpz-nsdname CNAME .
`, Options{})
	var got []string
	for i := range s.Rules() {
		got = append(got, s.Rules()[i].Name())
		if !s.Rules()[i].hasName(got[i]) {
			t.Errorf("rule %s does not have its own name", got[i])
		}
	}
	want := []string{"*.", "*.cn.", "malware.example.", "32.2.0.0.127.rpz-client-ip", "ns.example.rpz-nsdname"}
	if !slices.Equal(got, want) {
		t.Fatalf("names %q, want %q", got, want)
	}
}
