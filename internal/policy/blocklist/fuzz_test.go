package blocklist

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// Seeds shared by the parse fuzzers: every format sees every other format's lines too, which is
// what a list given the wrong format looks like.
var fuzzSeeds = []string{
	"0.0.0.0 ads.example tracker.example # c\n127.0.0.1 localhost\n::1 ip6-localhost\n",
	"\xef\xbb\xbf# names\r\nexample.com\r\n*.wild.example\r\nBücher.example\n",
	"[Adblock Plus 2.0]\n! c\n||ads.example^\n@@||ok.ads.example^\n|exact.example|\n||x^$important\n/re/\nexample.com##.ad\n",
	"||*.a^\n||a*b.example^\n@@\n|\n||\n^\n*\n$\n#\n!\n0.0.0.0\n192.0.2.1 a.example\nfe80::1%eth0 x\n",
	strings.Repeat("a", 70) + ".example\n" + strings.Repeat("b.", 130) + "\n\xff\xfe\n",
}

func fuzzParse(f *testing.F, format Format) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(bytes.NewReader(data), "fuzz", format)
		if err != nil {
			t.Fatal(err) // only a reader error may fail Parse
		}
		checkList(t, l, data)
	})
}

func FuzzParseHosts(f *testing.F)   { fuzzParse(f, Hosts) }
func FuzzParseDomains(f *testing.F) { fuzzParse(f, Domains) }
func FuzzParseAdblock(f *testing.F) { fuzzParse(f, Adblock) }
func FuzzParseAuto(f *testing.F)    { fuzzParse(f, Auto) }

// checkList checks what every parsed list promises: canonical names that Compile takes, problems
// with real line numbers and readable text, and an index in which every entry finds a rule.
func checkList(t *testing.T, l *List, data []byte) {
	lines := bytes.Count(data, []byte("\n")) + 1
	if len(l.Skipped) > MaxProblems || l.SkippedTotal < len(l.Skipped) {
		t.Fatalf("%d problems kept, %d counted", len(l.Skipped), l.SkippedTotal)
	}
	for _, p := range l.Skipped {
		if p.Line < 1 || p.Line > lines || p.Why == "" || !utf8.ValidString(p.Text) || len(p.Text) > 100 {
			t.Fatalf("bad problem %+v (%d lines)", p, lines)
		}
	}
	for _, e := range l.Entries {
		if _, ok := entryWire(nil, e.Name); !ok {
			t.Fatalf("entry %q is not a canonical name", e.Name)
		}
	}
	ix := Compile(l)
	if ix.Dropped() != 0 {
		t.Fatalf("Compile dropped %d entries", ix.Dropped())
	}
	for _, e := range l.Entries {
		blocked, rule := ix.Match(e.Name)
		if rule.Name == "" || blocked == rule.Allow {
			t.Fatalf("entry %+v: Match says %v, %+v", e, blocked, rule)
		}
		w, _ := entryWire(nil, e.Name)
		if b1, r1 := ix.MatchWire(w); b1 != blocked || r1 != rule {
			t.Fatalf("%q: Match says %v %+v, MatchWire %v %+v", e.Name, blocked, rule, b1, r1)
		}
	}
}

// FuzzMatch feeds arbitrary names, as text and as wire bytes, to an index.
func FuzzMatch(f *testing.F) {
	l, err := Parse(strings.NewReader(fuzzSeeds[2]+fuzzSeeds[0]), "seed", Adblock)
	if err != nil {
		f.Fatal(err)
	}
	ix := Compile(l)
	for _, s := range []string{"ads.example.", "x.ok.ads.example", `a\.b.ads.example`, `\255\000.example`, "", ".", "..",
		"\x03ads\x07example\x00", "\x01x\xc0\x0c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		blocked, rule := ix.Match(name)
		if blocked && (rule.Name == "" || rule.Allow) || !blocked && rule.Name != "" && !rule.Allow {
			t.Fatalf("Match(%q) = %v, %+v", name, blocked, rule)
		}
		if w, ok := textWire(nil, name); ok {
			if b2, r2 := ix.MatchWire(w); b2 != blocked || r2 != rule {
				t.Fatalf("Match(%q) = %v %v, MatchWire = %v %v", name, blocked, rule, b2, r2)
			}
		}
		ix.MatchWire([]byte(name))
	})
}
