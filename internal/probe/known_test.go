package probe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"
)

func TestParseKnownErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"www.example. A 192.0.2.1 extra", "known.txt:1: want NAME A ADDR"},
		{"\n# comment\nwww.example. MX 10", "known.txt:3: type \"MX\""},
		{"www.example. A 2001:db8::1", "known.txt:1: address 2001:db8::1 does not fit type A"},
		{"www.example. AAAA 192.0.2.1", "does not fit type AAAA"},
		{"www.example. A 192.0.2", "known.txt:1: address \"192.0.2\""},
		{"www.example. A fe80::1%eth0", "zone has no place"},
		{"www..example. A 192.0.2.1", "empty label"},
		{`www\.example. A 192.0.2.1`, "escapes"},
		{"www.example. A 192.0.2.1\nwww.example. NXDOMAIN", "known.txt:2: www.example. is NXDOMAIN here but has addresses"},
		{"www.example. NXDOMAIN\nwww.example. A 192.0.2.1", "known.txt:2: www.example. has an address here but is NXDOMAIN"},
		{"www.example.", "known.txt:1: want NAME A ADDR"},
		{strings.Repeat("a", 70) + ".example. A 192.0.2.1", "longer than 63"},
		{strings.Repeat("x", maxLine+1), "known.txt: bufio.Scanner: token too long"},
	}
	for _, tc := range tests {
		_, err := ParseKnown(strings.NewReader(tc.text), "known.txt")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.40q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestKnownLookup(t *testing.T) {
	k := mustKnown(t, `
WWW.Example   A    192.0.2.2   # case and the final dot do not matter
www.example.  A    192.0.2.1
www.example.  A    192.0.2.1
v6.example.   AAAA 2001:db8::1
gone.example. NXDOMAIN
`)
	tests := []struct {
		name  string
		qtype uint16
		want  string // Answer.String, or "" for no opinion
	}{
		{"www.example.", dns.TypeA, "NOERROR 192.0.2.1 192.0.2.2"},
		{"WWW.EXAMPLE", dns.TypeA, "NOERROR 192.0.2.1 192.0.2.2"},
		{"www.example.", dns.TypeAAAA, "NOERROR (no addresses)"},
		{"v6.example.", dns.TypeAAAA, "NOERROR 2001:db8::1"},
		{"gone.example.", dns.TypeAAAA, "NXDOMAIN"},
		{"other.example.", dns.TypeA, ""},
	}
	for _, tc := range tests {
		a, ok, err := k.Lookup(context.Background(), tc.name, tc.qtype)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("%s %d: %q, want %q", tc.name, tc.qtype, got, tc.want)
		}
	}
}

