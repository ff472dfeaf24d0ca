package signer

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/pool"
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
		n := s.Zone.Node(nodeKey(s.Zone, name))
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

// canonicalZone holds what the signed data must get right beyond plain addresses: names in
// RDATA in mixed case (lower-cased in the signed data for the RFC 4034 §6.2 types, kept for the
// others), rare types with names, records given out of canonical order, and an RRset larger than
// the 4 KiB a message buffer holds.
var canonicalZone = func() string {
	var b strings.Builder
	b.WriteString(`$ORIGIN example.test.
$TTL 3600
@        IN SOA NS1.Example.Test. HostMaster.Example.TEST. 1 7200 900 1209600 300
@        IN NS  NS1.Example.Test.
@        IN NS  ns0.example.test.
@        IN MX  20 Mail.EXAMPLE.test.
@        IN MX  10 mail.example.test.
ns0      IN A   192.0.2.10
ns1      IN A   192.0.2.1
mail     IN A   192.0.2.2
mail     IN A   192.0.2.1
mail     IN AAAA 2001:db8::2
alias    IN CNAME WWW.Example.Test.
_sip._tcp IN SRV 10 5 5060 SIP.Example.Test.
rp       IN RP  Admin.Example.Test. Info.Example.Test.
naptr    IN NAPTR 100 10 "U" "E2U+sip" "!^.*$!sip:info@example.test!" .
afs      IN AFSDB 1 AFS.Example.Test.
caa      IN CAA 0 issue "ca.example"
*.wild   IN TXT "wild"
`)
	for i := range 40 {
		fmt.Fprintf(&b, "big IN TXT \"%03d %s\"\n", 39-i, strings.Repeat("x", 200))
	}
	return b.String()
}()

func TestSignCanonicalForms(t *testing.T) {
	for _, alg := range []string{"ecdsap256sha256", "ed25519", "rsasha256"} {
		t.Run(alg, func(t *testing.T) {
			a, _ := ParseAlgorithm(alg)
			p := Policy{Algorithm: a}.Defaults()
			keys := testKeys(t, t.TempDir(), p)
			s, err := Sign(loadZone(t, canonicalZone), keys, p, now, 1)
			if err != nil {
				t.Fatal(err)
			}
			verify(t, s.Zone, false)
			// The library's own verification, RRset by RRset, as a second opinion.
			checked := 0
			for n := range s.Zone.Nodes() {
				for _, rr := range n.RRset(dns.TypeRRSIG) {
					sig := rr.(*dns.RRSIG)
					key := keyByTag(t, keys, sig.KeyTag)
					set := cloneSet(n.RRset(sig.TypeCovered))
					if err := sig.Verify(key, set, &dns.SignOption{Pooler: pool.NewNoop(dns.MaxMsgSize)}); err != nil {
						t.Errorf("%s %s: %v", n.Name, dns.TypeToString[sig.TypeCovered], err)
					}
					checked++
				}
			}
			if checked < 20 {
				t.Fatalf("only %d signatures checked", checked)
			}
		})
	}
}

func keyByTag(t *testing.T, keys *KeySet, tag uint16) *dns.DNSKEY {
	t.Helper()
	for _, k := range keys.Keys {
		if k.Tag() == tag {
			return k.DNSKEY
		}
	}
	t.Fatalf("no key with tag %d", tag)
	return nil
}

// cloneSet copies records before the library's Verify, which puts them in canonical form in
// place. (Its default buffer holds 512 bytes of signed data; the tests give it a whole message.)
func cloneSet(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.Clone()
	}
	return out
}

func TestDERToRaw(t *testing.T) {
	for _, c := range []struct {
		der  string
		want string // hex of r || s, 4 bytes each
		ok   bool
	}{
		{"3008020201020202030400", "", false},              // trailing byte
		{"30080202010202020304", "0000010200000304", true}, // short integers, padded
		{"300a0203000102020300ff03", "000001020000ff03", true},
		{"3006020501020202", "", false},                            // an integer running past the end
		{"300c020500aabbccdd0203010203", "aabbccdd00010203", true}, // a leading zero stripped
		{"300e020601aabbccdd000203010203", "", false},              // r longer than half
	} {
		der, err := hex.DecodeString(c.der)
		if err != nil {
			t.Fatal(err)
		}
		var out [8]byte
		err = derToRaw(out[:], der)
		if (err == nil) != c.ok {
			t.Errorf("%s: error %v, want ok=%v", c.der, err, c.ok)
			continue
		}
		if c.ok && hex.EncodeToString(out[:]) != c.want {
			t.Errorf("%s: %x, want %s", c.der, out, c.want)
		}
	}
}
