package signer

import (
	"testing"

	"codeberg.org/miekg/dns"
)

func TestSignVerifies(t *testing.T) {
	for _, alg := range []string{"ecdsap256sha256", "ed25519", "rsasha256"} {
		for _, denial := range []Denial{NSEC, NSEC3} {
			for _, single := range []bool{false, true} {
				name := alg + "/" + denial.String()
				if single {
					name += "/csk"
				}
				t.Run(name, func(t *testing.T) {
					a, _ := ParseAlgorithm(alg)
					p := Policy{Algorithm: a, Denial: denial, SingleTypeSigning: single}.Defaults()
					keys := testKeys(t, t.TempDir(), p)
					s, err := Sign(loadZone(t, testZone), keys, p, now, 2026120701)
					if err != nil {
						t.Fatal(err)
					}
					verify(t, s.Zone, single)
				})
			}
		}
	}
}

func TestSignLeavesGlueAndDelegationsUnsigned(t *testing.T) {
	p := Policy{}.Defaults()
	s, err := Sign(loadZone(t, testZone), testKeys(t, t.TempDir(), p), p, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	sigs := sigsByOwnerType(s.Zone)
	for _, unsigned := range []string{"sub.example.test. NS", "ns.sub.example.test. A", "insecure.example.test. NS", "ns.insecure.example.test. A"} {
		if sigs[unsigned] != "" {
			t.Errorf("%s is signed; delegation NS and glue must not be", unsigned)
		}
	}
	for _, signed := range []string{"sub.example.test. DS", "www.example.test. A", "example.test. DNSKEY", "example.test. CDS", "example.test. CDNSKEY", "example.test. SOA", "sub.example.test. NSEC", "*.wild.example.test. TXT"} {
		if sigs[signed] == "" {
			t.Errorf("%s has no signature", signed)
		}
	}
	if s.Zone.Serial() != 1 {
		t.Errorf("serial %d, want the one asked for, 1", s.Zone.Serial())
	}
	// The NSEC at the signed delegation lists NS, DS, RRSIG, NSEC; the one at the unsigned
	// delegation has no DS bit but is itself signed.
	for name, want := range map[string]string{"sub.example.test.": "NS DS RRSIG NSEC", "insecure.example.test.": "NS RRSIG NSEC"} {
		n := s.Zone.Nodes[nodeKey(s.Zone, name)]
		nsec := n.RRset(dns.TypeNSEC)
		if len(nsec) != 1 {
			t.Fatalf("%s: %d NSEC records", name, len(nsec))
		}
		if got := bitmapText(nsec[0].(*dns.NSEC).TypeBitMap); got != want {
			t.Errorf("%s NSEC bitmap %q, want %q", name, got, want)
		}
	}
}

func bitmapText(types []uint16) string {
	s := ""
	for i, t := range types {
		if i > 0 {
			s += " "
		}
		s += dns.TypeToString[t]
	}
	return s
}
