// Package journal keeps a zone's recent diffs on disk, so that IXFR (RFC 1995) can be served across
// reloads and restarts, as Knot's journal and BIND's .jnl files do. The zone manager appends the
// diff of each new version; the transfer code asks for the chain of diffs from a secondary's serial
// to the newest. Only the index (offsets and serials) stays in memory; diffs are read back from
// disk when asked for.
package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"

	"warden/internal/zone"
)

// ErrNotContinuous is returned by Append when the diff does not start at the newest serial; the
// caller then calls Reset and starts a new chain.
var ErrNotContinuous = errors.New("diff does not continue the journal")

// Journal is the diffs of one zone, in one file. Append, Reset and Close may be called by one
// goroutine while others call Since, Newest and Oldest.
type Journal struct {
	path     string
	origin   string
	maxBytes int64
	header   []byte
	warnings []string

	writeMu sync.Mutex // held by Append, Reset and Close: one change at a time

	// mu guards what readers look at. Append writes new bytes past the end without it (readers
	// never read there) and takes it only to publish the entry; Reset and trimming, which
	// replace bytes readers may be reading, hold it while they do.
	mu      sync.RWMutex
	f       *os.File
	entries []entry
	size    int64 // bytes of the file in use: header and entries
}

// entry is what the index keeps of one diff.
type entry struct {
	off, len int64
	from, to uint32
}

// Open opens the journal of origin at path, creating it when missing. maxBytes bounds the file
// (0: no bound); past it the oldest diffs are dropped. Existing entries are checked: an entry cut
// short by a crash during an append is cut off and reported in Warnings; a damaged entry before
// the last, a file that is not a journal, or a journal of another zone is an error naming the file
// and the byte offset.
func Open(path, origin string, maxBytes int64) (*Journal, error) {
	origin = strings.ToLower(dnsutil.Fqdn(origin))
	header, err := encodeHeader(origin)
	if err != nil {
		return nil, fmt.Errorf("journal %s: origin %s: %w", path, origin, err)
	}
	j := &Journal{path: path, origin: origin, maxBytes: max(maxBytes, 0), header: header}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		if f, err = j.writeFile(nil, 0); err != nil {
			return nil, fmt.Errorf("journal %s: create: %w", path, err)
		}
		j.f, j.size = f, int64(len(header))
		return j, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	j.f = f
	if err := j.load(); err != nil {
		f.Close()
		return nil, err
	}
	return j, nil
}

// load reads the header and the index from j.f, cutting off a torn tail.
func (j *Journal) load() error {
	fi, err := j.f.Stat()
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	fileSize := fi.Size()
	head := make([]byte, min(fileSize, int64(len(magic)+2+255+4)))
	if _, err := j.f.ReadAt(head, 0); err != nil {
		return fmt.Errorf("journal %s: read header: %w", j.path, err)
	}
	hlen, origin, err := decodeHeader(head)
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if origin != j.origin {
		return fmt.Errorf("journal %s: offset %d: journal of zone %s, not %s", j.path, len(magic)+2, origin, j.origin)
	}
	off := int64(hlen)
	var hdr [entryHeaderLen]byte
	for off < fileSize {
		at := fmt.Sprintf("journal %s: offset %d", j.path, off)
		if fileSize-off < entryHeaderLen {
			return j.cutTail(off, fileSize, "entry header cut short")
		}
		if _, err := j.f.ReadAt(hdr[:], off); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		plen := int64(binary.BigEndian.Uint32(hdr[0:]))
		if checksum(hdr[0:4]) != binary.BigEndian.Uint32(hdr[4:]) {
			if zeros, err := j.allZero(off, fileSize); err == nil && zeros {
				return j.cutTail(off, fileSize, "entry header is zero bytes")
			}
			return fmt.Errorf("%s: entry length checksum mismatch", at)
		}
		end := off + entryHeaderLen + plen
		if end > fileSize {
			return j.cutTail(off, fileSize, fmt.Sprintf("entry of %d bytes cut short", plen))
		}
		payload := make([]byte, plen)
		if _, err := j.f.ReadAt(payload, off+entryHeaderLen); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if checksum(payload) != binary.BigEndian.Uint32(hdr[8:]) {
			if end == fileSize { // the last entry: its bytes did not all reach the disk
				return j.cutTail(off, fileSize, "last entry's checksum mismatch")
			}
			return fmt.Errorf("%s: entry checksum mismatch", at)
		}
		d, err := decodePayload(payload)
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		if err := j.checkDiff(d); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		j.entries = append(j.entries, entry{off: off, len: end - off, from: d.From.Serial, to: d.To.Serial})
		off = end
	}
	j.size = off
	return nil
}

