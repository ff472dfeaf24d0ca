package zone

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"codeberg.org/miekg/dns"
)

const small = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 host 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n"

func small2(extra string) string {
	return strings.Replace(small, "host 1 2", "host 2 2", 1) + extra
}

func rrLines(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = strings.Join(strings.Fields(rr.String()), " ")
	}
	slices.Sort(out)
	return out
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name, old, new string
		removed, added []string
	}{
		{"no change", small, small2(""), nil, nil},
		{"added host", small, small2("www A 192.0.2.80\n"), nil, []string{"www.example.test. 300 IN A 192.0.2.80"}},
		{"removed host", small + "www A 192.0.2.80\n", small2(""), []string{"www.example.test. 300 IN A 192.0.2.80"}, nil},
		{"one of an RRset", small + "m A 192.0.2.1\nm A 192.0.2.2\n", small2("m A 192.0.2.2\nm A 192.0.2.3\n"),
			[]string{"m.example.test. 300 IN A 192.0.2.1"}, []string{"m.example.test. 300 IN A 192.0.2.3"}},
		{"order does not matter", small + "m A 192.0.2.1\nm A 192.0.2.2\n", small2("m A 192.0.2.2\nm A 192.0.2.1\n"), nil, nil},
		{"TTL change", small + "www A 192.0.2.80\n", small2("www 600 A 192.0.2.80\n"),
			[]string{"www.example.test. 300 IN A 192.0.2.80"}, []string{"www.example.test. 600 IN A 192.0.2.80"}},
		{"type change", small + "www A 192.0.2.80\n", small2("www AAAA 2001:db8::80\n"),
			[]string{"www.example.test. 300 IN A 192.0.2.80"}, []string{"www.example.test. 300 IN AAAA 2001:db8::80"}},
		{"TXT strings split differently", small + "t TXT \"ab\"\n", small2("t TXT \"a\" \"b\"\n"),
			[]string{`t.example.test. 300 IN TXT "ab"`}, []string{`t.example.test. 300 IN TXT "a" "b"`}},
		{"TXT one string more", small + "t TXT \"a\"\n", small2("t TXT \"a\" \"b\"\n"),
			[]string{`t.example.test. 300 IN TXT "a"`}, []string{`t.example.test. 300 IN TXT "a" "b"`}},
		{"unknown type", small + "u TYPE65280 \\# 2 0102\n", small2("u TYPE65280 \\# 2 0103\n"),
			[]string{"u.example.test. 300 CLASS1 TYPE65280 2 0102"}, []string{"u.example.test. 300 CLASS1 TYPE65280 2 0103"}},
		{"SOA alone is not a change", small, strings.Replace(small, "ns1 host", "ns2 host", 1), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, new := mustLoad(t, "example.test.", tt.old), mustLoad(t, "example.test.", tt.new)
			d := Compare(old, new)
			if d.From != old.SOA || d.To != new.SOA {
				t.Errorf("From/To are not the zones' SOA records")
			}
			if got := rrLines(d.Removed); !slices.Equal(got, tt.removed) {
				t.Errorf("removed %q, want %q", got, tt.removed)
			}
			if got := rrLines(d.Added); !slices.Equal(got, tt.added) {
				t.Errorf("added %q, want %q", got, tt.added)
			}
			next, err := old.Apply(d)
			if err != nil {
				t.Fatal(err)
			}
			sameZone(t, next, new)
		})
	}
}

