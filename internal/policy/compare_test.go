package policy

import (
	"net/netip"
	"strings"
	"testing"
)

// mustRPZ compiles an RPZ zone written as text.
func mustRPZ(t *testing.T, origin, text string) *RuleSet {
	t.Helper()
	s, err := LoadRPZ(origin, origin+"zone", []byte(text), Options{Name: origin})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const rpzHead = "$TTL 60\n@ SOA ns.%s h.%s 1 3600 600 86400 60\n@ NS ns.%s\n"

func rpzText(origin, rules string) string {
	return strings.ReplaceAll(rpzHead, "%s", origin) + rules
}

// The incident: a rule that sends every name outside .cn to one address changes nearly every
// answer; the report says how many and how, and evaluating it counts nothing.
func TestCompareIncident(t *testing.T) {
	inForce := New(mustRPZ(t, "rpz.local.", rpzText("rpz.local.", "bad.example.rpz.local. CNAME .\n")))
	proposed := New(
		mustRPZ(t, "rpz.local.", rpzText("rpz.local.", "bad.example.rpz.local. CNAME .\n")),
		mustRPZ(t, "rpz.push.", rpzText("rpz.push.", "*.rpz.push. A 198.18.0.66\n*.cn.rpz.push. CNAME rpz-passthru.\n")),
	)
	corpus, err := ReadCorpus(strings.NewReader("# recent names\nwww.example.com\nbad.example A\nmail.example.org.\nwww.baidu.cn\n\nnews.sina.cn 12\n"), "corpus.txt")
	if err != nil {
		t.Fatal(err)
	}
	r := Compare(inForce, proposed, corpus, netip.MustParseAddr("127.0.0.1"))
	if r.Names != 5 || r.Changed != 2 || len(r.Changes) != 1 {
		t.Fatalf("report %+v", r)
	}
	c := r.Changes[0]
	if c.From != "resolved" || c.To != "local A 198.18.0.66" || strings.Join(c.Examples, " ") != "www.example.com. mail.example.org." {
		t.Fatalf("change %+v", c)
	}
	if !strings.HasPrefix(r.String(), "2 of 5 names (40.00%) would change answer") {
		t.Fatalf("report text %q", r.String())
	}
	for _, p := range []*Policy{inForce, proposed} {
		if p.Queries() != 0 {
			t.Fatal("comparing counted questions")
		}
		for _, s := range p.Sets() {
			if s.Hits() != 0 {
				t.Fatalf("comparing counted hits on %s", s.Name())
			}
		}
	}
}

func TestReadCorpusErrors(t *testing.T) {
	_, err := ReadCorpus(strings.NewReader("www.example.com\nbad..name\n"), "names.txt")
	if err == nil || !strings.Contains(err.Error(), "names.txt:2:") {
		t.Fatalf("error %v, want one naming names.txt:2", err)
	}
}

// FuzzReadCorpus: any corpus file gives fully qualified, lower-case names or an error naming a
// line; never a panic.
func FuzzReadCorpus(f *testing.F) {
	f.Add("www.example.com\n# comment\nmail.example.org. A\n\n")
	f.Add("bad..name\n")
	f.Fuzz(func(t *testing.T, text string) {
		names, err := ReadCorpus(strings.NewReader(text), "fuzz.txt")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.txt") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, n := range names {
			if !strings.HasSuffix(n, ".") || strings.ToLower(n) != n {
				t.Fatalf("name %q is not fully qualified and lower-case", n)
			}
		}
	})
}
