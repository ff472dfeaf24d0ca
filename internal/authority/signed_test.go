package authority

import (
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/query"
	"warden/internal/wire"
	"warden/internal/zone"
)

// signedSet serves the standard example.test. zone signed with denial d, or unsigned.
func signedSet(tb testing.TB, d dnstest.Denial, sign bool) *Set {
	tb.Helper()
	var z dnstest.Zone
	for _, c := range dnstest.TestZones() {
		if c.Origin == "example.test." {
			z = c
		}
	}
	if sign {
		z = dnstest.SignZone(tb, z, d).Zone
	}
	loaded, _, err := zone.LoadFile(z.Origin, z.File)
	if err != nil {
		tb.Fatal(err)
	}
	if loaded.Signed() != sign {
		tb.Fatalf("zone signed: %t, want %t", loaded.Signed(), sign)
	}
	s, err := New([]*zone.Zone{loaded})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func signedRequest(tb testing.TB, name string, qtype uint16, do bool) *query.Request {
	tb.Helper()
	q := dns.NewMsg(name, qtype)
	q.UDPSize = 1232
	q.Security = do
	if err := q.Pack(); err != nil {
		tb.Fatal(err)
	}
	req := &query.Request{Wire: q.Data, Transport: query.UDP}
	req.Parse()
	return req
}

// TestSignedAnswersDoNotAllocate: once built, a DO=1 answer from a signed zone is a copy of its
// template, whether it is a hit, a wildcard, a name that does not exist or a referral, and the
// answers carry their signatures.
func TestSignedAnswersDoNotAllocate(t *testing.T) {
	for _, d := range []dnstest.Denial{dnstest.DenialNSEC, dnstest.DenialNSEC3} {
		s := signedSet(t, d, true)
		lim := wire.Limits{UDPPayload: 1232}
		out := make([]byte, 0, 65535)
		for _, name := range []string{"www.example.test.", "nope.example.test.", "foo.wild.example.test.", "host.sub.example.test.", "v6only.example.test."} {
			req := signedRequest(t, name, dns.TypeA, true)
			res := lim.Render(out, req, s.Answer(req))
			m := &dns.Msg{Data: res}
			if err := m.Unpack(); err != nil {
				t.Fatal(err)
			}
			sigs := 0
			for _, rr := range append(m.Answer, m.Ns...) {
				if _, ok := rr.(*dns.RRSIG); ok {
					sigs++
				}
			}
			if name != "host.sub.example.test." && sigs == 0 {
				t.Errorf("%s %s: no RRSIG in the answer:\n%s", d, name, m)
			}
			allocs := testing.AllocsPerRun(100, func() {
				req.Parse()
				lim.Render(out, req, s.Answer(req))
			})
			if allocs != 0 {
				t.Errorf("%s %s: %v allocations per query", d, name, allocs)
			}
		}
	}
}

// BenchmarkAnswerHitSigned is BenchmarkAnswerHit for www.example.test. A of the standard test
// zone: unsigned, signed and asked with DO=0, signed and asked with DO=1 (the answer with its
// RRSIG). Each must report 0 allocs/op.
func BenchmarkAnswerHitSigned(b *testing.B) {
	for _, c := range []struct {
		name     string
		sign, do bool
	}{{"unsigned", false, false}, {"signed-DO0", true, false}, {"signed-DO1", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			s := signedSet(b, dnstest.DenialNSEC3, c.sign)
			req := signedRequest(b, "www.example.test.", dns.TypeA, c.do)
			lim := wire.Limits{UDPPayload: 1232}
			out := make([]byte, 0, 65535)
			b.ReportAllocs()
			for b.Loop() {
				req.Parse()
				out = lim.Render(out, req, s.Answer(req))
			}
		})
	}
}
