package querylog

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// addRows counts rows as the writer counts a batch.
func addRows(c *topCounter, rows []Row) { c.add(columnsOf(rows), inOrder(len(rows))) }

// inOrder is the order 0, 1, ..., n-1.
func inOrder(n int) []int32 {
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	return order
}

func rowsAt(t time.Time, name, client, source string, n int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = Row{Time: t, Name: name, Client: client, Source: source}
	}
	return rows
}

// Below the capacity the lists are exact, in order, and blocked names are those a policy
// answered.
func TestTopExact(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var c topCounter
	var batch []Row
	batch = append(batch, rowsAt(now, "a.example.", "192.0.2.1", "cache", 30)...)
	batch = append(batch, rowsAt(now, "b.example.", "192.0.2.2", "authority", 20)...)
	batch = append(batch, rowsAt(now, "ads.example.", "192.0.2.2", "policy", 10)...)
	addRows(&c, batch)
	addRows(&c, rowsAt(now.Add(time.Second), "b.example.", "192.0.2.3", "authority", 15))
	got := c.lists(10, now.Add(2*time.Second))
	want := fmt.Sprint([]Counted{{"b.example.", 35}, {"a.example.", 30}, {"ads.example.", 10}})
	if fmt.Sprint(got.Names) != want {
		t.Errorf("names %v, want %v", got.Names, want)
	}
	if w := fmt.Sprint([]Counted{{"192.0.2.1", 30}, {"192.0.2.2", 30}, {"192.0.2.3", 15}}); fmt.Sprint(got.Clients) != w {
		t.Errorf("clients %v, want %v", got.Clients, w)
	}
	if w := fmt.Sprint([]Counted{{"ads.example.", 10}}); fmt.Sprint(got.Blocked) != w {
		t.Errorf("blocked %v, want %v", got.Blocked, w)
	}
	if top1 := c.lists(1, now); len(top1.Names) != 1 || top1.Names[0].Key != "b.example." {
		t.Errorf("top 1: %v", top1.Names)
	}
}

// Rows leave the lists once their bucket is older than the window, and a row that arrives
// later than that is not counted.
func TestTopWindow(t *testing.T) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var c topCounter
	addRows(&c, rowsAt(start, "old.example.", "192.0.2.1", "cache", 5))
	addRows(&c, rowsAt(start.Add(30*time.Minute), "mid.example.", "192.0.2.1", "cache", 3))
	if got := c.lists(10, start.Add(31*time.Minute)).Names; len(got) != 2 {
		t.Fatalf("within the hour: %v", got)
	}
	later := start.Add(TopWindow + topBucketSpan)
	addRows(&c, rowsAt(later, "new.example.", "192.0.2.1", "cache", 1))
	got := c.lists(10, later)
	if fmt.Sprint(got.Names) != fmt.Sprint([]Counted{{"mid.example.", 3}, {"new.example.", 1}}) {
		t.Errorf("an hour on: %v", got.Names)
	}
	addRows(&c, rowsAt(start, "late.example.", "192.0.2.1", "cache", 7))
	for _, e := range c.lists(10, later).Names {
		if e.Key == "late.example." || e.Key == "old.example." {
			t.Errorf("a row older than the window is counted: %v", e)
		}
	}
}

// With far more distinct keys than the capacity, the heavy hitters are still found, their
// counts short by no more than the pruning allows, and memory stays bounded.
func TestTopHeavyHitters(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(1, 2))
	var c topCounter
	const total = 200_000
	heavy := map[string]uint64{}
	rows := make([]Row, 0, 10_000)
	for i := range total {
		name := fmt.Sprintf("tail%d.example.", r.IntN(100_000))
		if i%10 < 3 { // 30 % of rows go to three names
			name = fmt.Sprintf("heavy%d.example.", i%10)
			heavy[name]++
		}
		rows = append(rows, Row{Time: now, Name: name, Client: "192.0.2.1"})
		if len(rows) == cap(rows) {
			addRows(&c, rows)
			rows = rows[:0]
		}
	}
	addRows(&c, rows)
	b := c.bucket(now)
	if n := len(b.lists[listNames].m); n > 2*topKeep {
		t.Fatalf("%d keys kept, at most %d", n, 2*topKeep)
	}
	got := c.lists(3, now).Names
	if len(got) != 3 {
		t.Fatalf("top 3: %v", got)
	}
	for _, e := range got {
		exact, ok := heavy[e.Key]
		if !ok {
			t.Errorf("%s is in the top 3, not a heavy name: %v", e.Key, got)
			continue
		}
		if e.Count > exact || e.Count+total/topKeep < exact {
			t.Errorf("%s counted %d, truly %d", e.Key, e.Count, exact)
		}
	}
}

// A batch larger than topRowsPerBatch is counted from a random sample of its rows: the heavy
// keys' counts stay close, clients taking turns are all seen, and the totals add up.
func TestTopSampled(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clients := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}
	r := rand.New(rand.NewPCG(5, 6))
	const n = 8 * topRowsPerBatch
	rows := make([]Row, n)
	exact := map[string]float64{}
	for i := range rows {
		name := fmt.Sprintf("tail%d.example.", r.IntN(50_000))
		if i%5 < 2 {
			name = fmt.Sprintf("heavy%d.example.", i%5)
		}
		exact[name]++
		rows[i] = Row{Time: now, Name: name, Client: clients[i%len(clients)]}
	}
	var c topCounter
	addRows(&c, rows)
	got := c.lists(len(clients), now)
	for _, e := range got.Names[:2] {
		if want := exact[e.Key]; !strings.HasPrefix(e.Key, "heavy") || float64(e.Count) < 0.95*want || float64(e.Count) > 1.05*want {
			t.Errorf("%s counted %d, truly %v", e.Key, e.Count, want)
		}
	}
	if len(got.Clients) != len(clients) {
		t.Fatalf("clients %v", got.Clients)
	}
	for _, e := range got.Clients {
		if want := float64(n / len(clients)); float64(e.Count) < 0.95*want || float64(e.Count) > 1.05*want {
			t.Errorf("client %s counted %d, truly %v", e.Key, e.Count, want)
		}
	}
}

// BenchmarkTopAdd is the writer's cost per row of the top lists (ns/op is per row), for batches
// of 65,536 rows (a second at that rate: a quarter of the rows is counted). "even": the query
// log's benchmark traffic, 500,000 names each as likely (the worst case: almost every row
// a key the lists do not hold, and pruning all the time); "zipf": names drawn with Zipf's law
// (s=1.1) from the same 500,000, as real DNS traffic is skewed.
func BenchmarkTopAdd(b *testing.B) {
	start := time.Now()
	es := benchEntries(1<<16, start, 1)
	even := make([]Row, len(es))
	for i := range es {
		even[i] = rowOf(&es[i], start)
	}
	zipf := slices.Clone(even)
	z := rand.NewZipf(rand.New(rand.NewPCG(3, 4)), 1.1, 1, 500_000-1)
	for i := range zipf {
		k := z.Uint64()
		zipf[i].Name = fmt.Sprintf("host%d.zone%d.example.", k, k%977)
	}
	for _, bb := range []struct {
		name string
		rows []Row
	}{{"even", even}, {"zipf", zipf}} {
		cols, order := columnsOf(bb.rows), inOrder(len(bb.rows))
		b.Run(bb.name, func(b *testing.B) {
			var c topCounter
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += len(bb.rows) {
				c.add(cols, order)
			}
		})
	}
}
