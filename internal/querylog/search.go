package querylog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Filter is one search of the log. Zero fields match every row.
type Filter struct {
	// Name is in the log's spelling: lower case, with the final dot (NormalName).
	Name string
	// Client is the address in its canonical text form, as the log stores it.
	Client string
	// Since keeps rows at or after it.
	Since time.Time
	// Limit is the most rows returned, the newest.
	Limit int
}

// Bounds of a search.
const (
	DefaultLimit = 100
	MaxLimit     = 100_000
	maxNameText  = 4 * 255 // every byte of a wire name written as \DDD
)

// ParseFilter reads a search as `warden log` and /api/querylog take it: a name with or without
// the final dot, a client address, a duration back from now, and a row count. Empty strings
// leave a field open; limit "" is DefaultLimit. Each error names what was wrong.
func ParseFilter(name, client, since, limit string, now time.Time) (Filter, error) {
	f := Filter{Limit: DefaultLimit}
	if name != "" {
		n, err := NormalName(name)
		if err != nil {
			return Filter{}, err
		}
		f.Name = n
	}
	if client != "" {
		a, err := netip.ParseAddr(client)
		if err != nil {
			return Filter{}, fmt.Errorf("client %q: not an IP address", client)
		}
		f.Client = a.Unmap().WithZone("").String()
	}
	if since != "" {
		d, err := time.ParseDuration(since)
		if err != nil || d <= 0 {
			return Filter{}, fmt.Errorf("since %q: want a positive duration such as 90s, 15m or 2h", since)
		}
		f.Since = now.Add(-d)
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > MaxLimit {
			return Filter{}, fmt.Errorf("limit %q: want a whole number from 1 to %d", limit, MaxLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// NormalName spells a name as the log stores it: ASCII letters in lower case, with the final
// dot. Escapes (\. and \DDD) are taken as written.
func NormalName(name string) (string, error) {
	if len(name) > maxNameText {
		return "", fmt.Errorf("name %.20q...: longer than a domain name can be", name)
	}
	if strings.ContainsAny(name, " \t\r\n") {
		return "", fmt.Errorf("name %q: contains white space", name)
	}
	if strings.Contains(name, "..") || (strings.HasPrefix(name, ".") && name != ".") {
		return "", fmt.Errorf("name %q: has an empty label", name)
	}
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name, nil
}

// Search returns the newest rows of the log in dir that match f, newest first. It reads the
// files while the server writes them: segments appear whole, and one merged or removed under
// it makes it look again. A damaged file is an error that names it.
func Search(dir string, f Filter) ([]Row, error) {
	if f.Limit <= 0 {
		f.Limit = DefaultLimit
	}
	var err error
	for range 3 {
		var rows []Row
		rows, err = search(dir, f)
		if !errors.Is(err, fs.ErrNotExist) {
			return rows, err
		}
	}
	return nil, fmt.Errorf("query log %s: the files changed under three searches in a row: %w", dir, err)
}

func search(dir string, f Filter) ([]Row, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	sinceUS := int64(0)
	if !f.Since.IsZero() {
		sinceUS = f.Since.UnixMicro()
	}
	var out []Row
	for i := len(segs) - 1; i >= 0 && len(out) < f.Limit; i-- {
		if segs[i].endUS < sinceUS {
			continue
		}
		rows, err := searchSegment(segs[i].path(dir), f, f.Limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	// Segments follow one another in time but a second's batch may hold a row a little older
	// than the last of the batch before: the order is made exact here.
	slices.SortStableFunc(out, func(a, b Row) int { return b.Time.Compare(a.Time) })
	return out, nil
}

// searchSegment returns at most limit rows of one segment that match f, newest first.
func searchSegment(path string, f Filter, limit int) (out []Row, err error) {
	file, pf, err := openSegment(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	defer guard(path, &err)
	nameCol, clientCol := -1, -1
	if leaf, ok := pf.Schema().Lookup("name"); ok {
		nameCol = leaf.ColumnIndex
	}
	if leaf, ok := pf.Schema().Lookup("client"); ok {
		clientCol = leaf.ColumnIndex
	}
	if nameCol < 0 || clientCol < 0 {
		return nil, fmt.Errorf("query log: %s is not a segment of a query log (no name or client column)", path)
	}
	groups := pf.RowGroups()
	for g := len(groups) - 1; g >= 0 && len(out) < limit; g-- {
		rg := groups[g]
		// Choose the column to scan: the name's, the client's, or none.
		col, want := -1, ""
		switch {
		case f.Name != "":
			col, want = nameCol, f.Name
		case f.Client != "":
			col, want = clientCol, f.Client
		}
		if f.Name != "" && !mayHold(rg, nameCol, f.Name) || f.Client != "" && !mayHold(rg, clientCol, f.Client) {
			continue
		}
		var rows []int64
		if col >= 0 {
			rows, err = matching(rg.ColumnChunks()[col], want)
			if err != nil {
				return nil, fmt.Errorf("query log: damaged file %s: %w", path, err)
			}
			if len(rows) == 0 {
				continue
			}
		}
		got, err := fetch(rg, rows, f, limit-len(out))
		if err != nil {
			return nil, fmt.Errorf("query log: damaged file %s: %w", path, err)
		}
		out = append(out, got...)
	}
	return out, nil
}

// mayHold asks the column's Bloom filter whether the row group may hold v; without a filter,
// it may.
func mayHold(rg parquet.RowGroup, col int, v string) bool {
	bf := rg.ColumnChunks()[col].BloomFilter()
	if bf == nil {
		return true
	}
	ok, err := bf.Check(parquet.ByteArrayValue([]byte(v)))
	return ok || err != nil
}

// matching returns the indexes of the rows whose value in cc is want, reading that one column.
func matching(cc parquet.ColumnChunk, want string) ([]int64, error) {
	pages := cc.Pages()
	defer pages.Close()
	var rows []int64
	var row int64
	var vals [512]parquet.Value
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		vr := p.Values()
		for {
			n, err := vr.ReadValues(vals[:])
			for _, v := range vals[:n] {
				if string(v.ByteArray()) == want {
					rows = append(rows, row)
				}
				row++
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(p)
				return nil, err
			}
		}
		parquet.Release(p)
	}
}

// seekBelow is how many matching rows of a group are read one by one; with more, the whole
// group is read once.
const seekBelow = 16

// fetch reads the rows of rg that match f, newest first, at most limit: those listed in rows
// when a column was scanned, else every row of the group.
func fetch(rg parquet.RowGroup, rows []int64, f Filter, limit int) ([]Row, error) {
	r := parquet.NewGenericRowGroupReader[Row](rg)
	defer r.Close()
	var out []Row
	keep := func(row *Row) bool {
		return (f.Name == "" || row.Name == f.Name) && (f.Client == "" || row.Client == f.Client) &&
			(f.Since.IsZero() || !row.Time.Before(f.Since))
	}
	if rows != nil && len(rows) <= seekBelow {
		one := make([]Row, 1)
		for k := len(rows) - 1; k >= 0 && len(out) < limit; k-- {
			if err := r.SeekToRow(rows[k]); err != nil {
				return nil, err
			}
			n, err := r.Read(one)
			if n == 0 {
				return nil, fmt.Errorf("row %d: %w", rows[k], err)
			}
			if keep(&one[0]) {
				out = append(out, one[0])
			}
		}
		return out, nil
	}
	if rg.NumRows() < 0 || rg.NumRows() > 4*rowsPerGroup {
		return nil, fmt.Errorf("a row group of %d rows, more than the log writes", rg.NumRows())
	}
	all := make([]Row, rg.NumRows())
	n, err := r.Read(all)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	for k := n - 1; k >= 0 && len(out) < limit; k-- {
		if keep(&all[k]) {
			out = append(out, all[k])
		}
	}
	return out, nil
}
