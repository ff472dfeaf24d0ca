package dnstest

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
)

// TestCorpus checks the corpus itself: big enough, every query encodable, and the query classes
// the harness promises are all present.
func TestCorpus(t *testing.T) {
	qs := Corpus()
	if len(qs) < 300 {
		t.Errorf("corpus has %d queries, want at least 300", len(qs))
	}
	var tcp, raw, edns, noEDNS int
	for _, q := range qs {
		if _, err := q.Wire(); err != nil {
			t.Errorf("%s: %v", q, err)
		}
		switch {
		case q.Raw != nil:
			raw++
		case q.EDNS:
			edns++
		default:
			noEDNS++
		}
		if q.TCP {
			tcp++
		}
	}
	for name, n := range map[string]int{"TCP": tcp, "raw": raw, "EDNS": edns, "no-EDNS": noEDNS} {
		if n < 20 {
			t.Errorf("only %d %s queries", n, name)
		}
	}
	if got := len(longUnder(ex)); got != 254 { // 255 wire octets = 254 presentation characters
		t.Errorf("longUnder: %d characters, want 254", got)
	}
}

// TestWire checks the hand-built wire form against the message library's parser.
func TestWire(t *testing.T) {
	q := Query{Name: "WwW.ExAmPlE.TeSt.", Type: dns.TypeAAAA, ID: 77, RD: true, EDNS: true, UDPSize: 512, DO: true}
	b, err := q.Wire()
	if err != nil {
		t.Fatal(err)
	}
	m := &dns.Msg{Data: b}
	if err := m.Unpack(); err != nil {
		t.Fatal(err)
	}
	if m.ID != 77 || !m.RecursionDesired || !m.Security || m.UDPSize != 512 || len(m.Question) != 1 {
		t.Fatalf("unexpected parse: %s", m)
	}
	if got := m.Question[0].Header().Name; got != q.Name {
		t.Errorf("question name %q, want %q (case kept)", got, q.Name)
	}
	if o := walkOPT(b); o.count != 1 || o.udpSize != 512 || o.ttl != 1<<15 {
		t.Errorf("OPT as read back: %s", o)
	}
	if _, err := packName("a..b."); err == nil {
		t.Error("empty label accepted")
	}
	if b, err := packName(`a\.b\065.`); err != nil || string(b) != "\x04a.bA\x00" {
		t.Errorf("escapes: %q %v", b, err)
	}
}

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.New(s)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return rr
}

// TestDiff checks Diff on hand-built messages, without a server.
func TestDiff(t *testing.T) {
	msg := func(answer ...string) *dns.Msg {
		m := &dns.Msg{}
		m.Response, m.Authoritative = true, true
		m.Question = []dns.RR{&dns.A{Hdr: dns.Header{Name: "www.example.test.", Class: dns.ClassINET}}}
		for _, a := range answer {
			m.Answer = append(m.Answer, mustRR(t, a))
		}
		return m
	}
	a1 := "www.example.test. 300 IN A 192.0.2.1"
	a2 := "www.example.test. 300 IN A 192.0.2.2"

	if d := Diff(msg(a1, a2), msg(a2, a1)); d != "" {
		t.Errorf("order should not matter:\n%s", d)
	}
	if d := Diff(nil, nil); d != "" {
		t.Errorf("two silent servers differ: %s", d)
	}
	for name, c := range map[string]struct {
		a, b *dns.Msg
		want string
	}{
		"ttl":       {msg(a1), msg("www.example.test. 301 IN A 192.0.2.1"), "answer only in B: www.example.test.\t301"},
		"case":      {msg(a1), msg("WWW.example.test. 300 IN A 192.0.2.1"), "answer only in B: WWW.example.test."},
		"duplicate": {msg(a1), msg(a1, a1), "answer only in B"},
		"missing":   {msg(a1, a2), msg(a1), "answer only in A: www.example.test.\t300\tIN\tA\t192.0.2.2"},
		"silent":    {msg(a1), nil, "B sent no response"},
		"flags": {msg(a1), func() *dns.Msg {
			m := msg(a1)
			m.Authoritative = false
			return m
		}(), "header B:"},
		"opt": {msg(a1), func() *dns.Msg {
			m := msg(a1)
			m.UDPSize, m.Security = 1232, true
			return m
		}(), "opt B: version 0 udp 1232 do true"},
	} {
		d := Diff(c.a, c.b)
		if !strings.Contains(d, c.want) {
			t.Errorf("%s: diff does not contain %q:\n%s", name, c.want, d)
		}
		if !strings.HasPrefix(d, "www.example.test. IN A:") {
			t.Errorf("%s: diff does not name the question:\n%s", name, d)
		}
	}
}

