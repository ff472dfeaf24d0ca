package blocklist

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// entries writes a list's entries one per line, the way the tables below expect them:
// "example.com." for an exact block, "example.com. +sub" with Wildcard, "allow" for exceptions.
func entries(l *List) []string {
	var out []string
	for _, e := range l.Entries {
		s := e.Name
		if e.Wildcard {
			s += " +sub"
		}
		if e.Allow {
			s += " allow"
		}
		out = append(out, s)
	}
	return out
}

// skipped writes a list's problems as "LINE: WHY".
func skipped(l *List) []string {
	var out []string
	for _, p := range l.Skipped {
		out = append(out, fmt.Sprintf("%d: %s", p.Line, p.Why))
	}
	return out
}

type parseCase struct {
	name    string
	in      string
	want    []string // entries
	skipped []string // "LINE: substring of Why"
}

func runParseCases(t *testing.T, format Format, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Parse(strings.NewReader(tc.in), "test.txt", format)
			if err != nil {
				t.Fatal(err)
			}
			if got := entries(l); !slices.Equal(got, tc.want) {
				t.Errorf("entries:\n got %q\nwant %q", got, tc.want)
			}
			got := skipped(l)
			if len(got) != len(tc.skipped) {
				t.Fatalf("skipped:\n got %q\nwant %q", got, tc.skipped)
			}
			for i := range got {
				line, why, _ := strings.Cut(tc.skipped[i], ": ")
				if !strings.HasPrefix(got[i], line+": ") || !strings.Contains(got[i], why) {
					t.Errorf("skipped[%d] = %q, want line %s and %q", i, got[i], line, why)
				}
			}
			if l.SkippedTotal != len(l.Skipped) {
				t.Errorf("SkippedTotal = %d, want %d", l.SkippedTotal, len(l.Skipped))
			}
		})
	}
}

func TestParseHosts(t *testing.T) {
	runParseCases(t, Hosts, []parseCase{
		{name: "stevenblack header",
			in: "# Title: StevenBlack/hosts\n#\n127.0.0.1 localhost\n127.0.0.1 localhost.localdomain\n127.0.0.1 local\n" +
				"255.255.255.255 broadcasthost\n::1 localhost\n::1 ip6-localhost\n::1 ip6-loopback\nfe80::1%lo0 localhost\n" +
				"ff00::0 ip6-localnet\nff02::1 ip6-allnodes\n0.0.0.0 0.0.0.0\n\n# Custom host records are listed here.\n" +
				"0.0.0.0 ads.example.com\n",
			want: []string{"ads.example.com."}},
		{name: "several names, inline comment, tabs, CRLF",
			in:   "0.0.0.0\tA.example.COM  b.example.com\t# both\r\n127.0.0.1 c.example.com.#tight\r\n:: d.example.com\r\n",
			want: []string{"a.example.com.", "b.example.com.", "c.example.com.", "d.example.com."}},
		{name: "other loopback addresses block too",
			in:   "127.0.0.2 a.example\n0:0:0:0:0:0:0:0 b.example\n",
			want: []string{"a.example.", "b.example."}},
		{name: "real address is an override, not a block",
			in:      "192.0.2.1 a.example\n",
			skipped: []string{"1: address 192.0.2.1 is not a blocking address"}},
		{name: "bare name and bare address",
			in:      "solo.example\n0.0.0.0\n",
			want:    []string{"solo.example."},
			skipped: []string{"2: address without a name"}},
		{name: "bad names are skipped one by one",
			in:   "0.0.0.0 good.example bad_but_ok.example -dash.example x..example 1.2.3.4 ex!mple.com\n",
			want: []string{"good.example.", "bad_but_ok.example.", "-dash.example."},
			skipped: []string{
				`1: "x..example": empty label`,
				`1: "1.2.3.4": an IP address`,
				`1: "ex!mple.com": character '!' not allowed`,
			}},
		{name: "BOM", in: "\xef\xbb\xbf0.0.0.0 bom.example\n", want: []string{"bom.example."}},
		{name: "no final newline", in: "0.0.0.0 last.example", want: []string{"last.example."}},
		{name: "not a hosts line", in: "hello there world\n", skipped: []string{`1: "hello" is not an IP address`}},
	})
}

