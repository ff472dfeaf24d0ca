package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

const origin = "example.test."

// manyTypes are records of every kind a diff must carry byte for byte.
var manyTypes = []string{
	"example.test. 300 IN NS ns1.example.test.",
	"www.example.test. 300 IN A 192.0.2.80",
	"www.example.test. 300 IN AAAA 2001:db8::80",
	"c.example.test. 300 IN CNAME www.example.test.",
	"d.example.test. 300 IN DNAME other.test.",
	"example.test. 300 IN MX 10 mail.example.test.",
	`t.example.test. 300 IN TXT "with spaces" "a \"quote\"" "semi;colon" "\195\169t\195\169" "\000\255" ""`,
	"_sip._tcp.example.test. 300 IN SRV 10 60 5060 sip.example.test.",
	`example.test. 300 IN CAA 0 issue "ca.example.net; account=1"`,
	"1.example.test. 300 IN PTR www.example.test.",
	"sub.example.test. 300 IN DS 12345 13 2 0d6fce3320b6cf7a4f3ea1b34d5a1e3f1c0c5f2e5a0d35d3a07dfe0ec1b8b2a9",
	"example.test. 300 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==",
	"example.test. 300 IN RRSIG A 13 2 300 20300101000000 20240101000000 12345 example.test. oJB1W6WNGv+ldvQ3WDG0MQkg5IEhjRip8WTrPYGv07h108dUKGMeDPKijVCHX3DDKdfb+v6oB9wfuh3DTJXUAfI=",
	"example.test. 300 IN NSEC a.example.test. A NS SOA MX TXT AAAA RRSIG NSEC DNSKEY CAA TYPE65280",
	"ssh.example.test. 300 IN SSHFP 1 1 dd465c09cfa51fb45020cc83316fff21b9ec74ac",
	"_443._tcp.example.test. 300 IN TLSA 3 1 1 0d6fce3320b6cf7a4f3ea1b34d5a1e3f1c0c5f2e5a0d35d3a07dfe0ec1b8b2a9",
	"svc.example.test. 300 IN SVCB 1 . alpn=h2,h3 port=8443 ipv4hint=192.0.2.1",
	"example.test. 300 IN HTTPS 1 . alpn=h2",
	`u.example.test. 300 IN TYPE65280 \# 4 0a0b0c0d`,
	`u.example.test. 300 IN TYPE65281 \# 0`,
	"example.test. 300 IN SOA ns1.example.test. host.example.test. 7 2 3 4 5", // among the changes only as text: see soa
}

func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.New(s)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return r
}

func soa(t testing.TB, serial uint32) *dns.SOA {
	return rr(t, fmt.Sprintf("example.test. 3600 IN SOA ns1.example.test. host.example.test. %d 7200 3600 1209600 300", serial)).(*dns.SOA)
}

// diff returns a diff from one serial to the next that adds a record named after both.
func diff(t testing.TB, from, to uint32) zone.Diff {
	return zone.Diff{
		From:    soa(t, from),
		To:      soa(t, to),
		Removed: []dns.RR{rr(t, fmt.Sprintf("old.example.test. 300 IN A 192.0.2.%d", from%256))},
		Added:   []dns.RR{rr(t, fmt.Sprintf("s%d-%d.example.test. 300 IN TXT \"serial %d\"", from, to, to))},
	}
}

func text(d zone.Diff) string {
	var b strings.Builder
	b.WriteString(d.From.String() + "\n")
	for _, r := range d.Removed {
		b.WriteString("-" + r.String() + "\n")
	}
	b.WriteString(d.To.String() + "\n")
	for _, r := range d.Added {
		b.WriteString("+" + r.String() + "\n")
	}
	return b.String()
}

func sameDiffs(t testing.TB, got, want []zone.Diff) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d diffs, want %d", len(got), len(want))
	}
	for i := range got {
		if g, w := text(got[i]), text(want[i]); g != w {
			t.Fatalf("diff %d:\ngot\n%s\nwant\n%s", i, g, w)
		}
	}
}

