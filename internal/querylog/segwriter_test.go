package querylog

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"warden/internal/query"
)

// randomRows makes n rows that stress the encoder: names of any bytes (empty ones too), more
// distinct clients than the clients' table has slots, empty and repeated texts in every
// dictionary column, runs and no runs, latencies at the ends of int64, times out of order.
// Half come through the collector's path (entries), half as rows (a merge's path).
func randomRows(t *testing.T, n int, seed uint64) (*columns, []Row) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 99))
	c := new(columns)
	c.reset()
	want := make([]Row, 0, n)
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	pick := func(vals ...string) string { return vals[r.IntN(len(vals))] }
	for i := range n {
		at := base.Add(time.Duration(r.Int64N(int64(time.Hour))))
		if i%2 == 0 {
			client := netip.AddrFrom4([4]byte{10, byte(r.IntN(3)), byte(r.IntN(256)), byte(r.IntN(256))})
			if r.IntN(7) == 0 {
				client = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(256)), 14: byte(r.IntN(3))})
			}
			name := make([]byte, 0, 255)
			for range r.IntN(5) {
				l := 1 + r.IntN(20)
				name = append(name, byte(l))
				for range l {
					name = append(name, byte(r.IntN(256)))
				}
			}
			name = append(name, 0)
			rec := query.Record{
				Received:  at.Add(-time.Duration(r.IntN(5000)) * time.Microsecond),
				Sent:      at,
				Client:    netip.AddrPortFrom(client, 53),
				Transport: query.Transport(r.IntN(5)),
				QType:     []uint16{1, 28, 65, 15, 16, 300, 65535}[r.IntN(7)],
				Rcode:     uint16(r.IntN(24)),
				Outcome:   query.Outcome{Source: query.Source(r.IntN(7))},
				QName:     name,
			}
			if r.IntN(4) == 0 {
				rec.Outcome.PolicySet, rec.Outcome.PolicyRule = pick("malware", "ads"), pick("*.bad.example", "x.test", "")
			}
			if r.IntN(3) == 0 {
				rec.Outcome.Upstream = fmt.Sprintf("192.0.2.%d:53", r.IntN(40))
			}
			if r.IntN(50) == 0 {
				rec.Client = netip.AddrPort{}
			}
			var e entry
			fill(&e, &rec)
			c.add(&e, base)
			want = append(want, rowOf(&e, base))
			continue
		}
		name := make([]byte, r.IntN(40))
		for k := range name {
			name[k] = byte(r.IntN(256))
		}
		row := Row{
			Time:       at.Truncate(time.Microsecond),
			Client:     pick("", "192.0.2.1", fmt.Sprintf("2001:db8::%x", r.IntN(10_000))),
			Name:       string(name),
			QType:      pick("A", "", "TYPE65280"),
			Rcode:      pick("NOERROR", "NXDOMAIN"),
			Source:     pick("cache", "policy", ""),
			PolicySet:  pick("", "set\x00with nul"),
			PolicyRule: pick("", "rule"),
			Upstream:   pick("", "[2001:db8::53]:853"),
			LatencyUS:  []int64{0, 1, -1, math.MaxInt64, math.MinInt64, r.Int64()}[r.IntN(6)],
			Transport:  pick("udp", "tcp", "doq"),
		}
		c.addRow(&row)
		want = append(want, row)
	}
	return c, want
}

// sameRow compares rows field by field, times as instants.
func sameRow(a, b Row) bool {
	at, bt := a.Time, b.Time
	a.Time, b.Time = time.Time{}, time.Time{}
	return at.Equal(bt) && a == b
}

// Rows of every kind, more than several row groups of them, written by the log's encoder and
// read back by parquet-go's reader (as search and merge read them), come back as they went in,
// in time order.
func TestSegmentRoundTrip(t *testing.T) {
	for _, n := range []int{1, 7, 2*rowsPerGroup + 333} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c, want := randomRows(t, n, uint64(n))
			order := inOrder(n)
			slices.SortStableFunc(order, func(a, b int32) int { return want[a].Time.Compare(want[b].Time) })
			st, err := openStore(t.TempDir(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.write(c, order); err != nil {
				t.Fatal(err)
			}
			path := st.segs[0].path(st.dir)
			got, err := readAll(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("%d rows read, %d written", len(got), n)
			}
			for i, k := range order {
				if !sameRow(got[i], want[k]) {
					t.Fatalf("row %d:\n got %+v\nwant %+v", i, got[i], want[k])
				}
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Size() != st.segs[0].size {
				t.Errorf("size %d counted, file %v (%v)", st.segs[0].size, fi.Size(), err)
			}
			// The statistics readers use to skip by time hold the group's first and last time.
			_, pf, err := openSegment(path)
			if err != nil {
				t.Fatal(err)
			}
			if groups := len(pf.RowGroups()); groups != (n+rowsPerGroup-1)/rowsPerGroup {
				t.Errorf("%d row groups for %d rows", groups, n)
			}
			for g, rg := range pf.Metadata().RowGroups {
				// parquet-go's reader takes the first group's codec for every group.
				for col, cc := range rg.Columns {
					if first := pf.Metadata().RowGroups[0].Columns[col].MetaData.Codec; cc.MetaData.Codec != first {
						t.Errorf("group %d column %s: codec %v, group 0's %v", g, logSchema[col].name, cc.MetaData.Codec, first)
					}
				}
				st := rg.Columns[0].MetaData.Statistics
				lo, hi := got[g*rowsPerGroup].Time, got[g*rowsPerGroup+int(rg.NumRows)-1].Time
				if fmt.Sprint(st.MinValue) != fmt.Sprint(le64(lo.UnixMicro())) || fmt.Sprint(st.MaxValue) != fmt.Sprint(le64(hi.UnixMicro())) {
					t.Errorf("group %d: time statistics %v..%v, want %v..%v", g, st.MinValue, st.MaxValue, lo, hi)
				}
			}
		})
	}
}