func TestParseDomains(t *testing.T) {
	long := strings.Repeat("a", 63)
	runParseCases(t, Domains, []parseCase{
		{name: "comments and wildcards",
			in: "# comment\n! also a comment\nexample.com\n*.wild.example\nEXAMPLE.org. # trailing\n\n   \n" +
				"  spaced.example  \r\n",
			want: []string{"example.com.", "wild.example. +sub", "example.org.", "spaced.example."}},
		{name: "label and name lengths",
			in: long + ".example\n" + long + "a.example\n" +
				strings.Repeat(long+".", 3) + strings.Repeat("b", 61) + "\n" + // 253 characters
				strings.Repeat(long+".", 3) + strings.Repeat("b", 62) + "\n", // 254
			want: []string{long + ".example.", strings.Repeat(long+".", 3) + strings.Repeat("b", 61) + "."},
			skipped: []string{
				"2: label longer than 63",
				"4: name longer than 253",
			}},
		{name: "invalid",
			in: "a b\n||adblock.example^\n*.\n.\nexample..com\n192.0.2.1\n::1\nexample.123\nhttp://x.example/\n*.*.x.example\n",
			skipped: []string{
				"1: more than one field",
				"2: an Adblock rule",
				"3: empty name",
				"4: the root",
				"5: empty label",
				"6: an IP address",
				"7: an IP address",
				"8: last label is all digits",
				"9: character ':'",
				"10: character '*'",
			}},
		{name: "unicode",
			in:      "Bücher.example\nxn--bcher-kva.example\nпример.испытание\n\xff\xfe.example\n",
			want:    []string{"xn--bcher-kva.example.", "xn--bcher-kva.example.", "xn--e1afmkfd.xn--80akhbyknj4f."},
			skipped: []string{"4: not valid UTF-8"}},
	})
}

func TestParseAdblock(t *testing.T) {
	runParseCases(t, Adblock, []parseCase{
		{name: "basic forms",
			in: "[Adblock Plus 2.0]\n! Title: test\n# comment\n||ads.example^\n@@||ok.ads.example^\n|exact.example^\n" +
				"plain.example\nsub.example^\n||noend.example\n|bar.example|\n@@plain-allow.example\n||ads.example^|\n",
			want: []string{"ads.example. +sub", "ok.ads.example. +sub allow", "exact.example.", "plain.example.",
				"sub.example. +sub", "noend.example. +sub", "bar.example.", "plain-allow.example. allow", "ads.example. +sub"}},
		{name: "hosts lines are read too",
			in:   "0.0.0.0 h.example # comment\n127.0.0.1 localhost\n",
			want: []string{"h.example."}},
		{name: "skipped with reasons",
			in: "||imp.example^$important\n||c.example^$client=127.0.0.1,dnstype=A\n@@||b.example^$badfilter\n" +
				"/ads[0-9]+\\.example/\n||ads*.example^\n||*.sub.example^\n||*^\n*\nexample.com##.banner\n" +
				"||example.com/ads/*\n|https://example.com^\n||a^b.example^\nexample.com$$script\n||x.example^$\n" +
				"@@||\n",
			skipped: []string{
				"1: modifier $important: not supported",
				"2: modifier $client, $dnstype: not supported",
				"3: modifier $badfilter",
				"4: regular expression",
				"5: pattern not supported: wildcard inside a name",
				"6: pattern not supported: a leading *.",
				"7: matches every name",
				"8: matches every name",
				"9: cosmetic rule",
				"10: URL rule",
				"11: URL rule",
				"12: separator inside a name",
				"13: HTML filtering rule",
				"14: empty modifier list",
				"15: matches every name",
			}},
		{name: "invalid names",
			in:      "||-_-.example^\n||bad!.example^\n||1.2.3.4^\n",
			want:    []string{"-_-.example. +sub"},
			skipped: []string{"2: character '!'", "3: an IP address"}},
	})
}

