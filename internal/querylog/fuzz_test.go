package querylog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParseFilter: the search's parameters come from the command line and from HTTP requests.
// Whatever they hold, parsing returns a filter within bounds or an error, never a panic; a name
// accepted is in the log's spelling.
func FuzzParseFilter(f *testing.F) {
	f.Add("www.example.test", "192.0.2.1", "15m", "10")
	f.Add("WWW.Example.Test.", "2001:db8::1", "1h", "")
	f.Add("a..b", "::ffff:10.0.0.1", "-1s", "0")
	f.Add(`a\.b\255.`, "fe80::1%eth0", "2562047h", "100000")
	now := time.Now()
	f.Fuzz(func(t *testing.T, name, client, since, limit string) {
		flt, err := ParseFilter(name, client, since, limit, now)
		if err != nil {
			return
		}
		if flt.Limit < 1 || flt.Limit > MaxLimit {
			t.Errorf("limit %d out of bounds", flt.Limit)
		}
		if flt.Name != "" && (!strings.HasSuffix(flt.Name, ".") || strings.ToLower(flt.Name) != flt.Name) {
			t.Errorf("name %q not in the log's spelling", flt.Name)
		}
		if !flt.Since.IsZero() && flt.Since.After(now) {
			t.Errorf("since %v is after now", flt.Since)
		}
	})
}

// FuzzSearchSegment: the log's files are read back by `warden log`, the API and the merging
// writer, and anything may have damaged them. A segment with any content gives rows or an
// error that names it, never a panic.
func FuzzSearchSegment(f *testing.F) {
	seedDir := f.TempDir()
	st, err := openStore(seedDir, 0)
	if err != nil {
		f.Fatal(err)
	}
	es := benchEntries(50, time.Now(), 1)
	rows := make([]Row, len(es))
	for i := range es {
		rows[i] = rowOf(&es[i], time.Now())
	}
	if err := st.write(columnsOf(rows), nil); err != nil {
		f.Fatal(err)
	}
	valid, err := os.ReadFile(filepath.Join(seedDir, st.segs[0].name))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-9])
	f.Add([]byte("PAR1PAR1"))
	name := rows[3].Name
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, segmentName(1, 1, 1, 2))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, flt := range []Filter{{Limit: 10}, {Name: name, Limit: 10}, {Client: "10.0.0.1", Limit: 10}} {
			if _, err := Search(dir, flt); err != nil && !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the file: %v", err)
			}
		}
		if _, err := readAll(path); err != nil && !strings.Contains(err.Error(), path) {
			t.Errorf("readAll: error does not name the file: %v", err)
		}
	})
}