// cutTail truncates the file at off, where an entry cut short by a crash begins.
func (j *Journal) cutTail(off, fileSize int64, why string) error {
	if err := j.f.Truncate(off); err != nil {
		return fmt.Errorf("journal %s: offset %d: cut torn tail: %w", j.path, off, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	j.warnings = append(j.warnings, fmt.Sprintf("journal %s: offset %d: %s; cut off %d bytes left by an interrupted append",
		j.path, off, why, fileSize-off))
	j.size = off
	return nil
}

// allZero says whether the file holds only zero bytes from off to end, as a file system may leave
// after a crash extended the file but before the data was written.
func (j *Journal) allZero(off, end int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for off < end {
		n, err := j.f.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		if n == 0 {
			break
		}
		off += int64(n)
	}
	return true, nil
}

// checkDiff checks what every entry must satisfy: SOA records of this zone, a serial that moves
// forward, and a chain with the entries before it.
func (j *Journal) checkDiff(d zone.Diff) error {
	if d.From == nil || d.To == nil {
		return errors.New("diff without its SOA records")
	}
	for _, soa := range [...]string{d.From.Hdr.Name, d.To.Hdr.Name} {
		if !strings.EqualFold(soa, j.origin) {
			return fmt.Errorf("SOA owner %s is not the zone %s", soa, j.origin)
		}
	}
	for _, rrs := range [...][]dns.RR{d.Removed, d.Added} {
		for _, rr := range rrs {
			if dns.RRToType(rr) == dns.TypeSOA {
				return fmt.Errorf("SOA record among the changes: %s", rr)
			}
		}
	}
	if !Less(d.From.Serial, d.To.Serial) {
		return fmt.Errorf("serial %d → %d does not move forward (RFC 1982)", d.From.Serial, d.To.Serial)
	}
	if n := len(j.entries); n > 0 && j.entries[n-1].to != d.From.Serial {
		return fmt.Errorf("%w: diff from serial %d, journal ends at %d", ErrNotContinuous, d.From.Serial, j.entries[n-1].to)
	}
	return nil
}

// Less says whether serial a is before serial b in RFC 1982 arithmetic. Serials exactly 2^31 apart
// are in no order.
func Less(a, b uint32) bool {
	return a != b && b-a < 1<<31
}

// Warnings returns what Open found and repaired.
func (j *Journal) Warnings() []string { return append([]string(nil), j.warnings...) }

// Newest returns the serial the newest diff leads to; ok is false when the journal is empty.
func (j *Journal) Newest() (serial uint32, ok bool) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if len(j.entries) == 0 {
		return 0, false
	}
	return j.entries[len(j.entries)-1].to, true
}

// Oldest returns the serial the oldest diff starts from; ok is false when the journal is empty.
func (j *Journal) Oldest() (serial uint32, ok bool) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if len(j.entries) == 0 {
		return 0, false
	}
	return j.entries[0].from, true
}

// Since returns the chain of diffs from serial to the newest version, read back from disk. It is
// empty when serial is the newest; ok is false when the journal does not cover serial, or cannot
// read it back, and the caller must send the whole zone instead.
func (j *Journal) Since(serial uint32) (diffs []zone.Diff, ok bool) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	n := len(j.entries)
	if n == 0 || j.f == nil {
		return nil, false
	}
	if j.entries[n-1].to == serial {
		return []zone.Diff{}, true
	}
	first := -1
	for i := n - 1; i >= 0; i-- {
		if j.entries[i].from == serial {
			first = i
			break
		}
	}
	if first < 0 {
		return nil, false
	}
	start := j.entries[first].off
	buf := make([]byte, j.size-start)
	if _, err := j.f.ReadAt(buf, start); err != nil {
		return nil, false
	}
	diffs = make([]zone.Diff, 0, n-first)
	for _, e := range j.entries[first:] {
		b := buf[e.off-start : e.off-start+e.len]
		payload := b[entryHeaderLen:]
		if checksum(payload) != binary.BigEndian.Uint32(b[8:]) {
			return nil, false
		}
		d, err := decodePayload(payload)
		if err != nil {
			return nil, false
		}
		diffs = append(diffs, d)
	}
	return diffs, true
}

