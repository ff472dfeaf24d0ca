package blocklist

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

func mustParse(t testing.TB, format Format, text string) *List {
	t.Helper()
	l, err := Parse(strings.NewReader(text), "test", format)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Skipped) > 0 {
		t.Fatalf("skipped: %s", l.Describe(l.Skipped[0]))
	}
	return l
}

// matchString writes a Match result as the tables expect: "-" for no match, "block NAME",
// "block NAME +sub", "allow NAME", "allow NAME +sub".
func matchString(blocked bool, e Entry) string {
	if e.Name == "" {
		if blocked {
			return "blocked without a rule"
		}
		return "-"
	}
	s := "block "
	if e.Allow {
		s = "allow "
	}
	if blocked == e.Allow {
		s = "inconsistent " + s
	}
	s += e.Name
	if e.Wildcard {
		s += " +sub"
	}
	return s
}

func TestMatch(t *testing.T) {
	ads := mustParse(t, Adblock, `
||ads.example^
@@||ok.ads.example^
|exact.example^
@@|allowed.exact.example^
||both.example^
both.example
||tracker.example^
@@tracker.example
||cdn.org^
@@||org^
||com^
`)
	hosts := mustParse(t, Hosts, "0.0.0.0 host.example.net deep.a.b.c.d.example.net\n0.0.0.0 both.example\n")
	names := mustParse(t, Domains, "*.wild.example.net\nplain.example.net\n")
	allow := mustParse(t, Domains, "*.trusted.example.net\n")
	for i := range allow.Entries {
		allow.Entries[i].Allow = true
	}
	ix := Compile(ads, nil, hosts, names, allow)

	for _, tc := range []struct{ q, want string }{
		{"ads.example.", "block ads.example. +sub"},
		{"x.y.ads.example.", "block ads.example. +sub"},
		{"ADS.Example", "block ads.example. +sub"},
		{"ok.ads.example.", "allow ok.ads.example. +sub"},
		{"deeper.ok.ads.example.", "allow ok.ads.example. +sub"},
		{"notads.example.", "-"},
		{"exact.example.", "block exact.example."},
		{"sub.exact.example.", "-"},
		{"allowed.exact.example.", "allow allowed.exact.example."},
		// exact and wildcard on one name: exact is reported; the wildcard still covers names below
		{"both.example.", "block both.example."},
		{"www.both.example.", "block both.example. +sub"},
		// an exact exception beats the wildcard block of the same name, but not below it
		{"tracker.example.", "allow tracker.example."},
		{"t.tracker.example.", "block tracker.example. +sub"},
		// a wildcard exception high up beats every block below it, however specific
		{"cdn.org.", "allow org. +sub"},
		{"a.cdn.org.", "allow org. +sub"},
		{"anything.com.", "block com. +sub"},
		{"com.", "block com. +sub"},
		{"host.example.net.", "block host.example.net."},
		{"sub.host.example.net.", "-"},
		{"deep.a.b.c.d.example.net.", "block deep.a.b.c.d.example.net."},
		{"wild.example.net.", "block wild.example.net. +sub"},
		{"x.wild.example.net.", "block wild.example.net. +sub"},
		{"plain.example.net.", "block plain.example.net."},
		{"trusted.example.net.", "allow trusted.example.net. +sub"},
		{"example.net.", "-"},
		{"net.", "-"},
		{".", "-"},
		{"", "-"},
		{"a..b.", "-"},
		{`ads\.example.`, "-"},                           // one label "ads.example", under the root
		{`x\.y.ads.example.`, "block ads.example. +sub"}, // a label with a dot in it, below ads.example
		{`\097ds.example.`, "block ads.example. +sub"},   // \097 is 'a'
		{"host.example.net", "block host.example.net."},
		{strings.Repeat("a.", 127) + "ads.example.", "-"}, // too long to be a name
	} {
		if got := matchString(ix.Match(tc.q)); got != tc.want {
			t.Errorf("Match(%q) = %s, want %s", tc.q, got, tc.want)
		}
	}
	if ix.Len() != 14 {
		t.Errorf("Len = %d, want 14 distinct names", ix.Len())
	}
}

