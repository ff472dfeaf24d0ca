package querylog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Layout of the files: measured in docs/architecture.md ("The query log").
const (
	// rowsPerGroup is the size of a row group: the unit a search skips by its Bloom filters.
	// Smaller groups skip more precisely; each costs a filter and a footer entry.
	rowsPerGroup = 16 << 10
	// bloomBitsPerValue gives the name and client filters about 1% false positives.
	bloomBitsPerValue = 10
	// mergeBelow is the size under which a segment is merged with its neighbours, and
	// mergeRows the most rows a merged segment takes: a quiet server writes a small segment every
	// second, which would otherwise leave tens of thousands of files a day. A busy one (above
	// about 15,000 answers a second) writes segments above it, and spends nothing on merging.
	mergeBelow = 256 << 10
	mergeRows  = 256 << 10
	// mergeAtLeast is how many small segments in a row are worth a merge.
	mergeAtLeast = 8
)

// store writes the log's segments in one directory and keeps them within maxBytes. One
// goroutine (the writer) uses it.
type store struct {
	dir      string
	maxBytes int64
	segs     []segment // oldest first
	total    int64
	nextSeq  uint64
	// enc is the Parquet encoder, made once: its buffers serve every file.
	enc *segmentWriter
	// ident is the order 0, 1, 2, ... of a batch already in time order.
	ident []int32
}

// openStore takes over dir as the log's directory, making it if needed. Segments written
// before stay; files left by a write or merge that a crash interrupted are removed.
func openStore(dir string, maxBytes int64) (*store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("query log %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("query log %s: %w", dir, err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	all, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	s := &store{dir: dir, maxBytes: maxBytes}
	// Segments that a merge covered but did not get to remove.
	keep := map[string]bool{}
	for _, seg := range all {
		keep[seg.name] = true
	}
	for _, e := range ents {
		if _, ok := parseSegmentName(e.Name()); ok && !keep[e.Name()] {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	s.segs = all
	for _, seg := range all {
		s.total += seg.size
		s.nextSeq = max(s.nextSeq, seg.last+1)
	}
	return s, nil
}

// write puts the rows of c into a new segment, in the order given (indexes into c, oldest
// first; nil when c is in order already), then drops the oldest segments beyond maxBytes.
func (s *store) write(c *columns, order []int32) error {
	if c.len() == 0 {
		return nil
	}
	if order == nil {
		order = s.identity(c.len())
	}
	seg := segment{first: s.nextSeq, last: s.nextSeq, startUS: c.timeUS[order[0]], endUS: c.timeUS[order[len(order)-1]]}
	s.nextSeq++
	if err := s.create(&seg, c, order); err != nil {
		return err
	}
	s.segs = append(s.segs, seg)
	s.total += seg.size
	s.trim()
	return nil
}

// identity is the order of n rows already in time order.
func (s *store) identity(n int) []int32 {
	for i := len(s.ident); i < n; i++ {
		s.ident = append(s.ident, int32(i))
	}
	return s.ident[:n]
}

// yieldEvery is how many rows the merge reads between yields to the scheduler.
const yieldEvery = 2048

// create writes a segment through a temporary file and renames it into place, so that a
// reader sees a segment whole or not at all.
func (s *store) create(seg *segment, c *columns, order []int32) error {
	seg.name = segmentName(seg.first, seg.last, seg.startUS, seg.endUS)
	tmp, err := os.CreateTemp(s.dir, ".tmp-*.parquet")
	if err != nil {
		return fmt.Errorf("query log %s: %w", s.dir, err)
	}
	if s.enc == nil {
		s.enc, err = newSegmentWriter()
	}
	var size int64
	if err == nil {
		size, err = s.enc.write(tmp, c, order)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), seg.path(s.dir))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("query log: write %s: %w", seg.path(s.dir), err)
	}
	seg.size = size
	return nil
}

// trim removes the oldest segments while the log is over its size; the newest always stays.
func (s *store) trim() {
	for s.maxBytes > 0 && s.total > s.maxBytes && len(s.segs) > 1 {
		old := s.segs[0]
		if err := os.Remove(old.path(s.dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return // tried again after the next write
		}
		s.total -= old.size
		s.segs = s.segs[1:]
	}
}

// merge joins the oldest run of at least mergeAtLeast small segments into one. It returns
// whether it merged anything, so that the writer can go on while there is more to merge.
func (s *store) merge() (bool, error) {
	start, end := s.smallRun()
	if end-start < mergeAtLeast {
		return false, nil
	}
	run := s.segs[start:end]
	var rows []Row
	taken := 0
	for _, seg := range run {
		r, err := readAll(seg.path(s.dir))
		if err != nil {
			return false, err
		}
		if taken > 0 && len(rows)+len(r) > mergeRows {
			break
		}
		rows = append(rows, r...)
		taken++
	}
	if taken < 2 {
		return false, nil
	}
	run = run[:taken]
	merged := segment{first: run[0].first, last: run[taken-1].last, startUS: run[0].startUS, endUS: run[taken-1].endUS}
	for _, seg := range run {
		merged.startUS = min(merged.startUS, seg.startUS)
		merged.endUS = max(merged.endUS, seg.endUS)
	}
	if err := s.create(&merged, columnsOf(rows), s.identity(len(rows))); err != nil {
		return false, err
	}
	// The merged segment is in place before its parts go: a reader never misses their rows.
	var freed int64
	for _, seg := range run {
		_ = os.Remove(seg.path(s.dir))
		freed += seg.size
	}
	s.total += merged.size - freed
	s.segs = slices.Replace(s.segs, start, start+taken, merged)
	return true, nil
}

// smallRun finds the oldest run of consecutive segments below mergeBelow, leaving out the
// newest segment (the one readers most likely have open).
func (s *store) smallRun() (int, int) {
	n := len(s.segs) - 1
	for i := 0; i < n; {
		if s.segs[i].size >= mergeBelow {
			i++
			continue
		}
		j := i
		for j < n && s.segs[j].size < mergeBelow {
			j++
		}
		if j-i >= mergeAtLeast {
			return i, j
		}
		i = j
	}
	return 0, 0
}

// readAll reads every row of one segment.
func readAll(path string) (rows []Row, err error) {
	f, pf, err := openSegment(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	defer guard(path, &err)
	r := parquet.NewGenericReader[Row](pf)
	defer r.Close()
	// The count comes from the file: a damaged one must not make the writer allocate without bound.
	if n := pf.NumRows(); n < 0 || n > 4*mergeRows {
		return nil, fmt.Errorf("query log: %s: %d rows, more than a segment to merge holds", path, n)
	}
	rows = make([]Row, pf.NumRows())
	// In pieces, yielding between: on a server with one CPU for Go (GOMAXPROCS=1), a UDP worker
	// back from its receive call waits for the writer to let go of the CPU.
	n := 0
	for n < len(rows) {
		k, err := r.Read(rows[n:min(n+yieldEvery, len(rows))])
		n += k
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("query log: read %s: %w", path, err)
		}
		if k == 0 {
			break
		}
		runtime.Gosched()
	}
	return rows[:n], nil
}

// openSegment opens one segment for reading.
func openSegment(path string) (_ *os.File, _ *parquet.File, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("query log: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	defer guard(path, &err)
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("query log: damaged file %s: %w", path, err)
	}
	return f, pf, nil
}

// guard turns a panic of the Parquet reader over a damaged file into an error naming the file:
// the files may have been cut short or changed by anything that writes to the disk.
func guard(path string, err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("query log: damaged file %s: %v", path, p)
	}
}