// TestCompareLargeRRset takes the sorted path for RRsets too big to compare record by record.
func TestCompareLargeRRset(t *testing.T) {
	var a, b strings.Builder
	for i := range 300 {
		a.WriteString("big A 10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256) + "\n")
		if i%7 != 0 {
			b.WriteString("big A 10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256) + "\n")
		}
	}
	b.WriteString("big A 10.9.9.9\n")
	old, new := mustLoad(t, "example.test.", small+a.String()), mustLoad(t, "example.test.", small2(b.String()))
	d := Compare(old, new)
	if len(d.Removed) != 43 || len(d.Added) != 1 {
		t.Fatalf("removed %d added %d, want 43 and 1", len(d.Removed), len(d.Added))
	}
	next, err := old.Apply(d)
	if err != nil {
		t.Fatal(err)
	}
	sameZone(t, next, new)
}

func mustRRs(t *testing.T, lines ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, l := range lines {
		rr, err := dns.New(l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out = append(out, rr)
	}
	return out
}

func TestApplyRejects(t *testing.T) {
	z := mustLoad(t, "example.test.", small+"www 300 A 192.0.2.80\nt TXT \"a\" \"b\"\n")
	before := recordLines(z)
	from := z.SOA
	to := mustRRs(t, "example.test. 300 IN SOA ns1.example.test. host.example.test. 2 2 3 4 5")[0].(*dns.SOA)
	tests := []struct {
		name           string
		from           *dns.SOA
		removed, added []string
		want           string
	}{
		{"serial mismatch", to, nil, nil, "the zone is at serial 1"},
		{"missing record", from, []string{"www.example.test. 300 IN A 192.0.2.81"}, nil, "removes www.example.test.\t300\tIN\tA\t192.0.2.81, which is not in the zone"},
		{"missing by TTL", from, []string{"www.example.test. 301 IN A 192.0.2.80"}, nil, "not in the zone"},
		{"missing by TXT strings", from, []string{`t.example.test. 300 IN TXT "a"`}, nil, "not in the zone"},
		{"missing owner", from, []string{"nx.example.test. 300 IN A 192.0.2.80"}, nil, "not in the zone"},
		{"removed twice", from, []string{"www.example.test. 300 IN A 192.0.2.80", "WWW.example.test. 300 IN A 192.0.2.80"}, nil, "twice"},
		{"added present", from, nil, []string{"www.example.test. 300 IN A 192.0.2.80"}, "already in the zone"},
		{"SOA in removed", from, []string{"example.test. 300 IN SOA ns1.example.test. host.example.test. 1 2 3 4 5"}, nil, "SOA"},
		{"SOA in added", from, nil, []string{"example.test. 300 IN SOA ns1.example.test. host.example.test. 3 2 3 4 5"}, "SOA"},
		{"result invalid", from, nil, []string{"www.example.test. 300 IN CNAME ns1.example.test."}, "CNAME beside A"},
		{"out of zone", from, nil, []string{"www.example.org. 300 IN A 192.0.2.1"}, "out of zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Diff{From: tt.from, To: to, Removed: mustRRs(t, tt.removed...), Added: mustRRs(t, tt.added...)}
			next, err := z.Apply(d)
			if err == nil || next != nil {
				t.Fatalf("accepted: %v", next)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
			if after := recordLines(z); !slices.Equal(after, before) {
				t.Fatalf("zone changed by a failed Apply")
			}
		})
	}
	// A record removed and added back by the same diff is allowed, as IXFR may carry it.
	d := Diff{From: from, To: to, Removed: mustRRs(t, "www.example.test. 300 IN A 192.0.2.80"), Added: mustRRs(t, "www.example.test. 300 IN A 192.0.2.80")}
	if _, err := z.Apply(d); err != nil {
		t.Fatal(err)
	}
}

// TestApplyLeavesItsSourcesAlone: Apply takes over the records and nodes a diff leaves alone
// (neither ever changes once in a zone), but it writes to none of them, shares no node whose
// records the diff changes with the zone it came from, and keeps its own copies of the diff's.
func TestApplyLeavesItsSourcesAlone(t *testing.T) {
	old := mustLoad(t, "types.test.", manyTypes)
	before := recordLines(old)
	new := mustLoad(t, "types.test.", editZone(old, rand.New(rand.NewPCG(1, 2)), 20))
	d := Compare(old, new)
	added := rrLines(d.Added)
	next, err := old.Apply(d)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recordLines(old), before) {
		t.Fatal("Apply changed the zone it came from")
	}
	changed := map[string]bool{}
	for _, rr := range append(slices.Clone(d.Removed), d.Added...) {
		changed[key(t, strings.ToLower(rr.Header().Name))] = true
	}
	shared := 0
	for n := range next.Nodes() {
		if old.Node(n.Key) != n {
			continue
		}
		shared++
		if changed[n.Key] {
			t.Fatalf("node %s changed and still shared between the versions", n.Name)
		}
	}
	if shared == 0 {
		t.Fatal("no node shared between the versions")
	}
	for rr := range next.All() {
		for _, a := range d.Added {
			if rr == a {
				t.Fatalf("Apply's zone holds the diff's own record %s", rr)
			}
		}
	}
	if !slices.Equal(rrLines(d.Added), added) {
		t.Fatal("Apply changed the diff")
	}
}

// TestCompareApplyRandom: for random edits of a zone with many types, Compare then Apply
// reproduces the edited zone exactly, and a chain of diffs applied in turn reaches the last version.
func TestCompareApplyRandom(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		start := mustLoad(t, "types.test.", manyTypes)
		z := start
		for step := range 5 {
			new := mustLoad(t, "types.test.", editZone(z, rng, 1+rng.IntN(30)))
			next, err := z.Apply(Compare(z, new))
			if err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			sameZone(t, next, new)
			z = next
		}
		back, err := z.Apply(Diff{From: z.SOA, To: start.SOA, Removed: Compare(start, z).Added, Added: Compare(start, z).Removed})
		if err != nil {
			t.Fatalf("seed %d: reverse diff: %v", seed, err)
		}
		sameZone(t, back, start)
	}
}

// TestLoadTXTDuplicates: TXT records of the same first string but a different number of strings
// are different records. The message library's comparison took them for duplicates or panicked.
func TestLoadTXTDuplicates(t *testing.T) {
	for _, text := range []string{"t TXT \"a\" \"b\"\nt TXT \"a\"\n", "t TXT \"a\"\nt TXT \"a\" \"b\"\n"} {
		z := mustLoad(t, "example.test.", small+text)
		if got := len(z.Node(key(t, "t.example.test.")).RRset(dns.TypeTXT)); got != 2 {
			t.Errorf("%q: %d TXT records, want 2", text, got)
		}
	}
}

// big holds the 1,000,000-record zones of the benchmarks: one loaded from text, and the same
// with ten records changed.
var big struct {
	once     sync.Once
	text     []byte
	old, new *Zone
	err      error
}

func bigZones(b *testing.B) (old, new *Zone) {
	if testing.Short() {
		b.Skip("1,000,000-record zones take seconds to build")
	}
	big.once.Do(func() {
		big.text = bigZone(1_000_000)
		if big.old, _, big.err = Load("big.test.", "big.db", big.text); big.err != nil {
			return
		}
		var edits strings.Builder
		edits.WriteString(strings.Replace(string(big.text), "hostmaster 1 ", "hostmaster 2 ", 1))
		for i := range 4 {
			edits.WriteString("new" + strconv.Itoa(i) + " A 192.0.2.7\n")
		}
		text := strings.Replace(edits.String(), "h17 A 10.0.0.17\n", "", 1)
		text = strings.Replace(text, "h18 A 10.0.0.18\n", "", 1)
		text = strings.Replace(text, "h19 TXT \"host 19\"\n", "h19 TXT \"host nineteen\"\n", 1)
		text = strings.Replace(text, "h20 AAAA 2001:db8::0:14\n", "h20 600 AAAA 2001:db8::0:14\n", 1)
		big.new, _, big.err = Load("big.test.", "big.db", []byte(text))
	})
	if big.err != nil {
		b.Fatal(big.err)
	}
	return big.old, big.new
}

func BenchmarkLoad(b *testing.B) {
	bigZones(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Load("big.test.", "big.db", big.text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompare(b *testing.B) {
	old, new := bigZones(b)
	b.ReportAllocs()
	var d Diff
	for b.Loop() {
		d = Compare(old, new)
	}
	if n := len(d.Removed) + len(d.Added); n != 10 {
		b.Fatalf("diff of %d records, want 10", n)
	}
}

func BenchmarkApply(b *testing.B) {
	old, new := bigZones(b)
	d := Compare(old, new)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := old.Apply(d); err != nil {
			b.Fatal(err)
		}
	}
}

// TestApplyCompareSharded: on a zone of many shards, random diffs applied in turn make versions
// that share most of their index with the one before, and Compare, which then looks only at what
// they do not share, finds the same difference as a walk through every node, and the records
// the diff changed.
func TestApplyCompareSharded(t *testing.T) {
	start := mustLoad(t, "big.test.", string(bigZone(8000)))
	if len(start.names.shards) < 8 {
		t.Fatalf("%d shards: the test wants several", len(start.names.shards))
	}
	rng := rand.New(rand.NewPCG(3, 16))
	z := start
	for step := range 20 {
		var kept []dns.RR
		for rr := range z.All() {
			if dns.RRToType(rr) != dns.TypeSOA {
				kept = append(kept, rr)
			}
		}
		to := *z.SOA
		to.Serial++
		d := Diff{From: z.SOA, To: &to}
		for range 1 + rng.IntN(8) {
			i := rng.IntN(len(kept))
			d.Removed = append(d.Removed, kept[i])
			kept = slices.Delete(kept, i, i+1)
		}
		for i := range rng.IntN(8) {
			rr, err := dns.New(fmt.Sprintf("n%d-%d.h%d.big.test. 300 IN A 192.0.2.%d", step, i, rng.IntN(2000), i))
			if err != nil {
				t.Fatal(err)
			}
			d.Added = append(d.Added, rr)
		}
		next, err := z.Apply(d)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if !sharesIndex(z, next) {
			t.Fatalf("step %d: the new version shares too few shards", step)
		}
		got, walked := Compare(z, next), compareWalk(z, next)
		for _, pair := range [][2][]dns.RR{{got.Removed, walked.Removed}, {got.Added, walked.Added}, {got.Removed, d.Removed}, {got.Added, d.Added}} {
			a, b := rrLines(pair[0]), rrLines(pair[1])
			slices.Sort(a)
			slices.Sort(b)
			if !slices.Equal(a, b) {
				t.Fatalf("step %d: Compare found\n%s\nwant\n%s", step, strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
		}
		z = next
	}
	built, _, err := Build("big.test.", "ref", slices.Collect(z.All()))
	if err != nil {
		t.Fatal(err)
	}
	sameZone(t, z, built)
}