// Append adds d as the newest diff and syncs it to disk. d must start at the newest serial (else
// an error wrapping ErrNotContinuous) and move the serial forward. Entries are dropped from the
// front when the file passes maxBytes, and when their serials would no longer be older than the
// newest in RFC 1982 terms (so a serial never stands for two versions).
func (j *Journal) Append(d zone.Diff) error {
	j.writeMu.Lock()
	defer j.writeMu.Unlock()
	if j.f == nil {
		return fmt.Errorf("journal %s: closed", j.path)
	}
	if err := j.checkDiff(d); err != nil {
		return fmt.Errorf("journal %s: append: %w", j.path, err)
	}
	b, err := encodeEntry(d)
	if err != nil {
		return fmt.Errorf("journal %s: append %d → %d: %w", j.path, d.From.Serial, d.To.Serial, err)
	}
	if _, err := j.f.WriteAt(b, j.size); err != nil {
		j.f.Truncate(j.size) // leave no partial entry behind; Open would cut it anyway
		return fmt.Errorf("journal %s: append: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		j.f.Truncate(j.size)
		return fmt.Errorf("journal %s: append: %w", j.path, err)
	}
	j.mu.Lock()
	j.entries = append(j.entries, entry{off: j.size, len: int64(len(b)), from: d.From.Serial, to: d.To.Serial})
	j.size += int64(len(b))
	j.mu.Unlock()
	if keep := j.firstKept(); keep > 0 {
		if err := j.trim(keep); err != nil {
			return fmt.Errorf("journal %s: diff %d → %d appended, but dropping old entries failed: %w", j.path, d.From.Serial, d.To.Serial, err)
		}
	}
	return nil
}

// firstKept returns the index of the oldest entry to keep. When the file is over maxBytes it is
// trimmed to three quarters of it, so that a full journal is not rewritten on every append. The
// newest entry is always kept, even alone over the bound.
func (j *Journal) firstKept() int {
	n := len(j.entries)
	newest := j.entries[n-1].to
	keep := 0
	for keep < n-1 && !Less(j.entries[keep].from, newest) {
		keep++
	}
	if j.maxBytes > 0 && j.size > j.maxBytes {
		target := j.maxBytes * 3 / 4
		for keep < n-1 && int64(len(j.header))+j.size-j.entries[keep].off > target {
			keep++
		}
	}
	return keep
}

// trim rewrites the journal without its first keep entries: the kept bytes are copied to a new
// file beside it, which is synced and renamed over the journal, so a crash leaves the old file or
// the new one.
func (j *Journal) trim(keep int) error {
	from := j.entries[keep].off
	f, err := j.writeFile(io.NewSectionReader(j.f, from, j.size-from), j.size-from)
	if err != nil {
		return err
	}
	j.mu.Lock()
	old := j.f
	j.f = f
	shift := from - int64(len(j.header))
	j.entries = append(j.entries[:0:0], j.entries[keep:]...)
	for i := range j.entries {
		j.entries[i].off -= shift
	}
	j.size -= shift
	j.mu.Unlock()
	return old.Close()
}

// writeFile writes the header and n bytes of body (nil when n is 0) to a new file that replaces
// the journal, and returns it open for reading and writing.
func (j *Journal) writeFile(body io.Reader, n int64) (_ *os.File, err error) {
	dir, base := filepath.Split(j.path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".new-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(j.header); err != nil {
		return nil, err
	}
	if n > 0 {
		if _, err = io.CopyN(f, body, n); err != nil {
			return nil, err
		}
	}
	if err = f.Chmod(0o644); err != nil {
		return nil, err
	}
	if err = f.Sync(); err != nil {
		return nil, err
	}
	if err = os.Rename(f.Name(), j.path); err != nil {
		return nil, err
	}
	if err = syncDir(dir); err != nil {
		return nil, err
	}
	return f, nil
}

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

// Reset forgets every diff, as after an AXFR or a reload whose serial does not follow.
func (j *Journal) Reset() error {
	j.writeMu.Lock()
	defer j.writeMu.Unlock()
	if j.f == nil {
		return fmt.Errorf("journal %s: closed", j.path)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = nil
	j.size = int64(len(j.header))
	if err := j.f.Truncate(j.size); err != nil {
		return fmt.Errorf("journal %s: reset: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: reset: %w", j.path, err)
	}
	return nil
}

// Close closes the file. The journal cannot be used afterwards.
func (j *Journal) Close() error {
	j.writeMu.Lock()
	defer j.writeMu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f, j.entries = nil, nil
	if err != nil {
		return fmt.Errorf("journal %s: close: %w", j.path, err)
	}
	return nil
}
