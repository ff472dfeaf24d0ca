package zone

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// sameAsLibrary loads text with Warden's reader, from memory and from a file read through a
// small window, and with the library's parser alone, and fails unless all give the same records
// (their text, TTLs and case included) or the same errors. A file name that is not on disk is
// written to a temporary directory first.
func sameAsLibrary(t testing.TB, origin, file string, data []byte) {
	t.Helper()
	if _, err := os.Stat(file); err != nil {
		file = filepath.Join(t.TempDir(), filepath.Base(file))
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lib, libWarns, libErr := load(origin, file, text{data: data, size: int64(len(data))}, false)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, src := range []text{{data: data, size: int64(len(data))}, {file: f, size: int64(len(data)), window: 16}} {
		own, ownWarns, ownErr := load(origin, file, src, true)
		how := "reader"
		if src.file != nil {
			how = "reader from the file"
		}
		if (ownErr == nil) != (libErr == nil) {
			t.Fatalf("%s: %s: error %v, library error %v\n%s", file, how, ownErr, libErr, data)
		}
		if ownErr != nil {
			if problemsOf(ownErr) != problemsOf(libErr) {
				t.Fatalf("%s: errors differ:\n%s  %v\nlibrary %v\n%s", file, how, ownErr, libErr, data)
			}
			continue
		}
		if g, w := recordLines(own), recordLines(lib); !slices.Equal(g, w) {
			t.Fatalf("%s: records differ:\n%s  %q\nlibrary %q\n%s", file, how, g, w, data)
		}
		if fmt.Sprint(ownWarns) != fmt.Sprint(libWarns) {
			t.Fatalf("%s: warnings differ:\n%s  %v\nlibrary %v", file, how, ownWarns, libWarns)
		}
		if own.NodeCount() != lib.NodeCount() {
			t.Fatalf("%s: %s: %d nodes, library %d", file, how, own.NodeCount(), lib.NodeCount())
		}
	}
}

// problemsOf is the text of a load's error, of its first MaxErrors problems: the library's path
// hands records over in batches and may find a few more before it stops.
func problemsOf(err error) string {
	var le *LoadError
	if !errors.As(err, &le) {
		return err.Error()
	}
	return (&LoadError{Origin: le.Origin, Problems: le.Problems[:min(len(le.Problems), MaxErrors)]}).Error()
}

var originLine = regexp.MustCompile(`(?mi)^\$ORIGIN\s+(\S+)`)

// TestMasterFileSameAsLibrary reads every zone file of the repository, the zone texts of this
// package's tests and generated zones with both readers.
func TestMasterFileSameAsLibrary(t *testing.T) {
	files, err := filepath.Glob("../*/testdata/zones/*.zone")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("../*/testdata/*.zone")
	files = append(files, more...)
	files = append(files, "../config/example.test.zone")
	if len(files) < 5 {
		t.Fatalf("found only %d zone files: %v", len(files), files)
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		origin := strings.TrimSuffix(filepath.Base(f), "zone")
		if m := originLine.FindSubmatch(text); m != nil {
			origin = string(m[1])
		}
		t.Run(filepath.Base(f), func(t *testing.T) { sameAsLibrary(t, origin, f, text) })
	}
	texts := map[string]string{
		"manyTypes": manyTypes,
		"signed":    signedHead + signedTail,
		"big":       string(bigZone(4000)),
	}
	for name, text := range texts {
		origin := "example."
		if m := originLine.FindStringSubmatch(text); m != nil {
			origin = m[1]
		}
		t.Run(name, func(t *testing.T) { sameAsLibrary(t, origin, name+".zone", []byte(text)) })
	}
	for seed := range uint64(40) {
		text := generatedZone(rand.New(rand.NewPCG(seed, 16)), 300)
		t.Run(fmt.Sprint("generated", seed), func(t *testing.T) { sameAsLibrary(t, "gen.test.", "gen.zone", text) })
	}
}

// TestMasterFileCases: the syntax the reader handles itself and the cases it hands to the
// library, each read as the library reads it, errors included.
func TestMasterFileCases(t *testing.T) {
	for _, text := range []string{
		head + "www ( A\n 192.0.2.1 ) ; comment\n",
		head + "www 1h30m IN A 192.0.2.1\n A 192.0.2.2\n\tAAAA 2001:db8::1\n",
		head + "www IN 60 A 192.0.2.1\nx A 192.0.2.2\n",                    // the last TTL carries on without $TTL
		"@ SOA ns h 1 2 3 4 5\n@ NS ns\nns 7 A 192.0.2.1\nx A 192.0.2.2\n", // ... and with it
		head + "WWW.Example.Test. A 192.0.2.1\nwww MX 10 Mail.Other.\n",
		head + "t TXT \"a b\" c \"\" \"semi;colon\" \"(paren)\"\nt TXT \"multi\nline\"\n",
		head + "t TXT \"with \\\"escape\\\"\" \"\\065\"\n",
		head + "e\\.x A 192.0.2.1\n",
		head + "x A \\# 4 c0000201\n",
		head + "x TYPE65280 \\# 2 0a0b\n",
		head + "x CAA 0 issue \"ca.example\"\n",
		head + "x A 192.0.2.1 extra\n",
		head + "x A 192.0.2.300\n",
		head + "x MX ten mail\n",
		head + "x A\n",
		head + "x\n",
		head + "x A 192.0.2.1 )\n",
		head + "x A ( 192.0.2.1\n",
		head + "x TXT \"open\n",
		head + "x 1h2x A 192.0.2.1\n",
		head + "x CH A 192.0.2.1\n",
		head + "x IN IN A 192.0.2.1\n",
		head + "x A 192.0.2.1\r\ny A 192.0.2.2\r\n",
		head + "x A 192.0.2.1\ry\n",
		head + "a(b A 192.0.2.1\n",
		head + "sub NS ns.sub\nsub DS 12345 13 2 0D6FCE33 20b6cf7a\nsub DS 1 ECDSAP256SHA256 2 00\nns.sub A 192.0.2.9\n",
		head + "$ORIGIN sub\nx A 192.0.2.1\n$ORIGIN example.test.\ny CNAME x.sub\n@ PTR www\nd DNAME other.\n",
		head + "$TTL 1d\nx A 192.0.2.1\n$ttl 60\ny A 192.0.2.2\n",
		head + "$TTL bad\n",
		head + "$GENERATE 1-3 h$ A 192.0.2.$\n",
		head + "$FOO A 192.0.2.1\n",
		" A 192.0.2.1\n" + head,
		head + "*.w A 192.0.2.1\n_srv._tcp SRV 0 0 53 ns1\n",
		head + "x 4294967296 A 192.0.2.1\n",
		head + "x A 192.0.2.1\nx RRSIG A 13 3 300 ( 20300101000000 20240101000000 12345 example.test.\n  oJB1W6WNGv+ldvQ3WDG0MQkg5IEhjRip8WTrPYGv07h108dUKGMe\n  DPKijVCHX3DDKdfb+v6oB9wfuh3DTJXUAfI= )\n",
		head + "x RRSIG nsec3param 13 3 300 1893456000 1704067200 1 @ AAAA\nx RRSIG TYPE65280 13 3 300 20300101000000 20240101000000 1 @ AAAA\n",
		head + "x RRSIG A ECDSAP256SHA256 3 300 20300101000000 20240101000000 1 sign.er. AAAA\n",
		head + "x NSEC y A rrsig NSEC TYPE65280 ABCD7\ny NSEC @\nz NSEC @ BOGUS\n",
		head + "@ DNSKEY 257 3 13 ( mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpV\n XckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ== )\n@ DNSKEY 256 3 ECDSAP256SHA256 AAAA\n",
		head + "x RRSIG A 13 3 300 2030010100000x 20240101000000 1 @ AAAA\nx RRSIG A 13 3 300 20300101000000 20240101000000 1 @\n",
		head + "@ SOA ns1 host 2 1h 2h 3d 1w\n",
		head + "toolong" + strings.Repeat("x", 60) + " A 192.0.2.1\n",
		head + strings.Repeat("l.", 130) + " A 192.0.2.1\n",
		"$ORIGIN .\n" + "example.test. SOA ns1.example.test. h. 1 2 3 4 5\nexample.test. NS ns1.example.test.\nns1.example.test. A 192.0.2.1\n",
	} {
		t.Run("", func(t *testing.T) { sameAsLibrary(t, "example.test.", "cases.zone", []byte(text)) })
	}
}

// TestMasterFileInclude: $INCLUDE with and without an origin, nested, its TTL and origin kept to
// itself, refused outside the zone file's directory, and a file that is missing.
func TestMasterFileInclude(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("hosts.inc", "$TTL 77\nh1 A 192.0.2.10\n A 192.0.2.11\n$INCLUDE sub/deeper.inc\n")
	write("sub/deeper.inc", "d AAAA 2001:db8::10\n")
	write("bad.inc", "x A 192.0.2.1\ny MX pref mail\n")
	for _, text := range []string{
		head + "$INCLUDE hosts.inc\nafter A 192.0.2.1\n",
		head + "$INCLUDE hosts.inc lab.example.test.\n A 192.0.2.12\n",
		head + "$INCLUDE bad.inc\n",
		head + "$INCLUDE ../outside.zone\n",
		head + "$INCLUDE missing.inc\n",
	} {
		path := filepath.Join(dir, "example.zone")
		write("example.zone", text)
		sameAsLibrary(t, "example.test.", path, []byte(text))
	}
}

// TestMasterFileAllocatesLittle: the common records are built without the library, into the
// loader's blocks: far below one allocation per record (the library makes a dozen).
func TestMasterFileAllocatesLittle(t *testing.T) {
	text := bigZone(20000)
	allocs := testing.AllocsPerRun(3, func() {
		if _, _, err := Load("big.test.", "big.db", text); err != nil {
			t.Fatal(err)
		}
	})
	if perRecord := allocs / 20000; perRecord > 0.1 {
		t.Fatalf("%.2f allocations a record", perRecord)
	}
}

// generatedZone writes a zone of about n records in the many ways a master file may be written:
// names relative and absolute and in mixed case, owners and TTLs and classes omitted or given in
// either order, TTLs with units, parentheses across lines, comments, $ORIGIN and $TTL changes.
func generatedZone(rng *rand.Rand, n int) []byte {
	var b strings.Builder
	b.WriteString("$ORIGIN gen.test.\n@ 3600 IN SOA ns1 hostmaster ( 1 2h 1h 1w 300 ) ; the apex\n@ NS ns1\nns1 A 192.0.2.1\n")
	owners := []string{"@", "a", "B.a", "c.gen.test.", "*.w", "x-y", "_s._tcp", "deep.er.x"}
	types := []func() string{
		func() string { return fmt.Sprintf("A 192.0.2.%d", rng.IntN(256)) },
		func() string { return fmt.Sprintf("AAAA 2001:db8::%x", rng.IntN(65536)) },
		func() string { return fmt.Sprintf("MX %d mail%d", rng.IntN(100), rng.IntN(3)) },
		func() string { return fmt.Sprintf("TXT \"t %d\" plain%d", rng.IntN(100), rng.IntN(9)) },
		func() string { return fmt.Sprintf("TXT ( \"a\"\n  \"b%d\" )", rng.IntN(9)) },
		func() string { return fmt.Sprintf("SRV 0 %d 53 ns1", rng.IntN(9)) },
		func() string { return fmt.Sprintf("CAA 0 issue \"ca%d\"", rng.IntN(9)) },
		func() string { return fmt.Sprintf("PTR Host%d.Other.", rng.IntN(9)) },
	}
	for i := 0; i < n; i++ {
		switch rng.IntN(30) {
		case 0:
			fmt.Fprintf(&b, "$TTL %d\n", rng.IntN(5000))
			continue
		case 1:
			b.WriteString("$ORIGIN sub.gen.test.\n")
		case 2:
			b.WriteString("$ORIGIN gen.test.\n")
		case 3:
			b.WriteString("; a comment line\n\n")
		}
		if rng.IntN(4) == 0 {
			b.WriteString("\t")
		} else {
			b.WriteString(owners[rng.IntN(len(owners))] + " ")
		}
		ttl := []string{"", "60 ", "1h ", "2m30s "}[rng.IntN(4)]
		class := []string{"", "IN ", "in "}[rng.IntN(3)]
		if rng.IntN(2) == 0 {
			b.WriteString(ttl + class)
		} else {
			b.WriteString(class + ttl)
		}
		b.WriteString(types[rng.IntN(len(types))]())
		if rng.IntN(5) == 0 {
			b.WriteString(" ; note")
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// FuzzMasterFile: no text makes the reader panic, and what it accepts (or refuses) the library
// accepts (or refuses) with the same records.
func FuzzMasterFile(f *testing.F) {
	f.Add([]byte(head + "www ( A\n 192.0.2.1 ) ; c\n\tTXT \"x y\" z\n"))
	f.Add([]byte(head + "$TTL 1h\nx 60 IN MX 10 mail\n$ORIGIN sub\ny CNAME x\n"))
	f.Add([]byte(head + "sub NS ns.sub\nsub DS 1 13 2 00ff\nns.sub A 192.0.2.2\n"))
	f.Add([]byte(head + "t TXT \"a\\\"b\" \\065\nx A \\# 4 c0000201\n"))
	f.Add(generatedZone(rand.New(rand.NewPCG(1, 2)), 20))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsLibrary(t, "example.test.", "fuzz.zone", data)
	})
}
