package policy

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/policy/blocklist"
)

// millionNames is a 1,000,000-name RPZ zone: half exact names, half wildcards.
func millionNames(tb testing.TB) *RuleSet {
	tb.Helper()
	var b strings.Builder
	b.WriteString(head)
	for i := range 1_000_000 {
		if i%2 == 0 {
			fmt.Fprintf(&b, "host%d.blocked%d.example CNAME .\n", i, i%1000)
		} else {
			fmt.Fprintf(&b, "*.domain%d.example CNAME .\n", i)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	s, err := LoadRPZ("big.rpz.", "big.rpz", []byte(b.String()), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	tb.Logf("1,000,000 rules: loaded in %v, %d MB live", took.Round(time.Millisecond), (after.HeapAlloc-before.HeapAlloc)>>20)
	return s
}

func BenchmarkQuestion(b *testing.B) {
	s := millionNames(b)
	p := New(s)
	for _, bc := range []struct{ name, qname string }{
		{"miss", "www.not-listed.example."},
		{"exact-hit", "host4242.blocked242.example."},
		{"wildcard-hit", "a.b.c.domain4243.example."},
	} {
		b.Run(bc.name, func(b *testing.B) {
			qq := Query{Client: client1, Name: bc.qname, Type: dns.TypeA, RD: true}
			b.ReportAllocs()
			for b.Loop() {
				p.Question(qq)
			}
		})
	}
}

// millionList is a 1,000,000-name blocklist set with the same names as millionNames: half exact
// names, half domains with everything below them ("||domain^").
func millionList(tb testing.TB) *RuleSet {
	tb.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	l := &blocklist.List{Entries: make([]blocklist.Entry, 0, 1_000_000)}
	for i := range 1_000_000 {
		if i%2 == 0 {
			l.Entries = append(l.Entries, blocklist.Entry{Name: fmt.Sprintf("host%d.blocked%d.example.", i, i%1000)})
		} else {
			l.Entries = append(l.Entries, blocklist.Entry{Name: fmt.Sprintf("domain%d.example.", i), Wildcard: true})
		}
	}
	s, err := NewBlocklistSet(blocklist.Compile(l), Options{Name: "big"}, NXDomain, nil)
	if err != nil {
		tb.Fatal(err)
	}
	took := time.Since(start)
	l = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	tb.Logf("1,000,000 names: built in %v, %d MB live (%.1f bytes/name), index %.1f bytes/name", took.Round(time.Millisecond),
		(after.HeapAlloc-before.HeapAlloc)>>20, float64(after.HeapAlloc-before.HeapAlloc)/1e6, float64(s.Index().Bytes())/1e6)
	return s
}

// BenchmarkQuestionBlocklist is BenchmarkQuestion with the million names in a blocklist index,
// looked up by the wire name (as the server asks) and by the presentation name (a CNAME target).
func BenchmarkQuestionBlocklist(b *testing.B) {
	s := millionList(b)
	p := New(s)
	for _, bc := range []struct{ name, qname string }{
		{"miss", "www.not-listed.example."},
		{"exact-hit", "host4242.blocked242.example."},
		{"wildcard-hit", "a.b.c.domain4243.example."},
	} {
		for _, form := range []string{"wire", "text"} {
			b.Run(bc.name+"/"+form, func(b *testing.B) {
				qq := Query{Client: client1, Name: bc.qname, Type: dns.TypeA, RD: true}
				if form == "wire" {
					qq.Wire = wireOf(bc.qname)
				}
				b.ReportAllocs()
				b.ReportMetric(float64(s.Index().Bytes())/float64(s.Index().Len()), "index-bytes/name")
				for b.Loop() {
					p.Question(qq)
				}
				if m, _ := p.Question(qq); (m.Rule != nil) != (bc.name != "miss") {
					b.Fatalf("%s: %+v", bc.qname, m)
				}
			})
		}
	}
}

func TestQuestionAllocs(t *testing.T) {
	s := mustLoad(t, "rpz.", "a.test CNAME .\n*.w.test CNAME .\n8.0.0.0.10.rpz-client-ip CNAME .\n", Options{})
	p := New(s)
	for _, name := range []string{"a.test.", "x.y.w.test.", "miss.example."} {
		qq := q(name)
		if n := testing.AllocsPerRun(100, func() { p.Question(qq) }); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}
