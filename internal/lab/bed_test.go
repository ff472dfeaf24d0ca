package lab_test

import (
	"context"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/lab"
	"warden/internal/lab/labtest"
	"warden/internal/peers"
)

// TestBedWithUnbound proves the signed bed with a real validating resolver: Unbound, trusting the
// bed's root key and nothing else, must give every case the outcome its branch was built for
// (secure AD=1, insecure AD=0, bogus SERVFAIL, and the data unchecked with CD=1).
func TestBedWithUnbound(t *testing.T) {
	bed, _, port := labtest.StartBed(t)
	unbound := dnstest.StartValidatingUnboundStubs(t, "127.0.35.1", bed.TrustAnchor, bed.UnboundStubs(port))
	cases := lab.BedCases()
	branches := map[string]bool{}
	for _, c := range cases {
		branches[c.Branch] = true
		ask := func(cd bool) *dns.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			defer cancel()
			m := dns.NewMsg(c.Name, c.Type)
			m.RecursionDesired, m.CheckingDisabled, m.Security, m.UDPSize = true, cd, true, 1232
			r, err := dns.Exchange(ctx, m, "udp", unbound)
			if err == nil && r.Truncated {
				r, err = dns.Exchange(ctx, m, "tcp", unbound)
			}
			if err != nil {
				t.Fatalf("%s %s: %v", c.Name, dns.TypeToString[c.Type], err)
			}
			return r
		}
		r := ask(false)
		what := c.Name + " " + dns.TypeToString[c.Type] + " (" + c.Branch + ", " + c.Outcome.String() + ")"
		switch c.Outcome {
		case lab.Bogus:
			if r.Rcode != dns.RcodeServerFailure {
				t.Errorf("%s: rcode %s, want SERVFAIL", what, dns.RcodeToString[r.Rcode])
			}
			r = ask(true)
			if r.AuthenticatedData {
				t.Errorf("%s: AD=1 with CD=1", what)
			}
		case lab.Secure:
			if !r.AuthenticatedData {
				t.Errorf("%s: AD=0, want 1", what)
			}
		case lab.Insecure:
			if r.AuthenticatedData {
				t.Errorf("%s: AD=1, want 0", what)
			}
		}
		if int(r.Rcode) != c.Rcode {
			t.Errorf("%s: rcode %s, want %s", what, dns.RcodeToString[r.Rcode], dns.RcodeToString[uint16(c.Rcode)])
		}
	}
	for _, origin := range bed.Origins() {
		if !branches[origin] {
			t.Errorf("no case for the bed's zone %s", origin)
		}
	}
}

// BenchmarkBuildBed measures signing the whole bed (keys, dnssec-signzone runs, the iterated
// NSEC3 zone), which every test of the bed and `warden lab --signed` pay at start.
func BenchmarkBuildBed(b *testing.B) {
	if _, err := peers.Bin("dnssec-signzone"); err != nil {
		b.Skip(err)
	}
	for b.Loop() {
		if _, err := lab.BuildBed(b.TempDir(), time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