func open(t testing.TB, path string, maxBytes int64) *Journal {
	t.Helper()
	j, err := Open(path, origin, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// chain appends diffs for serials[0] → serials[1] → … and returns them.
func chain(t testing.TB, j *Journal, serials ...uint32) []zone.Diff {
	t.Helper()
	var out []zone.Diff
	for i := 1; i < len(serials); i++ {
		d := diff(t, serials[i-1], serials[i])
		if err := j.Append(d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func TestRoundTripManyTypes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := open(t, path, 0)
	d := zone.Diff{From: soa(t, 1), To: soa(t, 2)}
	for _, s := range manyTypes[:len(manyTypes)-1] {
		d.Added = append(d.Added, rr(t, s))
	}
	d.Removed = d.Added[:5]
	if err := j.Append(d); err != nil {
		t.Fatal(err)
	}
	got, ok := j.Since(1)
	if !ok {
		t.Fatal("serial 1 not covered")
	}
	sameDiffs(t, got, []zone.Diff{d})
	if u := got[0].Added[len(got[0].Added)-1].(*dns.RFC3597); u.RRType != 65281 {
		t.Errorf("unknown type read back as %d", u.RRType)
	}
	if err := j.Append(zone.Diff{From: soa(t, 2), To: soa(t, 3), Added: []dns.RR{rr(t, manyTypes[len(manyTypes)-1])}}); err == nil {
		t.Error("a SOA among the added records was accepted")
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, err := Open(path, "Example.Test", 0) // origin case and final dot do not matter
	if err != nil {
		t.Fatal(err)
	}
	want := chain(t, j, 1, 2, 3, 10)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(diff(t, 10, 11)); err == nil {
		t.Error("append after Close accepted")
	}
	j = open(t, path, 0)
	if w := j.Warnings(); len(w) > 0 {
		t.Errorf("warnings %v", w)
	}
	got, ok := j.Since(1)
	if !ok {
		t.Fatal("serial 1 not covered after reopen")
	}
	sameDiffs(t, got, want)
	if s, _ := j.Oldest(); s != 1 {
		t.Errorf("oldest %d", s)
	}
	if s, _ := j.Newest(); s != 10 {
		t.Errorf("newest %d", s)
	}
	want = append(want, chain(t, j, 10, 11)...)
	got, _ = j.Since(1)
	sameDiffs(t, got, want)
}

func TestSince(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "j"), 0)
	if _, ok := j.Since(1); ok {
		t.Error("empty journal covers serial 1")
	}
	if _, ok := j.Newest(); ok {
		t.Error("empty journal has a newest serial")
	}
	serials := []uint32{5, 6, 8, 100, 101}
	all := chain(t, j, serials...)
	for i, s := range serials {
		got, ok := j.Since(s)
		if !ok {
			t.Fatalf("serial %d not covered", s)
		}
		sameDiffs(t, got, all[i:])
	}
	for _, s := range []uint32{0, 4, 7, 99, 102, 1 << 31} {
		if got, ok := j.Since(s); ok {
			t.Errorf("serial %d covered: %d diffs", s, len(got))
		}
	}
}

// TestWrapAround: serials pass 2^32 - 1 and start again at 0 (RFC 1982).
func TestWrapAround(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "j"), 0)
	serials := []uint32{4294967290, 4294967295, 0, 3, 1 << 20}
	all := chain(t, j, serials...)
	got, ok := j.Since(4294967290)
	if !ok {
		t.Fatal("not covered")
	}
	sameDiffs(t, got, all)
	if err := j.Append(diff(t, 1<<20, 5)); err == nil {
		t.Error("a serial going backwards was accepted")
	}
	// A jump of 2^31 - 1 is forward; the serials it leaves behind are then in the future of the
	// newest, so they are dropped rather than left to mean two versions.
	if err := j.Append(diff(t, 1<<20, 1<<20+1<<31-1)); err != nil {
		t.Fatal(err)
	}
	if s, _ := j.Oldest(); s != 1<<20 {
		t.Errorf("oldest %d after the jump, want %d", s, 1<<20)
	}
	for a, b := range map[[2]uint32]bool{{1, 2}: true, {2, 1}: false, {4294967295, 0}: true, {0, 1 << 31}: false, {1 << 31, 0}: false, {7, 7}: false} {
		if Less(a[0], a[1]) != b {
			t.Errorf("Less(%d, %d) = %v", a[0], a[1], !b)
		}
	}
}

func TestAppendNotContinuous(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "j"), 0)
	chain(t, j, 1, 2)
	err := j.Append(diff(t, 5, 6))
	if !errors.Is(err, ErrNotContinuous) {
		t.Fatalf("error %v, want ErrNotContinuous", err)
	}
	if err := j.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, ok := j.Since(1); ok {
		t.Error("serial 1 covered after Reset")
	}
	want := chain(t, j, 5, 6)
	got, _ := j.Since(5)
	sameDiffs(t, got, want)
	other := diff(t, 6, 7)
	other.To.Hdr.Name = "other.test."
	if err := j.Append(other); err == nil || !strings.Contains(err.Error(), "not the zone") {
		t.Errorf("diff of another zone: %v", err)
	}
}

