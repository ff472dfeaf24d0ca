package validator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// synthesisedIsTrue checks a synthesised answer against the world: the same rcode as the zone's
// own server gives, and a proof that a validator that never saw the zone before finds secure.
func synthesisedIsTrue(t *testing.T, w *world, syn Synthesised, name string, qtype uint16) {
	t.Helper()
	rcode, _, _ := ask(t, w, name, qtype)
	if syn.Rcode != rcode {
		t.Errorf("%s %s: synthesised rcode %d, the zone says %d", name, dns.TypeToString[qtype], syn.Rcode, rcode)
	}
	fresh := NewChain(testOptions(), anchorFor(t, w.zones["."]), w)
	if r := fresh.Response(context.Background(), name, qtype, syn.Rcode, nil, syn.Ns); r.State != Secure {
		t.Errorf("%s %s: the synthesised answer does not validate: %v", name, dns.TypeToString[qtype], r)
	}
}

// TestAggressiveNSEC3: once a negative answer was proved with NSEC3, other names whose proof the
// same records hold get NXDOMAIN or NODATA from them alone (RFC 8198 with RFC 5155 §8.4, §8.5),
// and nothing is made once the records' TTL has run out.
func TestAggressiveNSEC3(t *testing.T) {
	w := standardWorld(t)
	now := testNow
	chain := NewChain(Options{Now: func() time.Time { return now }}, anchorFor(t, w.zones["."]), w)
	ctx := context.Background()
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"nope.nsec3.test.", dns.TypeA}, {"www.nsec3.test.", dns.TypeMX}} {
		rcode, answer, ns := ask(t, w, q.name, q.qtype)
		if r := chain.Response(ctx, q.name, q.qtype, rcode, answer, ns); r.State != Secure {
			t.Fatalf("%s: %v", q.name, r)
		}
	}
	for _, q := range []struct {
		name  string
		qtype uint16
		rcode uint16
	}{
		{"nope.nsec3.test.", dns.TypeAAAA, dns.RcodeNameError},
		{"NOPE.nsec3.test.", dns.TypeTXT, dns.RcodeNameError},
		{"www.nsec3.test.", dns.TypeTXT, dns.RcodeSuccess},
	} {
		syn, ok := chain.Synthesise(q.name, q.qtype)
		if !ok {
			t.Errorf("%s %s: not synthesised", q.name, dns.TypeToString[q.qtype])
			continue
		}
		if syn.Rcode != q.rcode {
			t.Errorf("%s: rcode %d, want %d", q.name, syn.Rcode, q.rcode)
		}
		synthesisedIsTrue(t, w, syn, q.name, q.qtype)
	}
	// Other absent names fall in the spans already seen as often as the hash puts them there;
	// with eight hashes in the zone, some of 64 names must.
	others := 0
	for i := range 64 {
		name := fmt.Sprintf("n%d.nsec3.test.", i)
		if syn, ok := chain.Synthesise(name, dns.TypeA); ok {
			others++
			synthesisedIsTrue(t, w, syn, name, dns.TypeA)
		}
	}
	if others == 0 {
		t.Error("no other name was answered from the spans seen")
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.nsec3.test.", dns.TypeA},  // exists
		{"www.nsec3.test.", dns.TypeDS}, // the parent's
		{"www.nsec3.test.", dns.TypeANY},
	} {
		if syn, ok := chain.Synthesise(q.name, q.qtype); ok {
			t.Errorf("%s %s: synthesised %+v", q.name, dns.TypeToString[q.qtype], syn)
		}
	}
	now = now.Add(time.Hour)
	if _, ok := chain.Synthesise("nope.nsec3.test.", dns.TypeA); ok {
		t.Error("synthesised from records past their TTL")
	}
}

// denialOf is the SOA and the whole NSEC3 chain of a test zone with their signatures, as if
// every span had been seen in validated answers.
func denialOf(z *testZone) []dns.RR {
	var out []dns.RR
	for _, r := range z.rrs {
		switch x := r.(type) {
		case *dns.NSEC3:
			out = append(out, x)
		case *dns.SOA:
			out = append(out, x)
		case *dns.RRSIG:
			if x.TypeCovered == dns.TypeNSEC3 || x.TypeCovered == dns.TypeSOA {
				out = append(out, x)
			}
		}
	}
	return out
}

func paramsOf(z *testZone) *nsec3Params { return &nsec3Params{iterations: z.iters} }

