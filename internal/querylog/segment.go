package querylog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A segment is one Parquet file of the log. Its name says which writes it holds and when they
// were: q-FIRST-LAST-START-END.parquet, where FIRST and LAST are the sequence numbers of the
// writes (one write a second, or the merge of several) and START and END the times of its oldest
// and newest row in microseconds since 1970. The numbers are zero-padded, so the names sort in
// the order they were written; a merged segment and the writes it merged can both be seen for a
// moment, and readers keep the one whose range covers the other's.
type segment struct {
	name        string
	first, last uint64
	startUS     int64
	endUS       int64
	size        int64
}

const segmentFormat = "q-%012d-%012d-%016d-%016d.parquet"

func segmentName(first, last uint64, startUS, endUS int64) string {
	return fmt.Sprintf(segmentFormat, first, last, max(startUS, 0), max(endUS, 0))
}

// parseSegmentName reads a segment's name; ok is false for any other file.
func parseSegmentName(name string) (segment, bool) {
	var s segment
	if !strings.HasPrefix(name, "q-") || !strings.HasSuffix(name, ".parquet") || len(name) != len(segmentName(0, 0, 0, 0)) {
		return s, false
	}
	if _, err := fmt.Sscanf(name, segmentFormat, &s.first, &s.last, &s.startUS, &s.endUS); err != nil || s.last < s.first {
		return s, false
	}
	s.name = name
	return s, true
}

// listSegments returns the log's segments in dir, oldest first, leaving out those that a merged
// segment covers.
func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("query log %s: no such directory", dir)
		}
		return nil, fmt.Errorf("query log %s: %w", dir, err)
	}
	var segs []segment
	for _, e := range ents {
		s, ok := parseSegmentName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if fi, err := e.Info(); err == nil {
			s.size = fi.Size()
		}
		segs = append(segs, s)
	}
	return uncovered(segs), nil
}

// uncovered sorts segs by their first write and drops each one whose writes another holds too.
func uncovered(segs []segment) []segment {
	slices.SortFunc(segs, func(a, b segment) int {
		if a.first != b.first {
			if a.first < b.first {
				return -1
			}
			return 1
		}
		// The widest first, so that the ones it covers follow it.
		if a.last > b.last {
			return -1
		} else if a.last < b.last {
			return 1
		}
		return 0
	})
	out := segs[:0]
	for _, s := range segs {
		if n := len(out); n > 0 && s.last <= out[n-1].last {
			continue
		}
		out = append(out, s)
	}
	return out
}

func (s segment) path(dir string) string { return filepath.Join(dir, s.name) }