func le64(v int64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(uint64(v) >> (8 * i))
	}
	return b
}

// Every name and client parquet-go reads from a row group is one its Bloom filter (written by
// the log's encoder, read by parquet-go) may hold; values the group does not hold are turned
// away nearly always, so the filter does its work.
func TestBloomFindsEveryNameAndClient(t *testing.T) {
	n := rowsPerGroup + rowsPerGroup/2
	es := benchEntriesOf(n, 50_000, 20_000, time.Now().Add(-time.Hour), 5)
	c := new(columns)
	c.reset()
	for i := range es {
		c.add(&es[i], time.Now())
	}
	st, err := openStore(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.write(c, nil); err != nil {
		t.Fatal(err)
	}
	_, pf, err := openSegment(st.segs[0].path(st.dir))
	if err != nil {
		t.Fatal(err)
	}
	for g, rg := range pf.RowGroups() {
		for _, col := range []int{colName, colClient} {
			cc := rg.ColumnChunks()[col]
			bf := cc.BloomFilter()
			if bf == nil {
				t.Fatalf("group %d column %s: no Bloom filter", g, logSchema[col].name)
			}
			held := map[string]bool{}
			values := readColumn(t, cc)
			for _, v := range values {
				held[v] = true
				if ok, err := bf.Check(parquet.ByteArrayValue([]byte(v))); !ok || err != nil {
					t.Fatalf("group %d: filter of %s does not find %q (%v)", g, logSchema[col].name, v, err)
				}
			}
			if len(values) != int(rg.NumRows()) {
				t.Fatalf("group %d: %d values of %d rows", g, len(values), rg.NumRows())
			}
			falsePos := 0
			const tries = 5000
			for k := range tries {
				v := fmt.Sprintf("absent%d.example.", k)
				if col == colClient {
					v = fmt.Sprintf("10.200.%d.%d", k>>8, k&255)
				}
				if ok, _ := bf.Check(parquet.ByteArrayValue([]byte(v))); ok && !held[v] {
					falsePos++
				}
			}
			if falsePos > tries/20 {
				t.Errorf("group %d column %s: %d of %d absent values pass the filter", g, logSchema[col].name, falsePos, tries)
			}
		}
	}
	// And the search, which skips groups by these filters, finds a name of each group.
	for _, k := range []int{3, n - 3} {
		want := string(c.name(k))
		rows, err := Search(st.dir, Filter{Name: want, Limit: MaxLimit})
		if err != nil || len(rows) == 0 {
			t.Fatalf("search for %s: %d rows, %v", want, len(rows), err)
		}
	}
}

// readColumn reads every value of a byte-array column chunk as parquet-go's reader gives it.
func readColumn(t *testing.T, cc parquet.ColumnChunk) []string {
	t.Helper()
	pages := cc.Pages()
	defer pages.Close()
	var out []string
	vals := make([]parquet.Value, 1024)
	for {
		p, err := pages.ReadPage()
		if err != nil {
			return out
		}
		vr := p.Values()
		for {
			k, err := vr.ReadValues(vals)
			for _, v := range vals[:k] {
				out = append(out, string(v.ByteArray()))
			}
			if err != nil {
				break
			}
		}
		parquet.Release(p)
	}
}

// Segments written by parquet-go's own writer (the log's writer before its own encoder) are
// searched and merged as before: the schema is the same.
func TestOldSegmentsStayReadable(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	var want []Row
	for i := range mergeAtLeast + 1 {
		rows := []Row{{Time: base.Add(time.Duration(i) * time.Second), Client: "192.0.2.7", Name: fmt.Sprintf("old%d.test.", i),
			QType: "A", Rcode: "NOERROR", Source: "cache", LatencyUS: int64(i), Transport: "udp"}}
		want = append(want, rows...)
		us := rows[0].Time.UnixMicro()
		f, err := os.Create(filepath.Join(dir, segmentName(uint64(i), uint64(i), us, us)))
		if err != nil {
			t.Fatal(err)
		}
		w := parquet.NewGenericWriter[Row](f, parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}),
			parquet.BloomFilters(parquet.SplitBlockFilter(bloomBitsPerValue, "name"), parquet.SplitBlockFilter(bloomBitsPerValue, "client")))
		if _, err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	st, err := openStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := Search(dir, Filter{Name: "old3.test.", Limit: 10}); err != nil || len(rows) != 1 || !sameRow(rows[0], want[3]) {
		t.Fatalf("search of an old segment: %v %+v", err, rows)
	}
	if merged, err := st.merge(); err != nil || !merged {
		t.Fatalf("merge of old segments: %v %v", merged, err)
	}
	rows, err := Search(dir, Filter{Client: "192.0.2.7", Limit: 100})
	if err != nil || len(rows) != len(want) {
		t.Fatalf("after the merge: %d rows, %v", len(rows), err)
	}
	for i, r := range rows {
		if w := want[len(want)-1-i]; !sameRow(r, w) {
			t.Errorf("row %d: %+v, want %+v", i, r, w)
		}
	}
}