func TestMatchWire(t *testing.T) {
	ix := Compile(mustParse(t, Adblock, "||ads.example^\n|exact.example^\n"))
	for _, tc := range []struct {
		w    string
		want string
	}{
		{"\x03ads\x07example\x00", "block ads.example. +sub"},
		{"\x01x\x03ads\x07example\x00", "block ads.example. +sub"},
		{"\x05exact\x07example\x00", "block exact.example."},
		{"\x0bads.example\x00", "-"},                                   // one label with a dot in it
		{"\x05a.ads\x03ads\x07example\x00", "block ads.example. +sub"}, // such a label below a rule
		{"\x03ads\x07example\x00trailing", "block ads.example. +sub"},
		{"\x03ads\x07example", "-"},     // no root label
		{"\x03ads\xc0\x0c", "-"},        // compression pointer
		{"\x03ADS\x07example\x00", "-"}, // MatchWire takes lower case only
		{"", "-"},
		{"\x00", "-"},
		{"\x40" + strings.Repeat("a", 64) + "\x00", "-"},
	} {
		if got := matchString(ix.MatchWire([]byte(tc.w))); got != tc.want {
			t.Errorf("MatchWire(%q) = %s, want %s", tc.w, got, tc.want)
		}
	}
}

func TestCompileDropsBadEntries(t *testing.T) {
	l := &List{Entries: []Entry{
		{Name: "ok.example."}, {Name: "NoDot.example"}, {Name: "UPPER.example."}, {Name: "."}, {Name: ""},
		{Name: "a..example."}, {Name: "sp ace.example."}, {Name: strings.Repeat("a", 64) + ".example."},
	}}
	ix := Compile(l)
	if ix.Len() != 1 || ix.Dropped() != 7 {
		t.Errorf("Len %d, Dropped %d; want 1 and 7", ix.Len(), ix.Dropped())
	}
	var empty *Index
	if blocked, _ := empty.MatchWire([]byte("\x00")); blocked {
		t.Error("nil index blocks")
	}
	if blocked, _ := Compile().Match("a.example"); blocked {
		t.Error("empty index blocks")
	}
}

func TestCompileDuplicates(t *testing.T) {
	l := mustParse(t, Domains, strings.Repeat("a.example\nb.example\n", 1000))
	ix := Compile(l, l, l)
	if ix.Len() != 2 {
		t.Fatalf("Len = %d", ix.Len())
	}
	if len(ix.slots) > 8 {
		t.Errorf("table of %d slots for 2 names", len(ix.slots))
	}
	if b, e := ix.Match("b.example"); !b || e.Name != "b.example." {
		t.Errorf("after rehash: %v %v", b, e)
	}
}

func TestSlotSize(t *testing.T) {
	if s := unsafe.Sizeof(slot{}); s != slotSize {
		t.Errorf("slot is %d bytes, slotSize says %d", s, slotSize)
	}
}

// TestMatchAgainstModel compares Match with a direct reading of the rules on random lists.
func TestMatchAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	labels := []string{"a", "b", "c", "ads", "x"}
	randName := func() string {
		n := 1 + rng.IntN(4)
		var b strings.Builder
		for range n {
			b.WriteString(labels[rng.IntN(len(labels))] + ".")
		}
		return b.String()
	}
	for round := range 200 {
		var entries []Entry
		for range 1 + rng.IntN(12) {
			entries = append(entries, Entry{Name: randName(), Wildcard: rng.IntN(2) == 0, Allow: rng.IntN(4) == 0})
		}
		ix := Compile(&List{Entries: entries})
		for range 50 {
			q := randName()
			want := modelMatch(entries, q)
			got := matchString(ix.Match(q))
			if got != want {
				t.Fatalf("round %d: Match(%q) = %s, model says %s; entries %v", round, q, got, want, entries)
			}
		}
	}
}

// modelMatch applies the rules Match documents, one entry at a time.
func modelMatch(entries []Entry, q string) string {
	covers := func(e Entry) (ok, self bool) {
		if q == e.Name {
			return true, true
		}
		return e.Wildcard && strings.HasSuffix(q, "."+e.Name), false
	}
	depth := func(name string) int { return strings.Count(name, ".") }
	var allow, block *Entry
	better := func(cur *Entry, e Entry, self bool) bool {
		if cur == nil {
			return true
		}
		if depth(e.Name) != depth(cur.Name) {
			return depth(e.Name) > depth(cur.Name)
		}
		return self && !e.Wildcard && cur.Wildcard // exact before wildcard on the same name
	}
	for _, e := range entries {
		ok, self := covers(e)
		if !ok {
			continue
		}
		if e.Allow {
			if better(allow, e, self) {
				allow = &e
			}
		} else if better(block, e, self) {
			block = &e
		}
	}
	switch {
	case allow != nil:
		return matchString(false, *allow)
	case block != nil:
		return matchString(true, *block)
	}
	return "-"
}

