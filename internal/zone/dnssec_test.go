package zone

import (
	"encoding/hex"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
)

// signedHead and signedTail make a small signed zone (the signatures are not valid ones: the loader
// files DNSSEC records, it does not check them). The NSEC3 owners are the hashes of the apex and of
// www with no salt and no extra iterations.
const (
	signedHead = `$ORIGIN example.
$TTL 300
@ SOA ns h 1 2 3 4 5
@ NS ns
@ DNSKEY 257 3 13 AAAA
@ NSEC3PARAM 1 0 0 -
ns A 192.0.2.1
www A 192.0.2.2
www AAAA 2001:db8::2
@ RRSIG SOA 13 1 300 20300101000000 20200101000000 1 example. AAAA
@ RRSIG NS 13 1 300 20300101000000 20200101000000 1 example. AAAA
www RRSIG A 13 2 300 20300101000000 20200101000000 1 example. AAAA
www RRSIG AAAA 13 2 300 20300101000000 20200101000000 1 example. BBBB
`
	signedTail = `x NSEC www.example. A RRSIG NSEC
www NSEC example. A AAAA RRSIG NSEC
`
)

// TestNSEC3Hash is the example of RFC 5155 Appendix A: "example" with salt aabbccdd and 12
// iterations.
func TestNSEC3Hash(t *testing.T) {
	salt, _ := hex.DecodeString("aabbccdd")
	name, _ := wire.AppendName(nil, "example.")
	if got := string(nsec3Hash(nil, name, 12, salt)); got != "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom" {
		t.Fatalf("hash %s", got)
	}
}

// TestSignedIndex: RRSIGs sit beside the RRsets they cover, the NSEC chain answers which record
// covers a name (the last owner before it, or the last of all), and a zone without a DNSKEY at its apex is not signed.
func TestSignedIndex(t *testing.T) {
	z, _, err := Load("example.", "signed.db", []byte(signedHead+signedTail))
	if err != nil {
		t.Fatal(err)
	}
	if !z.Signed() || !z.UsesNSEC3() {
		t.Fatalf("signed %t, NSEC3 %t", z.Signed(), z.UsesNSEC3())
	}
	www := z.Node(key(t, "www.example."))
	if sigs := www.Sigs(dns.TypeAAAA); len(sigs) != 1 || sigs[0].(*dns.RRSIG).TypeCovered != dns.TypeAAAA {
		t.Errorf("AAAA signatures %v", sigs)
	}
	if sigs := www.LowestSigs(); len(sigs) != 1 || sigs[0].(*dns.RRSIG).TypeCovered != dns.TypeA {
		t.Errorf("lowest signatures %v", sigs)
	}
	for name, want := range map[string]string{"a.example.": "x.example.", "www.example.": "www.example.", "wwx.example.": "www.example.", "y.example.": "x.example."} {
		if n := z.CoverNSEC([]byte(key(t, name))); n == nil || n.Name != want {
			t.Errorf("NSEC covering %s: %v, want %s", name, n, want)
		}
	}
	unsigned, _, err := Load("example.", "plain.db", []byte("$ORIGIN example.\n@ 300 SOA ns h 1 2 3 4 5\n@ 300 NS ns\n@ 300 RRSIG SOA 13 1 300 20300101000000 20200101000000 1 example. AAAA\n"))
	if err != nil {
		t.Fatal(err)
	}
	if unsigned.Signed() || unsigned.CoverNSEC([]byte(unsigned.Key)) != nil {
		t.Error("a zone without DNSKEY counts as signed")
	}
}

// TestNSEC3Chain: the NSEC3 owners leave the name tree and form the chain, matched and covered by
// the hash of a name.
func TestNSEC3Chain(t *testing.T) {
	apex, _ := wire.AppendName(nil, "example.")
	www, _ := wire.AppendName(nil, "www.example.")
	ha, hw := string(nsec3Hash(nil, apex, 0, nil)), string(nsec3Hash(nil, www, 0, nil))
	text := signedHead + ha + " NSEC3 1 0 0 - " + hw + " A NS SOA RRSIG DNSKEY NSEC3PARAM\n" +
		hw + " NSEC3 1 0 0 - " + ha + " A AAAA RRSIG\n" +
		hw + " RRSIG NSEC3 13 2 300 20300101000000 20200101000000 1 example. AAAA\n"
	z, _, err := Load("example.", "nsec3.db", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	m := z.MatchNSEC3(www)
	if m == nil || !m.Hashed || firstLabel(m.Key) != hw || len(m.Sigs(dns.TypeNSEC3)) != 1 {
		t.Fatalf("match for www: %+v", m)
	}
	if z.MatchNSEC3([]byte(key(t, "nx.example."))) != nil {
		t.Error("a name that does not exist has a matching NSEC3")
	}
	if c := z.CoverNSEC3([]byte(key(t, "nx.example."))); c == nil || !c.Hashed {
		t.Errorf("no NSEC3 covers nx.example.: %v", c)
	}
}
