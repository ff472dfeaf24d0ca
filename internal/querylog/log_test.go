package querylog

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"warden/internal/query"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// wireName is the wire form of a presentation name, for test records.
func wireName(name string) []byte {
	var out []byte
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		out = append(out, byte(len(l)))
		out = append(out, l...)
	}
	return append(out, 0)
}

func record(name, client string, qtype uint16, sent time.Time) query.Record {
	return query.Record{
		Received:  sent.Add(-150 * time.Microsecond),
		Sent:      sent,
		Client:    netip.AddrPortFrom(netip.MustParseAddr(client), 5353),
		Transport: query.UDP,
		QType:     qtype,
		Rcode:     3,
		Outcome:   query.Outcome{Source: query.SourcePolicy, PolicySet: "malware", PolicyRule: "*.bad.test"},
		QName:     wireName(name),
	}
}

// waitRows searches until want rows are there or two seconds pass.
func waitRows(t *testing.T, dir string, f Filter, want int) []Row {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		rows, err := Search(dir, f)
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		if len(rows) >= want || time.Now().After(deadline) {
			return rows
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLogWritesAndSearches(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Config{Dir: dir}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	udp := l.Recorder(query.UDP, true)
	tcp := l.Recorder(query.TCP, false)
	now := time.Now()
	udp.Record([]query.Record{record("WWW.Bad.Test.", "192.0.2.1", 1, now), record("other.test.", "192.0.2.2", 28, now.Add(time.Millisecond))})
	overTCP := record("www.bad.test.", "2001:db8::7", 1, now.Add(2*time.Millisecond))
	overTCP.Transport = query.TCP
	overTCP.Outcome = query.Outcome{Source: query.SourceForward, Upstream: "192.0.2.53:853"}
	tcp.Record([]query.Record{overTCP})

	rows := waitRows(t, dir, Filter{Name: "www.bad.test.", Limit: 10}, 2)
	if len(rows) != 2 {
		t.Fatalf("name search: %d rows, want 2: %+v", len(rows), rows)
	}
	if rows[0].Client != "2001:db8::7" || rows[0].Transport != "tcp" || rows[1].Client != "192.0.2.1" {
		t.Errorf("rows not newest first or wrong clients: %+v", rows)
	}
	if rows[0].Source != "forward" || rows[0].Upstream != "192.0.2.53:853" || rows[1].Upstream != "" {
		t.Errorf("upstreams %q (%s) and %q (%s), want 192.0.2.53:853 for the forwarded answer only",
			rows[0].Upstream, rows[0].Source, rows[1].Upstream, rows[1].Source)
	}
	r := rows[1]
	if r.Name != "www.bad.test." || r.QType != "A" || r.Rcode != "NXDOMAIN" || r.Source != "policy" ||
		r.PolicySet != "malware" || r.PolicyRule != "*.bad.test" || r.LatencyUS != 150 || !r.Time.Equal(now.UTC().Truncate(time.Microsecond)) {
		t.Errorf("row = %+v", r)
	}
	if rows := waitRows(t, dir, Filter{Client: "192.0.2.2", Limit: 10}, 1); len(rows) != 1 || rows[0].Name != "other.test." || rows[0].QType != "AAAA" {
		t.Errorf("client search: %+v", rows)
	}
	if rows, _ := Search(dir, Filter{Limit: 2}); len(rows) != 2 {
		t.Errorf("limit 2: %d rows", len(rows))
	}
	if rows, _ := Search(dir, Filter{Name: "www.bad.test.", Client: "192.0.2.2"}); len(rows) != 0 {
		t.Errorf("name and client that never went together: %+v", rows)
	}
	if rows, _ := Search(dir, Filter{Since: now.Add(time.Hour)}); len(rows) != 0 {
		t.Errorf("since the future: %+v", rows)
	}
	l.Close()

	// A restart keeps the rows and adds to them.
	l, err = Open(Config{Dir: dir}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	l.Recorder(query.UDP, true).Record([]query.Record{record("after.test.", "192.0.2.3", 1, time.Now())})
	l.Close()
	rows, err = Search(dir, Filter{Limit: 100})
	if err != nil || len(rows) != 4 || rows[0].Name != "after.test." {
		t.Fatalf("after a restart: %v %+v", err, rows)
	}
}

func TestLogDropsWhenFull(t *testing.T) {
	r := newRing(4, true, 1)
	now := time.Now()
	recs := make([]query.Record, 10)
	for i := range recs {
		recs[i] = record("a.test.", "192.0.2.1", 1, now)
	}
	r.Record(recs)
	if got := r.dropped.Load(); got != 6 {
		t.Errorf("dropped %d, want 6", got)
	}
	if n := r.drain(func(*entry) {}); n != 4 {
		t.Errorf("drained %d, want 4", n)
	}
	r.Record(recs[:3])
	if n := r.drain(func(*entry) {}); n != 3 {
		t.Errorf("drained %d after emptying, want 3", n)
	}
}

func TestLogSamples(t *testing.T) {
	r := newRing(64, false, 4)
	recs := make([]query.Record, 20)
	for i := range recs {
		recs[i] = record("a.test.", "192.0.2.1", 1, time.Now())
	}
	r.Record(recs)
	if n := r.drain(func(*entry) {}); n != 5 {
		t.Errorf("sample 4 of 20 kept %d, want 5", n)
	}
}

func TestStoreDropsOldestBeyondMaxBytes(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour)
	for i := range 5 {
		e := entry{}
		rec := record("n"+string(rune('a'+i))+".test.", "192.0.2.1", 1, base.Add(time.Duration(i)*time.Second))
		fill(&e, &rec)
		if err := st.write(columnsOf([]Row{rowOf(&e, time.Now())}), nil); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := Search(dir, Filter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	// Every segment is above a size of 1 byte: only the newest stays.
	if len(rows) != 1 || rows[0].Name != "ne.test." {
		t.Fatalf("rows kept: %+v", rows)
	}
}

func TestStoreMergesSmallSegments(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour)
	for i := range 12 {
		rec := record("m.test.", "192.0.2.9", 1, base.Add(time.Duration(i)*time.Second))
		var e entry
		fill(&e, &rec)
		if err := st.write(columnsOf([]Row{rowOf(&e, time.Now())}), nil); err != nil {
			t.Fatal(err)
		}
	}
	merged, err := st.merge()
	if err != nil || !merged {
		t.Fatalf("merge: %v %v", merged, err)
	}
	segs, _ := listSegments(dir)
	files, _ := filepath.Glob(filepath.Join(dir, "q-*.parquet"))
	if len(segs) != 2 || len(files) != 2 {
		t.Fatalf("after merging 11 of 12: %d segments, %d files", len(segs), len(files))
	}
	rows, err := Search(dir, Filter{Name: "m.test.", Limit: 100})
	if err != nil || len(rows) != 12 {
		t.Fatalf("rows after merge: %d %v", len(rows), err)
	}
}

func TestSearchNamesDamagedFile(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Config{Dir: dir}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	l.Recorder(query.UDP, true).Record([]query.Record{record("a.test.", "192.0.2.1", 1, time.Now())})
	l.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "q-*.parquet"))
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
	data, _ := os.ReadFile(files[0])
	if err := os.WriteFile(files[0], data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Search(dir, Filter{Name: "a.test."})
	if err == nil || !strings.Contains(err.Error(), files[0]) {
		t.Fatalf("search of a damaged file: %v", err)
	}
}

func TestParseFilter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f, err := ParseFilter("WWW.Example.Test", "::ffff:192.0.2.1", "90s", "7", now)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "www.example.test." || f.Client != "192.0.2.1" || !f.Since.Equal(now.Add(-90*time.Second)) || f.Limit != 7 {
		t.Errorf("filter = %+v", f)
	}
	for _, bad := range [][4]string{
		{"a..b", "", "", ""}, {"", "192.0.2", "", ""}, {"", "", "yesterday", ""}, {"", "", "-1h", ""},
		{"", "", "", "0"}, {"", "", "", "1000001"}, {"", "", "", "x"}, {"a b", "", "", ""},
	} {
		if _, err := ParseFilter(bad[0], bad[1], bad[2], bad[3], now); err == nil {
			t.Errorf("ParseFilter(%q) accepted", bad)
		}
	}
}

func TestNameText(t *testing.T) {
	for _, c := range []struct {
		wire []byte
		want string
	}{
		{wireName("WwW.Example.TEST."), "www.example.test."},
		{[]byte{0}, "."},
		{nil, "."},
		{[]byte{3, 'a', '.', 0xff, 0}, `a\.\255.`},
		{[]byte{5, 'a'}, "."},
	} {
		if got := nameText(c.wire); got != c.want {
			t.Errorf("nameText(%q) = %q, want %q", c.wire, got, c.want)
		}
	}
}

// The listener's side never allocates: a UDP worker's batch copied into its ring, and a shared
// ring's record, as the hot path's 0 allocs/op requires.
func TestRecordDoesNotAllocate(t *testing.T) {
	for _, exclusive := range []bool{true, false} {
		r := newRing(ringSize, exclusive, 1)
		recs := make([]query.Record, 16)
		for i := range recs {
			recs[i] = record("www.example.test.", "192.0.2.1", 1, time.Now())
		}
		if n := testing.AllocsPerRun(100, func() { r.Record(recs) }); n != 0 {
			t.Errorf("exclusive %v: %v allocations a batch", exclusive, n)
		}
		if d := r.dropped.Load(); d != 0 {
			t.Errorf("exclusive %v: %d dropped", exclusive, d)
		}
	}
}

// TestColumnsKeepEveryRowsOwnName sends more clients than the clients' table has slots, and
// their names, each several times in a shuffled order and with the case of some letters
// changed, through batches that share one clients' table: every row must carry its own
// entry's name and client, whatever the slot held before.
func TestColumnsKeepEveryRowsOwnName(t *testing.T) {
	c := new(columns)
	c.reset()
	now := time.Now()
	r := rand.New(rand.NewPCG(7, 7))
	const names = 3 * clientSlots
	for i := range 4 * names {
		if i%(names/2) == 0 {
			c.reset() // a new batch, the clients' texts kept
		}
		k := r.IntN(names)
		name := fmt.Sprintf("h%d.Z%d.test.", k, k%31)
		client := fmt.Sprintf("10.%d.%d.%d", k>>16&255, k>>8&255, k&255)
		if k%3 == 0 {
			client = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(k), 14: byte(k >> 8), 13: byte(k >> 16)}).String()
		}
		var e entry
		rec := record(name, client, 1, now)
		fill(&e, &rec)
		c.add(&e, now)
		row := c.row(c.len() - 1)
		if want := strings.ToLower(name); row.Name != want {
			t.Fatalf("row %d: name %q, want %q", i, row.Name, want)
		}
		if row.Client != client {
			t.Fatalf("row %d: client %q, want %q", i, row.Client, client)
		}
		if want := rowOf(&e, now); row != want {
			t.Fatalf("row %d: %+v, want %+v as rowOf makes it", i, row, want)
		}
	}
}