// TestAggressiveNSEC3WholeChain: with every span of a zone kept, each answer made agrees with
// the zone; a name under a wildcard, one that exists, and any name of an opt-out zone that is
// not there are asked; nothing is made above the iteration limit.
func TestAggressiveNSEC3WholeChain(t *testing.T) {
	w := standardWorld(t)
	chain := NewChain(testOptions(), anchorFor(t, w.zones["."]), w)
	for _, zone := range []string{"nsec3.test.", "optout.test.", "iters.test."} {
		z := w.zones[zone]
		chain.nsecs.remember(zone, denialOf(z), paramsOf(z), testNow)
	}
	cases := []struct {
		name  string
		qtype uint16
		made  bool
	}{
		{"x.y.nsec3.test.", dns.TypeA, true},
		{"nope.nsec3.test.", dns.TypeA, true},
		{"www.nsec3.test.", dns.TypeTXT, true},
		{"b.c.nsec3.test.", dns.TypeA, true}, // an empty non-terminal: NODATA
		{"a.b.c.nsec3.test.", dns.TypeMX, true},
		{"nsec3.test.", dns.TypeMX, true},
		{"d.b.c.nsec3.test.", dns.TypeA, true},
		{"www.nsec3.test.", dns.TypeA, false},
		{"x.wild.nsec3.test.", dns.TypeA, false}, // the wildcard answers
		{"x.wild.nsec3.test.", dns.TypeMX, false},
		{"www.nsec3.test.", dns.TypeCNAME, true},
		// Opt-out: a span may hide an unsigned delegation, so it denies nothing; a name that
		// has its own NSEC3 still gets NODATA.
		{"nope.optout.test.", dns.TypeA, false},
		{"child.optout.test.", dns.TypeDS, false},
		{"www.child.optout.test.", dns.TypeA, false},
		{"www.optout.test.", dns.TypeTXT, true},
		// 200 iterations, above the limit: insecure, so never made.
		{"nope.iters.test.", dns.TypeA, false},
		{"www.iters.test.", dns.TypeTXT, false},
	}
	for _, c := range cases {
		syn, ok := chain.Synthesise(c.name, c.qtype)
		if ok != c.made {
			t.Errorf("%s %s: synthesised %v, want %v", c.name, dns.TypeToString[c.qtype], ok, c.made)
			continue
		}
		if ok {
			synthesisedIsTrue(t, w, syn, c.name, c.qtype)
		}
	}
}

// TestAggressiveNSEC3Validated: proofs that are insecure (opt-out NXDOMAIN, too many
// iterations) leave nothing to answer from.
func TestAggressiveNSEC3Validated(t *testing.T) {
	w := standardWorld(t)
	chain := NewChain(testOptions(), anchorFor(t, w.zones["."]), w)
	for _, name := range []string{"nope.optout.test.", "nope.iters.test."} {
		rcode, answer, ns := ask(t, w, name, dns.TypeA)
		if r := chain.Response(context.Background(), name, dns.TypeA, rcode, answer, ns); r.State != Insecure {
			t.Fatalf("%s: %v, want insecure", name, r)
		}
		if syn, ok := chain.Synthesise(name, dns.TypeAAAA); ok {
			t.Errorf("%s: synthesised from an insecure proof: %+v", name, syn)
		}
	}
}

// TestHeldUntilSignatureEnds: a kept record goes when its signature does, even with TTL left.
func TestHeldUntilSignatureEnds(t *testing.T) {
	n3 := rr(t, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. 300 IN NSEC3 1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG")
	sig := &dns.RRSIG{Hdr: dns.Header{Name: n3.Header().Name, Class: dns.ClassINET, TTL: 300}}
	sig.Expiration = uint32(testNow.Add(time.Minute).Unix())
	sig.Inception = uint32(testNow.Add(-time.Hour).Unix())
	h := held(rrset{owner: n3.Header().Name, typ: dns.TypeNSEC3, rrs: []dns.RR{n3}, sigs: []*dns.RRSIG{sig}}, 3600, testNow)
	if want := testNow.Add(time.Minute); !h.expires.Equal(want) {
		t.Errorf("expires %v, want the signature's end %v", h.expires, want)
	}
	h = held(rrset{owner: n3.Header().Name, typ: dns.TypeNSEC3, rrs: []dns.RR{n3}}, 30, testNow)
	if want := testNow.Add(30 * time.Second); !h.expires.Equal(want) {
		t.Errorf("expires %v, want the negative TTL's end %v", h.expires, want)
	}
}
