package policy

import (
	"strings"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/policy/blocklist"
)

func mustIndex(t testing.TB, format blocklist.Format, text string) *blocklist.Index {
	t.Helper()
	l, err := blocklist.Parse(strings.NewReader(text), "test.list", format)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Skipped) > 0 {
		t.Fatalf("skipped: %v", l.Skipped)
	}
	return blocklist.Compile(l)
}

// wireOf is name in lower-case wire form, as query.Request.Lower gives it.
func wireOf(name string) []byte {
	var w []byte
	for label := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		if label != "" {
			w = append(append(w, byte(len(label))), label...)
		}
	}
	return append(w, 0)
}

func TestBlocklistSet(t *testing.T) {
	ix := mustIndex(t, blocklist.Adblock, "||ads.example^\n@@||ok.ads.example^\n|exact.example^\n")
	null, err := NewBlocklistSet(ix, Options{Name: "ads"}, Local, NullAnswer(10))
	if err != nil {
		t.Fatal(err)
	}
	if null.Len() != 3 || !null.Options().Blocklist || null.Index() != ix {
		t.Fatalf("Len %d, options %+v", null.Len(), null.Options())
	}
	// An RPZ zone comes first: its rules win over the list's.
	rpz := mustLoad(t, "rpz.", "www.ads.example CNAME rpz-passthru.\n", Options{})
	p := New(rpz, null)
	for _, tc := range []struct {
		name string
		want Action
		ede  int
	}{
		{"ads.example.", Local, EDEFiltered},
		{"a.b.ads.example.", Local, EDEFiltered},
		{"ok.ads.example.", NoAction, -1},   // the exception
		{"x.ok.ads.example.", NoAction, -1}, // and below it
		{"www.ads.example.", Passthru, -1},  // the earlier RPZ zone
		{"exact.example.", Local, EDEFiltered},
		{"x.exact.example.", NoAction, -1},
		{"example.", NoAction, -1},
	} {
		for _, wire := range [][]byte{nil, wireOf(tc.name)} {
			qq := q(tc.name)
			qq.Wire = wire
			m, need := p.Question(qq)
			if m.Action != tc.want || m.EDE() != tc.ede || need {
				t.Errorf("%s (wire %v): %s EDE %d need %v, want %s EDE %d", tc.name, wire != nil, m.Action, m.EDE(), need, tc.want, tc.ede)
			}
			if m.Action == Local && (len(m.Data) != 2 || m.Rule.Owner != "ads") {
				t.Errorf("%s: data %v owner %q", tc.name, m.Data, m.Rule.Owner)
			}
		}
	}
	if got := null.Hits(); got != 6 {
		t.Errorf("hits %d, want 6", got)
	}

	// Response: a CNAME into a listed name is rewritten at that name, as an RPZ QNAME rule is.
	nx, err := NewBlocklistSet(ix, Options{Name: "nx"}, NXDomain, nil)
	if err != nil {
		t.Fatal(err)
	}
	ip := mustLoad(t, "ip.rpz.", "32.1.2.0.192.rpz-ip CNAME rpz-passthru.\n", Options{})
	p = New(ip, nx)
	qq := q("www.site.example.")
	qq.Wire = wireOf(qq.Name)
	if _, need := p.Question(qq); !need {
		t.Fatal("the rpz-ip zone in front should make the question wait for the answer")
	}
	m := p.Response(qq, Response{Answer: rrs(t, "www.site.example. 60 IN CNAME cdn.ads.example.", "cdn.ads.example. 60 IN A 192.0.2.9")})
	if m.Action != NXDomain || m.ChainAt != 1 || m.Name != "cdn.ads.example." || m.EDE() != EDEFiltered {
		t.Errorf("chain: %+v", m)
	}

	// Shadow: counted, not applied.
	sh, _ := NewBlocklistSet(ix, Options{Name: "sh", Shadow: true}, NXDomain, nil)
	if m, _ := New(sh).Question(q("ads.example.")); m.Rule != nil || sh.Hits() != 1 {
		t.Errorf("shadow: %+v, hits %d", m, sh.Hits())
	}

	for _, bad := range []struct {
		a    Action
		data []dns.RR
	}{{NoAction, nil}, {Local, nil}, {NXDomain, NullAnswer(1)}, {Action(99), nil}} {
		if _, err := NewBlocklistSet(ix, Options{Name: "bad"}, bad.a, bad.data); err == nil {
			t.Errorf("action %s with %d records accepted", bad.a, len(bad.data))
		}
	}
}

func TestBlocklistQuestionAllocs(t *testing.T) {
	ix := mustIndex(t, blocklist.Adblock, "||ads.example^\n@@||ok.ads.example^\n")
	s, err := NewBlocklistSet(ix, Options{Name: "ads"}, Local, NullAnswer(10))
	if err != nil {
		t.Fatal(err)
	}
	p := New(s)
	for _, name := range []string{"x.ads.example.", "ok.ads.example.", "miss.example."} {
		for _, wire := range [][]byte{nil, wireOf(name)} {
			qq := q(name)
			qq.Wire = wire
			if n := testing.AllocsPerRun(100, func() { p.Question(qq) }); n != 0 {
				t.Errorf("%s (wire %v): %v allocs", name, wire != nil, n)
			}
		}
	}
}
