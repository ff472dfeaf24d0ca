package journal

import (
	"os"
	"path/filepath"
	"testing"
)

// seedFile returns the bytes of a small valid journal.
func seedFile(f *testing.F) []byte {
	path := filepath.Join(f.TempDir(), "seed")
	j, err := Open(path, origin, 0)
	if err != nil {
		f.Fatal(err)
	}
	chain(f, j, 1, 2, 3)
	j.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzOpen: any file is a journal or an error, never a panic; what Open accepts reads back.
func FuzzOpen(f *testing.F) {
	seed := seedFile(f)
	f.Add(seed)
	f.Add(seed[:len(seed)-5])
	f.Add([]byte(magic))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "j")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		j, err := Open(path, origin, 0)
		if err != nil {
			return
		}
		defer j.Close()
		if oldest, ok := j.Oldest(); ok {
			if _, ok := j.Since(oldest); !ok {
				t.Fatalf("accepted journal does not read back from its oldest serial %d", oldest)
			}
		}
	})
}

// FuzzDecodePayload reaches the record decoder, which FuzzOpen's random bytes seldom get past
// the checksums to.
func FuzzDecodePayload(f *testing.F) {
	seed := seedFile(f)
	hlen, _, _ := decodeHeader(seed)
	f.Add(seed[hlen+entryHeaderLen:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := decodePayload(p)
		if err != nil {
			return
		}
		if d.From == nil || d.To == nil {
			t.Fatal("decoded a diff without SOA records")
		}
		if _, err := encodeEntry(d); err != nil {
			t.Fatalf("decoded diff does not encode again: %v", err)
		}
	})
}