// TestTornTail cuts the file at every byte of its last entry: Open keeps the entries before it and
// says what it cut.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j")
	j := open(t, path, 0)
	want := chain(t, j, 1, 2, 3, 4)
	lastOff := j.entries[len(j.entries)-1].off
	j.Close()
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for cut := lastOff; cut < int64(len(whole)); cut++ {
		p := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
		if err := os.WriteFile(p, whole[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		j, err := Open(p, origin, 0)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if cut > lastOff && len(j.Warnings()) != 1 {
			t.Errorf("cut at %d: warnings %v", cut, j.Warnings())
		}
		got, _ := j.Since(1)
		sameDiffs(t, got, want[:2])
		// The journal goes on from where the torn entry began.
		if err := j.Append(want[2]); err != nil {
			t.Fatalf("cut at %d: append after repair: %v", cut, err)
		}
		j.Close()
		if again, _ := os.ReadFile(p); string(again) != string(whole) {
			t.Fatalf("cut at %d: repaired and appended file differs from the original", cut)
		}
	}
	// Zero bytes past the end, as a crash may leave when the file grew before its data landed.
	zeros := append(slices.Clone(whole), make([]byte, 100)...)
	p := filepath.Join(dir, "zeros")
	os.WriteFile(p, zeros, 0o644)
	j2, err := Open(p, origin, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if len(j2.Warnings()) != 1 {
		t.Errorf("zero tail: warnings %v", j2.Warnings())
	}
	got, _ := j2.Since(1)
	sameDiffs(t, got, want)
}

// TestCorrupt: damage before the last entry is an error naming the file and the offset.
func TestCorrupt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j")
	j := open(t, path, 0)
	chain(t, j, 1, 2, 3, 4)
	mid := j.entries[1]
	j.Close()
	whole, _ := os.ReadFile(path)
	tests := []struct {
		name string
		at   int64 // byte to flip
		want string
	}{
		{"payload CRC", mid.off + 8, fmt.Sprintf("offset %d: entry checksum mismatch", mid.off)},
		{"payload byte", mid.off + mid.len - 3, fmt.Sprintf("offset %d: entry checksum mismatch", mid.off)},
		{"length", mid.off + 2, fmt.Sprintf("offset %d: entry length checksum mismatch", mid.off)},
		{"magic", 0, "offset 0: not a Warden journal"},
		{"origin", int64(len(magic) + 3), "header checksum mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := slices.Clone(whole)
			bad[tt.at] ^= 0x40
			p := filepath.Join(dir, tt.name)
			os.WriteFile(p, bad, 0o644)
			_, err := Open(p, origin, 0)
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %s and %q", err, p, tt.want)
			}
		})
	}
	if _, err := Open(path, "other.test.", 0); err == nil || !strings.Contains(err.Error(), "offset 10: journal of zone example.test., not other.test.") {
		t.Errorf("other origin: %v", err)
	}
	notJournal := filepath.Join(dir, "zone")
	os.WriteFile(notJournal, []byte("$ORIGIN example.test.\n"), 0o644)
	if _, err := Open(notJournal, origin, 0); err == nil || !strings.Contains(err.Error(), "offset 0: not a Warden journal") {
		t.Errorf("zone file: %v", err)
	}
}

// TestMaxBytes: past maxBytes the oldest entries go, the newest chain stays, and the file shrinks.
func TestMaxBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	one, _ := encodeEntry(diff(t, 1000, 1001))
	maxBytes := int64(len(one)*10 + 64)
	j := open(t, path, maxBytes)
	serials := make([]uint32, 0, 101)
	for s := uint32(1000); s <= 1100; s++ {
		serials = append(serials, s)
	}
	all := chain(t, j, serials...)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > maxBytes {
		t.Errorf("file is %d bytes, bound %d", fi.Size(), maxBytes)
	}
	oldest, _ := j.Oldest()
	if newest, _ := j.Newest(); newest != 1100 || oldest <= 1000 || oldest > 1095 {
		t.Fatalf("oldest %d newest %d", oldest, newest)
	}
	got, ok := j.Since(oldest)
	if !ok {
		t.Fatal("oldest serial not covered")
	}
	sameDiffs(t, got, all[oldest-1000:])
	if _, ok := j.Since(1000); ok {
		t.Error("a dropped serial is still covered")
	}
	j.Close()
	j = open(t, path, maxBytes)
	got, _ = j.Since(oldest)
	sameDiffs(t, got, all[oldest-1000:])
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestConcurrentReaders runs Since while Append, trimming and Reset go on (run with -race).
func TestConcurrentReaders(t *testing.T) {
	j := open(t, filepath.Join(t.TempDir(), "j"), 4096)
	chain(t, j, 1, 2)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if oldest, ok := j.Oldest(); ok {
					if diffs, ok := j.Since(oldest); ok {
						for i := 1; i < len(diffs); i++ {
							if diffs[i].From.Serial != diffs[i-1].To.Serial {
								t.Errorf("broken chain at %d", diffs[i].From.Serial)
							}
						}
					}
				}
			}
		})
	}
	s := uint32(2)
	for i := range 300 {
		if i%100 == 99 {
			if err := j.Reset(); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.Append(diff(t, s, s+1)); err != nil {
			t.Fatal(err)
		}
		s++
	}
	close(stop)
	wg.Wait()
}