// TestKnotSelfDiff validates the harness end to end: two reference servers with the same zones
// must answer the whole corpus identically, and must actually answer it.
func TestKnotSelfDiff(t *testing.T) {
	t.Parallel()
	zones := TestZones()
	a := StartKnot(t, zones)
	b := StartKnot(t, zones)
	qs := Corpus()
	results := DiffCorpus(t, a, b, qs)

	var answered, diffs int
	for _, r := range results {
		if r.A != nil && r.ErrA == nil {
			answered++
		}
		if r.Diff != "" {
			diffs++
		}
	}
	// Most of the corpus must get an answer, or two silent servers would pass vacuously.
	if answered < len(qs)*9/10 {
		t.Errorf("only %d of %d queries answered", answered, len(qs))
	}
	t.Logf("%d queries, %d answered, %d differ", len(qs), answered, diffs)
}

// TestKnotDiffFindsChange runs the corpus against the reference and a copy whose example.test.
// zone was changed in three places, and expects exactly the queries touching them to differ.
func TestKnotDiffFindsChange(t *testing.T) {
	t.Parallel()
	zones := TestZones()
	orig, err := os.ReadFile(zones[1].File)
	if err != nil {
		t.Fatal(err)
	}
	changed := string(orig)
	for _, r := range [][2]string{
		{"www             300   IN A     192.0.2.80", "www             300   IN A     192.0.2.81"},
		{"c3              300   IN CNAME", "c3              299   IN CNAME"},
		{"ns2.sub         3200  IN A     192.0.2.202\n", ""},
	} {
		if !strings.Contains(changed, r[0]) {
			t.Fatalf("test zone no longer contains %q", r[0])
		}
		changed = strings.Replace(changed, r[0], r[1], 1)
	}
	modified := slices.Clone(zones)
	modified[1].File = filepath.Join(t.TempDir(), "example.test.zone")
	if err := os.WriteFile(modified[1].File, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}

	a := StartKnot(t, zones)
	b := StartKnot(t, modified)
	want := []Query{
		{Name: "www.example.test.", Type: dns.TypeA, ID: 1},
		{Name: "c1.example.test.", Type: dns.TypeA, ID: 2},
		{Name: "sub.example.test.", Type: dns.TypeNS, ID: 3},
		{Name: "www.other.test.", Type: dns.TypeA, ID: 4}, // untouched zone: must not differ
	}
	results := DiffAll(a, b, want)
	for i, r := range results[:3] {
		if r.Diff == "" {
			t.Errorf("query %d (%s): no difference found", i, r.Query)
		}
	}
	if d := results[3].Diff; d != "" {
		t.Errorf("untouched zone differs:\n%s", d)
	}
	if d := results[0].Diff; !strings.Contains(d, "192.0.2.80") || !strings.Contains(d, "192.0.2.81") {
		t.Errorf("diff does not show both addresses:\n%s", d)
	}

	var n int
	for _, r := range DiffAll(a, b, Corpus()) {
		if r.Diff != "" {
			n++
		}
	}
	if n == 0 {
		t.Error("the corpus finds no difference between different zones")
	}
	t.Logf("%d corpus queries differ after the change", n)
}

// TestKnotTranscript writes the reference's response to every corpus query to the file named by
// DNSTEST_TRANSCRIPT, for reading the reference's behaviour case by case. Skipped when unset.
func TestKnotTranscript(t *testing.T) {
	path := os.Getenv("DNSTEST_TRANSCRIPT")
	if path == "" {
		t.Skip("set DNSTEST_TRANSCRIPT=FILE to write the reference's answers to the corpus")
	}
	addr := StartKnot(t, TestZones())
	qs := Corpus()
	msgs := make([]*dns.Msg, len(qs))
	errs := make([]error, len(qs))
	// Queries the server drops cost a full Timeout each, so they run side by side.
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for i, q := range qs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			msgs[i], errs[i] = Exchange(addr, q)
		})
	}
	wg.Wait()
	var b strings.Builder
	for i, q := range qs {
		m, err := msgs[i], errs[i]
		fmt.Fprintf(&b, "=== %s\n", q)
		switch {
		case errors.Is(err, ErrNoResponse):
			b.WriteString("(no response)\n\n")
			continue
		case err != nil:
			fmt.Fprintf(&b, "error: %v\n", err)
		}
		if m != nil {
			fmt.Fprintf(&b, "%s\n", Format(m))
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