// names1M returns n distinct names shaped like a real blocklist's: two to five labels, 20 to 30
// characters on average.
func namesN(n int) []string {
	rng := rand.New(rand.NewPCG(7, 7))
	words := []string{"ads", "track", "cdn", "metrics", "pixel", "stats", "click", "media", "img", "api", "srv", "static"}
	tlds := []string{"com", "net", "org", "io", "de", "ru", "info", "xyz"}
	seen := make(map[string]struct{}, n)
	out := make([]string, 0, n)
	for len(out) < n {
		var b strings.Builder
		for range rng.IntN(3) {
			fmt.Fprintf(&b, "%s%d.", words[rng.IntN(len(words))], rng.IntN(100))
		}
		fmt.Fprintf(&b, "%s-%x.%s.", words[rng.IntN(len(words))], rng.Uint32()&0xfffff, tlds[rng.IntN(len(tlds))])
		s := b.String()
		if _, dup := seen[s]; !dup {
			seen[s] = struct{}{}
			out = append(out, s)
		}
	}
	return out
}

func list1M(b *testing.B) (*List, []string) {
	b.Helper()
	names := namesN(1_000_000)
	l := &List{Source: "bench"}
	for i, n := range names {
		l.Entries = append(l.Entries, Entry{Name: n, Wildcard: i%2 == 0})
	}
	return l, names
}

func heapAlloc() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkCompile1M compiles a million names and reports the heap the index keeps per name.
func BenchmarkCompile1M(b *testing.B) {
	l, _ := list1M(b)
	for b.Loop() {
		Compile(l)
	}
	before := heapAlloc()
	ix := Compile(l)
	after := heapAlloc()
	b.ReportMetric(float64(after-before)/float64(ix.Len()), "bytes/name")
	b.ReportMetric(float64(ix.Bytes())/float64(ix.Len()), "estimate-bytes/name")
	runtime.KeepAlive(ix)
	runtime.KeepAlive(l) // else the list may be freed before the second reading, and counted against the index
}

// BenchmarkMapAlternative1M measures the obvious alternative to Index, a map from name to rule
// bits, on the same names, for the choice explained in Index's comment.
func BenchmarkMapAlternative1M(b *testing.B) {
	_, names := list1M(b)
	build := func() map[string]uint8 {
		m := make(map[string]uint8)
		for i, n := range names {
			m[strings.Clone(n)] |= uint8(i & 1) // a string of its own per key, as a parsed list has
		}
		return m
	}
	for b.Loop() {
		build()
	}
	before := heapAlloc()
	m := build()
	after := heapAlloc()
	b.ReportMetric(float64(after-before)/float64(len(m)), "bytes/name")
	runtime.KeepAlive(m)
	runtime.KeepAlive(names)
}

// queries returns a mix of names to look up: a quarter listed, a quarter below a listed name,
// the rest not. Their bytes are copied next to each other, as the query names of packets being
// answered sit in a few buffers, rather than scattered over the heap with the list's names.
func queries(names []string) []string {
	rng := rand.New(rand.NewPCG(3, 4))
	var q []string
	defer func() {
		all := strings.Join(q, "")
		for i := range q {
			q[i], all = all[:len(q[i])], all[len(q[i]):]
		}
	}()
	for i := range 4096 {
		n := names[rng.IntN(len(names))]
		switch i % 4 {
		case 0:
			q = append(q, n)
		case 1:
			q = append(q, "www."+n)
		case 2:
			q = append(q, "a.b.not-listed-"+n)
		default:
			q = append(q, fmt.Sprintf("host%d.example-%d.com.", i, i))
		}
	}
	return q
}

func BenchmarkMatch1M(b *testing.B) {
	l, names := list1M(b)
	ix := Compile(l)
	q := queries(names)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ix.Match(q[i%len(q)])
		i++
	}
}

func BenchmarkMatchWire1M(b *testing.B) {
	l, names := list1M(b)
	ix := Compile(l)
	var wires [][]byte
	for _, n := range queries(names) {
		w, _ := textWire(nil, n)
		wires = append(wires, w)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ix.MatchWire(wires[i%len(wires)])
		i++
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	ix := Compile(mustParse(t, Adblock, "||ads.example^\n@@||ok.ads.example^\nexact.example\n"))
	w := []byte("\x01x\x03ads\x07example\x00")
	for _, q := range []string{"x.ads.example.", "y.ok.ads.example", "exact.example.", "other.example."} {
		if n := testing.AllocsPerRun(100, func() { ix.Match(q) }); n != 0 {
			t.Errorf("Match(%q): %v allocations", q, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ix.MatchWire(w) }); n != 0 {
		t.Errorf("MatchWire: %v allocations", n)
	}
}