func TestParseAuto(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
	}{
		{"# hosts\n0.0.0.0 a.example\n", Hosts},
		{"! Title\n||a.example^\n", Adblock},
		{"[Adblock Plus 2.0]\na.example\n", Adblock},
		{"# names\na.example\n*.b.example\n", Domains},
		{"a.example\n@@||b.example^\n", Adblock},
		{"", Domains},
		{"::1 localhost\n", Hosts},
	} {
		l, err := Parse(strings.NewReader(tc.in), "x", Auto)
		if err != nil {
			t.Fatal(err)
		}
		if l.Format != tc.want {
			t.Errorf("Auto on %q: %v, want %v", tc.in, l.Format, tc.want)
		}
	}
}

func TestParseLongLines(t *testing.T) {
	in := "0.0.0.0 a.example\n0.0.0.0 " + strings.Repeat("x", 5000) + "\n0.0.0.0 b.example\n" +
		strings.Repeat("y", 200<<10) + "\r\n0.0.0.0 c.example"
	l, err := Parse(strings.NewReader(in), "long", Hosts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := entries(l), []string{"a.example.", "b.example.", "c.example."}; !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
	if got, want := skipped(l), []string{"2: line longer than 4096 bytes", "4: line longer than 4096 bytes"}; !slices.Equal(got, want) {
		t.Errorf("skipped %q, want %q", got, want)
	}
	if len(l.Skipped[0].Text) > 100 {
		t.Errorf("problem text not clipped: %d bytes", len(l.Skipped[0].Text))
	}
}

func TestParseBoundsProblems(t *testing.T) {
	in := strings.Repeat("not a name!\n", MaxProblems+500)
	l, err := Parse(strings.NewReader(in), "bad", Domains)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Skipped) != MaxProblems || l.SkippedTotal != MaxProblems+500 {
		t.Errorf("Skipped %d, total %d; want %d and %d", len(l.Skipped), l.SkippedTotal, MaxProblems, MaxProblems+500)
	}
	if got := l.Describe(l.Skipped[0]); got != `bad:1: more than one field on the line (a hosts file? read it as hosts): "not a name!"` {
		t.Errorf("Describe = %s", got)
	}
}

// TestParseTwoMillion reads a hosts file of two million lines and checks what it costs: the
// names are stored a chunk at a time, so allocations stay in the hundreds, and the list keeps
// about 60 bytes a name (a 24-byte Entry and the name's bytes).
func TestParseTwoMillion(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("large")
	}
	var b strings.Builder
	for i := range 2_000_000 {
		fmt.Fprintf(&b, "0.0.0.0 host%d.tracker%d.example\n", i, i%1000)
	}
	data := b.String()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	start := time.Now()
	l, err := Parse(strings.NewReader(data), "big", Hosts)
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 2_000_000 || l.SkippedTotal != 0 {
		t.Fatalf("%d entries, %d skipped", len(l.Entries), l.SkippedTotal)
	}
	allocs, live := m1.Mallocs-m0.Mallocs, int64(m1.HeapAlloc)-int64(m0.HeapAlloc)
	t.Logf("2M-line hosts file (%d MB): parsed in %v, %d allocations, %d MB allocated, %d MB kept (%d bytes a name)",
		len(data)>>20, took.Round(time.Millisecond), allocs, (m1.TotalAlloc-m0.TotalAlloc)>>20, live>>20, live/2_000_000)
	if allocs > 2000 {
		t.Errorf("%d allocations to parse 2M lines; names should be stored a chunk at a time", allocs)
	}
	if live > 2_000_000*80 {
		t.Errorf("the list keeps %d bytes a name", live/2_000_000)
	}
	runtime.KeepAlive(l)
	runtime.KeepAlive(data) // else freed between the readings, and counted against the list
}
