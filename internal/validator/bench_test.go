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

// benchSynthesise measures an answer made from kept denial records for name, once the negative
// answer for proved was validated: the work that replaces a query on a cache miss.
func benchSynthesise(b *testing.B, proved, name string) {
	w := standardWorld(b)
	chain := NewChain(testOptions(), anchorFor(b, w.zones["."]), w)
	rcode, _, ns := ask(b, w, proved, dns.TypeA)
	if r := chain.Response(context.Background(), proved, dns.TypeA, rcode, nil, ns); r.State != Secure {
		b.Fatal(r)
	}
	if _, ok := chain.Synthesise(name, dns.TypeAAAA); !ok {
		b.Fatalf("%s not synthesised", name)
	}
	b.ReportAllocs()
	for b.Loop() {
		chain.Synthesise(name, dns.TypeAAAA)
	}
}

// BenchmarkSynthesiseNSEC: NXDOMAIN from a kept NSEC span.
func BenchmarkSynthesiseNSEC(b *testing.B) {
	benchSynthesise(b, "nope.secure.test.", "nope.secure.test.")
}

// BenchmarkSynthesiseNSEC3: NXDOMAIN from kept NSEC3 records; the name and its ancestors are
// hashed (SHA-1) for each proof step.
func BenchmarkSynthesiseNSEC3(b *testing.B) {
	benchSynthesise(b, "nope.nsec3.test.", "x.nope.nsec3.test.")
}
