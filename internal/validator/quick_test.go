package validator

import (
	"context"
	"net/netip"
	"testing"

	"codeberg.org/miekg/dns"
)

// rawReply packs a reply to (name, qtype) as a server sends it, signatures included.
func rawReply(tb testing.TB, name string, qtype, rcode uint16, answer, ns []dns.RR) []byte {
	tb.Helper()
	m := dns.NewMsg(name, qtype)
	m.Response, m.Authoritative, m.Rcode = true, true, rcode
	m.Answer, m.Ns = answer, ns
	if err := m.Pack(); err != nil {
		tb.Fatalf("pack reply to %s: %v", name, err)
	}
	return m.Data
}

// Proves says true only for a reply whose keys the chain already trusts and whose answer, or
// denial, verifies under them; before the keys are learned it says false and fetches nothing.
func TestProves(t *testing.T) {
	w := standardWorld(t)
	chain := NewChain(testOptions(), anchorFor(t, w.zones["."]), w)
	cases := []struct {
		name  string
		qtype uint16
		want  bool
	}{
		{"www.secure.test.", dns.TypeA, true},
		{"WWW.Secure.TEST.", dns.TypeA, true},
		{"nope.secure.test.", dns.TypeA, true},  // NXDOMAIN with NSEC
		{"www.secure.test.", dns.TypeTXT, true}, // NODATA
		{"x.wild.secure.test.", dns.TypeA, true},
		{"alias.secure.test.", dns.TypeA, true},
		{"nope.nsec3.test.", dns.TypeA, true},
		{"x.wild.nsec3.test.", dns.TypeA, true},
		{"www.insecure.test.", dns.TypeA, false},
		{"toinsecure.secure.test.", dns.TypeA, false},
		{"www.expired.test.", dns.TypeA, false},
		{"www.wrongds.test.", dns.TypeA, false},
		{"www.unknownalg.test.", dns.TypeA, false},
	}
	replies := make([][]byte, len(cases))
	for i, c := range cases {
		rcode, answer, ns := ask(t, w, c.name, c.qtype)
		replies[i] = rawReply(t, c.name, c.qtype, rcode, answer, ns)
	}
	w.calls = 0
	for i, c := range cases {
		if chain.Proves(replies[i]) {
			t.Errorf("%s %s proven before any key was learned", c.name, dns.TypeToString[c.qtype])
		}
	}
	if w.calls != 0 {
		t.Fatalf("Proves fetched %d questions; it must fetch none", w.calls)
	}
	for i, c := range cases {
		rcode, answer, ns := ask(t, w, c.name, c.qtype)
		chain.Response(context.Background(), c.name, c.qtype, rcode, answer, ns)
		learned := w.calls
		if got := chain.Proves(replies[i]); got != c.want {
			t.Errorf("%s %s: Proves %v once the keys are known, want %v", c.name, dns.TypeToString[c.qtype], got, c.want)
		}
		if w.calls != learned {
			t.Errorf("%s %s: Proves fetched %d questions", c.name, dns.TypeToString[c.qtype], w.calls-learned)
		}
	}
}

// A forged reply does not pass for the genuine one, and a reply beyond the bound on RRsets, an
// unsigned reply or bytes that are no message are "cannot tell", never a panic.
func TestProvesRejects(t *testing.T) {
	w := standardWorld(t)
	chain := NewChain(testOptions(), anchorFor(t, w.zones["."]), w)
	_, answer, ns := ask(t, w, "www.secure.test.", dns.TypeA)
	if r := chain.Response(context.Background(), "www.secure.test.", dns.TypeA, 0, answer, ns); r.State != Secure {
		t.Fatalf("genuine answer %v", r)
	}
	genuine := rawReply(t, "www.secure.test.", dns.TypeA, 0, answer, ns)
	if !chain.Proves(genuine) {
		t.Fatal("the genuine answer is not proven")
	}

	forged := make([]dns.RR, len(answer))
	unsigned := []dns.RR(nil)
	for i, x := range answer {
		forged[i] = x.Clone()
		if a, ok := forged[i].(*dns.A); ok {
			a.Addr = netip.MustParseAddr("198.51.100.66")
			unsigned = append(unsigned, a)
		}
	}
	// Nine RRsets of the zone, each signed and valid: eight are within the bound, nine not.
	var stuffed []dns.RR
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.secure.test.", dns.TypeA}, {"secure.test.", dns.TypeSOA}, {"secure.test.", dns.TypeNS},
		{"ns.secure.test.", dns.TypeA}, {"a.b.c.secure.test.", dns.TypeA}, {"h1.secure.test.", dns.TypeA},
		{"h2.secure.test.", dns.TypeA}, {"h3.secure.test.", dns.TypeA}, {"secure.test.", dns.TypeDNSKEY},
	} {
		_, more, _ := ask(t, w, q.name, q.qtype)
		stuffed = append(stuffed, more...)
		if len(rrsets(stuffed)) == maxQuickRRsets {
			if !chain.Proves(rawReply(t, "www.secure.test.", dns.TypeA, 0, stuffed, nil)) {
				t.Errorf("%d signed RRsets, at the bound, not proven", maxQuickRRsets)
			}
		}
	}
	if n := len(rrsets(stuffed)); n != maxQuickRRsets+1 {
		t.Fatalf("stuffed answer has %d RRsets, want %d", n, maxQuickRRsets+1)
	}
	truncated := dns.NewMsg("www.secure.test.", dns.TypeA)
	truncated.Response, truncated.Truncated, truncated.Answer = true, true, answer
	if err := truncated.Pack(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what  string
		reply []byte
	}{
		{"forged address, genuine signature", rawReply(t, "www.secure.test.", dns.TypeA, 0, forged, nil)},
		{"forged address, no signature", rawReply(t, "www.secure.test.", dns.TypeA, 0, unsigned, nil)},
		{"more RRsets than the bound", rawReply(t, "www.secure.test.", dns.TypeA, 0, stuffed, nil)},
		{"SERVFAIL", rawReply(t, "www.secure.test.", dns.TypeA, dns.RcodeServerFailure, answer, nil)},
		{"truncated", truncated.Data},
		{"no message", genuine[:7]},
		{"empty", nil},
	} {
		if chain.Proves(c.reply) {
			t.Errorf("%s: proven", c.what)
		}
	}
	var unbound *ReplyCheck
	if unbound.Validates(genuine) || new(ReplyCheck).Validates(genuine) {
		t.Error("a ReplyCheck without a chain says a reply validates")
	}
	var check ReplyCheck
	check.Use(chain)
	if !check.Validates(genuine) {
		t.Error("ReplyCheck does not pass the chain's answer on")
	}
}

// FuzzProves: any bytes a server (or an injector) sends give true or false, never a panic, and
// never a fetch.
func FuzzProves(f *testing.F) {
	w := standardWorld(f)
	chain := NewChain(testOptions(), anchorFor(f, w.zones["."]), w)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"www.secure.test.", dns.TypeA}, {"nope.nsec3.test.", dns.TypeA}, {"x.wild.secure.test.", dns.TypeA}} {
		rcode, answer, ns := ask(f, w, q.name, q.qtype)
		chain.Response(context.Background(), q.name, q.qtype, rcode, answer, ns)
		f.Add(rawReply(f, q.name, q.qtype, rcode, answer, ns))
	}
	f.Add([]byte{0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1})
	w.calls = 0
	f.Fuzz(func(t *testing.T, reply []byte) {
		chain.Proves(reply)
		if w.calls != 0 {
			t.Fatalf("Proves fetched %d questions", w.calls)
		}
	})
}