func TestParseForged(t *testing.T) {
	fl, err := ParseForged(strings.NewReader("# sinkholes\n10.10.34.34\n\n198.51.100.0/25 # block page\n2001:db8:bad::/48\n"), "forged.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr string
		hit  bool
	}{
		{"10.10.34.34", true}, {"10.10.34.35", false}, {"198.51.100.127", true}, {"198.51.100.128", false},
		{"2001:db8:bad:1::1", true}, {"2001:db8:bad0::1", false}, {"::ffff:10.10.34.34", true},
	} {
		_, _, hit := fl.Match(parseAddrs(t, tc.addr))
		if hit != tc.hit {
			t.Errorf("%s: match %v, want %v", tc.addr, hit, tc.hit)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"10.10.34.34 10.10.34.35", "forged.txt:1: want one address or prefix, got 2 fields"},
		{"\n10.10.34.0/33", "forged.txt:2: prefix \"10.10.34.0/33\""},
		{"sinkhole.example", "forged.txt:1: address \"sinkhole.example\""},
		{"::ffff:10.0.0.0/104", "write IPv4 prefixes in IPv4 form"},
	} {
		if _, err := ParseForged(strings.NewReader(tc.text), "forged.txt"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestSystemResolver(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "resolv.conf")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ap, err := SystemResolver(write("# generated\nsearch example\nnameserver 127.0.0.53\nnameserver 192.0.2.1\n"))
	if err != nil || ap.String() != "127.0.0.53:53" {
		t.Errorf("got %v, %v; want 127.0.0.53:53", ap, err)
	}
	if _, err := SystemResolver(write("search example\n")); err == nil || !strings.Contains(err.Error(), "no nameserver line") {
		t.Errorf("no nameserver: error %v", err)
	}
	if _, err := SystemResolver(write("nameserver dns.example\n")); err == nil || !strings.Contains(err.Error(), "resolv.conf:1: nameserver \"dns.example\"") {
		t.Errorf("bad nameserver: error %v", err)
	}
	if _, err := SystemResolver(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestParseResolver(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1": "192.0.2.1:53", "192.0.2.1:5353": "192.0.2.1:5353", "2001:db8::1": "[2001:db8::1]:53",
		"[2001:db8::1]:54": "[2001:db8::1]:54", "[::ffff:192.0.2.1]:53": "192.0.2.1:53",
	} {
		if ap, err := ParseResolver(in); err != nil || ap.String() != want {
			t.Errorf("%s: %v %v, want %s", in, ap, err, want)
		}
	}
	for _, in := range []string{"dns.example", "192.0.2.1:0", "192.0.2.1:99999", ""} {
		if _, err := ParseResolver(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

// FuzzParseKnown checks that no input makes the known-answers parser panic, and that whatever it
// accepts answers lookups of canonical names.
func FuzzParseKnown(f *testing.F) {
	f.Add([]byte(knownText))
	f.Add([]byte("a. A 1.2.3.4\na. NXDOMAIN\n"))
	f.Add([]byte("x AAAA ::ffff:1.2.3.4 # c\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKnown(strings.NewReader(string(b)), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error %q does not name the source", err)
			}
			return
		}
		for key := range k.answers {
			if _, ok, err := k.Lookup(context.Background(), key.name, key.qtype); !ok || err != nil {
				t.Fatalf("%s listed but not found: %v", key.name, err)
			}
		}
	})
}

// FuzzParseForged checks that no input makes the forged-list parser panic, and that every listed
// prefix matches its own address.
func FuzzParseForged(f *testing.F) {
	f.Add([]byte("10.10.34.34\n198.51.100.0/25 # x\n2001:db8::/32\n"))
	f.Add([]byte("::ffff:1.2.3.4\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := ParseForged(strings.NewReader(string(b)), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error %q does not name the source", err)
			}
			return
		}
		for _, p := range fl.prefixes {
			if _, _, ok := fl.Match(parseAddrs(t, p.Addr().String())); !ok {
				t.Fatalf("prefix %s does not match its own address", p)
			}
		}
	})
}

// FuzzReply checks that no datagram, however malformed, makes reply matching or parsing panic.
func FuzzReply(f *testing.F) {
	q := dns.NewMsg("www.example.", dns.TypeA)
	if err := q.Pack(); err != nil {
		f.Fatal(err)
	}
	r := parseZone(f, "www.example. 60 IN A 192.0.2.1").reply(q)
	if err := r.Pack(); err != nil {
		f.Fatal(err)
	}
	f.Add(r.Data)
	f.Add(q.Data)
	f.Add(replyWithEDE(f, &dns.EDE{InfoCode: 16, ExtraText: "censored"}, &dns.EDE{InfoCode: 17}))
	qend, err := questionEnd(q.Data)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		matches(b, q.Data, qend)
		parseAnswer(b, dns.TypeA)
	})
}

// FuzzParseNames checks that no input makes the names parser panic and that every name it
// accepts can be sent as a query.
func FuzzParseNames(f *testing.F) {
	f.Add([]byte("www.example\n# c\nWWW.Example.org.\n"))
	f.Add([]byte("a..b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		names, err := ParseNames(strings.NewReader(string(b)), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error %q does not name the source", err)
			}
			return
		}
		for _, n := range names {
			if m := dns.NewMsg(n, dns.TypeA); m == nil || m.Pack() != nil {
				t.Fatalf("name %q accepted but cannot be packed", n)
			}
		}
	})
}
