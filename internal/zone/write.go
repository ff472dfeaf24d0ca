package zone

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
)

// WriteFile writes z as an RFC 1035 master file at path. The file is replaced atomically: the text
// goes to a temporary file in the same directory, which is synced and renamed over path, and then
// the directory is synced, so after a crash path holds the old zone or the new one, never a part.
func WriteFile(z *Zone, path string) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	mode := fs.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(dir, "."+base+".new-*")
	if err != nil {
		return fmt.Errorf("write zone %s: %w", z.Origin, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("write zone %s to %s: %w", z.Origin, path, err)
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := WriteText(w, z); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteText writes z as master-file text: the SOA first, then the names in canonical order (RFC 4034
// §6.1), each RRset in the order the zone holds it. Every record is on one line with its owner,
// TTL and class written out, so the text reads the same whatever $TTL or $ORIGIN a reader assumes.
func WriteText(w io.Writer, z *Zone) error {
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriter(w)
	}
	fmt.Fprintf(bw, "; zone %s, serial %d, %d records\n$ORIGIN %s\n", z.Origin, z.Serial(), z.Records, z.Origin)
	var line []byte
	line = appendRecord(line[:0], z.SOA)
	bw.Write(line)
	for _, n := range canonicalNodes(z) {
		for _, set := range n.Sets {
			if set.Type == dns.TypeSOA {
				continue
			}
			for _, rr := range set.RRs {
				line = appendRecord(line[:0], rr)
				if _, err := bw.Write(line); err != nil {
					return err
				}
			}
		}
	}
	return bw.Flush()
}

// appendRecord appends rr's line. Records of types the message library does not know are written
// in the generic form of RFC 3597 §5 ("TYPE65280 \# 3 010203"), which every master-file reader
// accepts; the library's own text for them leaves out the \# and would not read back.
func appendRecord(dst []byte, rr dns.RR) []byte {
	if u, ok := rr.(*dns.RFC3597); ok {
		h := rr.Header()
		dst = append(dst, h.Name...)
		dst = append(dst, '\t')
		dst = strconv.AppendUint(dst, uint64(h.TTL), 10)
		dst = append(dst, "\tIN\tTYPE"...)
		dst = strconv.AppendUint(dst, uint64(u.RRType), 10)
		dst = append(dst, "\t\\# "...)
		data, err := hex.DecodeString(u.Data)
		if err != nil { // the parser checked the hex; a record built in code may not have been
			data = nil
		}
		dst = strconv.AppendInt(dst, int64(len(data)), 10)
		if len(data) > 0 {
			dst = append(dst, ' ')
			dst = hex.AppendEncode(dst, data)
		}
		return append(dst, '\n')
	}
	dst = append(dst, rr.String()...)
	return append(dst, '\n')
}

// canonicalNodes returns z's nodes that hold records, sorted in canonical order: by labels from
// the right, each label compared as bytes, a shorter label first.
func canonicalNodes(z *Zone) []*Node {
	type keyed struct {
		sortKey []byte
		n       *Node
	}
	nodes := make([]keyed, 0, z.NodeCount())
	for _, n := range z.order {
		if !n.Empty() {
			nodes = append(nodes, keyed{canonicalKey(n.Key), n})
		}
	}
	slices.SortFunc(nodes, func(a, b keyed) int { return bytes.Compare(a.sortKey, b.sortKey) })
	out := make([]*Node, len(nodes))
	for i, k := range nodes {
		out[i] = k.n
	}
	return out
}

// canonicalKey turns a lower-case wire name into bytes that sort in canonical order: the labels
// from the right, each followed by a zero byte (a label holding a zero byte may sort out of place,
// which costs only the file's neatness).
func canonicalKey(name string) []byte {
	return appendCanonicalKey(make([]byte, 0, len(name)), name)
}

// maxCanonical is the longest canonical key: a wire name's bytes, one per label more at most.
const maxCanonical = 256

// appendCanonicalKey appends the canonical sort key of the lower-case wire name to dst.
func appendCanonicalKey(dst []byte, name string) []byte {
	var labels [128]int
	count := 0
	for off := range wire.Labels(name) {
		if count == len(labels) {
			break
		}
		labels[count] = off
		count++
	}
	for i := count - 1; i >= 0; i-- {
		off := labels[i]
		end := min(off+1+int(name[off]), len(name))
		dst = append(dst, name[off+1:end]...)
		dst = append(dst, 0)
	}
	return dst
}
