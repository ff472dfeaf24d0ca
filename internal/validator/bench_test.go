package validator

import (
	"context"
	"testing"

	"codeberg.org/miekg/dns"
)

// BenchmarkResponseWarm: an answer from a zone whose chain is already known, the work of each
// new name under it: one ECDSA P-256 verification.
func BenchmarkResponseWarm(b *testing.B) {
	w := standardWorld(b)
	chain := NewChain(testOptions(), anchorFor(b, w.zones["."]), w)
	_, answer, _ := ask(b, w, "www.secure.test.", dns.TypeA)
	ctx := context.Background()
	if r := chain.Response(ctx, "www.secure.test.", dns.TypeA, 0, answer, nil); r.State != Secure {
		b.Fatal(r)
	}
	b.ReportAllocs()
	for b.Loop() {
		chain.Response(ctx, "www.secure.test.", dns.TypeA, 0, answer, nil)
	}
}

// BenchmarkResponseCold: the same answer with nothing known, the chain walked from the root
// each time (root, test. and secure.test. keys, their DS records): the CPU of validation for a
// resolver's first name in a zone, the fetches aside.
func BenchmarkResponseCold(b *testing.B) {
	w := standardWorld(b)
	anchor := anchorFor(b, w.zones["."])
	_, answer, _ := ask(b, w, "www.secure.test.", dns.TypeA)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		chain := NewChain(testOptions(), anchor, w)
		if r := chain.Response(ctx, "www.secure.test.", dns.TypeA, 0, answer, nil); r.State != Secure {
			b.Fatal(r)
		}
	}
}

// BenchmarkNXDomainNSEC3Warm: a negative answer proved with NSEC3, chain known: the SOA and
// three NSEC3 RRsets verified, hashes computed.
func BenchmarkNXDomainNSEC3Warm(b *testing.B) {
	w := standardWorld(b)
	chain := NewChain(testOptions(), anchorFor(b, w.zones["."]), w)
	rcode, _, ns := ask(b, w, "nope.nsec3.test.", dns.TypeA)
	ctx := context.Background()
	if r := chain.Response(ctx, "nope.nsec3.test.", dns.TypeA, rcode, nil, ns); r.State != Secure {
		b.Fatal(r)
	}
	b.ReportAllocs()
	for b.Loop() {
		chain.Response(ctx, "nope.nsec3.test.", dns.TypeA, rcode, nil, ns)
	}
}
