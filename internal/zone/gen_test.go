package zone

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"
)

// manyTypes is a zone with every record type Warden must carry through a diff, a journal and a
// written file, including TXT strings that need quoting and escapes, and types the message library
// does not know (RFC 3597).
const manyTypes = `$ORIGIN types.test.
$TTL 300
@        3600 SOA   ns1 hostmaster ( 2024010101 7200 3600 1209600 300 )
@        3600 NS    ns1
@        3600 NS    ns2.other.test.
@             MX    10 mail
@             MX    20 mail.other.test.
@             CAA   0 issue "ca.example.net; account=12345"
@             CAA   128 tbs "x y"
@             DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==
@             DNSKEY 256 3 13 oJMRESz5E4gYzS/q6XDrvU1qMPYIjCWzJaOau8XNEZeqCYKD5ar0IRd8KqXXFJkqmVfRvMGPmM1x8fGAa2XhSA==
@             RRSIG A 13 2 300 20300101000000 20240101000000 12345 types.test. ( oJB1W6WNGv+ldvQ3WDG0MQkg5IEhjRip8WTrPYGv07h108dUKGMeDPKijVCHX3DDKdfb+v6oB9wfuh3DTJXUAfI= )
@             NSEC  a.types.test. A NS SOA MX TXT AAAA RRSIG NSEC DNSKEY CAA TYPE65280
@             A     192.0.2.1
@             AAAA  2001:db8::1
@             TXT   "with spaces" "a \"quote\" inside" "semi;colon" "back\\slash"
@             TXT   "\195\169t\195\169 bytes" "\000\001\255" ""
@             TYPE65280 \# 4 0a0b0c0d
ns1           A     192.0.2.53
ns1           AAAA  2001:db8::53
mail          A     192.0.2.25
www           CNAME @
alias         DNAME other.test.
_sip._tcp     SRV   10 60 5060 sip
_sip._tcp     SRV   20 0 5061 sip.other.test.
sip           A     192.0.2.60
1.2.3         PTR   www
ssh           SSHFP 4 2 123456789abcdef67890123456789abcdef67890123456789abcdef123456789
ssh           SSHFP 1 1 dd465c09cfa51fb45020cc83316fff21b9ec74ac
_443._tcp     TLSA  3 1 1 0d6fce3320b6cf7a4f3ea1b34d5a1e3f1c0c5f2e5a0d35d3a07dfe0ec1b8b2a9
svc           SVCB  1 . alpn=h2,h3 port=8443 ipv4hint=192.0.2.1 ipv6hint=2001:db8::1
svc           SVCB  0 www.types.test.
@             HTTPS 1 . mandatory=alpn alpn=h2
web           HTTPS 2 svc.types.test. alpn=h3 port=443
unknown       TYPE65281 \# 0
unknown       TYPE65282 \# 6 000102fdfeff
hinfo         HINFO "PC Intel" "Linux 6"
*.wild        A     192.0.2.99
sub           NS    ns.sub
sub           DS    12345 13 2 0d6fce3320b6cf7a4f3ea1b34d5a1e3f1c0c5f2e5a0d35d3a07dfe0ec1b8b2a9
ns.sub        A     192.0.2.54
`

func mustLoad(t testing.TB, origin, text string) *Zone {
	t.Helper()
	z, _, err := Load(origin, "zone.db", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// recordLines returns the zone's records as sorted text, the SOA included: the plain record by
// record view the tests compare zones with, independent of Compare.
func recordLines(z *Zone) []string {
	var out []string
	for rr := range z.All() {
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

func sameZone(t testing.TB, got, want *Zone) {
	t.Helper()
	g, w := recordLines(got), recordLines(want)
	if !slices.Equal(g, w) {
		t.Fatalf("zones differ:\ngot  %d records:\n%s\nwant %d records:\n%s", len(g), strings.Join(g, "\n"), len(w), strings.Join(w, "\n"))
	}
	if d := Compare(want, got); len(d.Removed)+len(d.Added) > 0 || d.From.String() != d.To.String() {
		t.Fatalf("Compare finds a difference: removed %v added %v", d.Removed, d.Added)
	}
}

// bigZone returns master-file text of a zone of about n records: hosts with A, AAAA, MX and TXT.
func bigZone(n int) []byte {
	var b strings.Builder
	b.Grow(n * 48)
	b.WriteString("$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n")
	for i := 0; b.Len() < n*44 || i*4 < n; i++ {
		fmt.Fprintf(&b, "h%d A 10.%d.%d.%d\n", i, i>>16&255, i>>8&255, i&255)
		fmt.Fprintf(&b, "h%d AAAA 2001:db8::%x:%x\n", i, i>>16, i&0xffff)
		fmt.Fprintf(&b, "h%d MX 10 mail%d\n", i, i%100)
		fmt.Fprintf(&b, "h%d TXT \"host %d\"\n", i, i)
		if i*4+4 >= n {
			break
		}
	}
	return []byte(b.String())
}

// editZone returns the text of z changed by count random edits (records removed, added, TTLs
// changed) and its serial raised, as master-file text for Load.
func editZone(z *Zone, rng *rand.Rand, count int) string {
	var lines []string
	for rr := range z.All() {
		if rr == dns.RR(z.SOA) {
			continue
		}
		lines = append(lines, strings.TrimSuffix(string(appendRecord(nil, rr)), "\n"))
	}
	slices.Sort(lines) // map order is random; the edits must follow the seed alone
	for range count {
		switch i := rng.IntN(len(lines)); rng.IntN(4) {
		case 0: // remove a record that is not apex NS (the zone must stay valid)
			if !strings.HasPrefix(lines[i], z.Origin+"\t") {
				lines = slices.Delete(lines, i, i+1)
			}
		case 1:
			lines = append(lines, fmt.Sprintf("n%d.%s 300 IN A 198.51.100.%d", rng.IntN(1000), z.Origin, rng.IntN(256)))
		case 2:
			lines = append(lines, fmt.Sprintf("n%d.%s 600 IN TXT \"edit %d\"", rng.IntN(1000), z.Origin, rng.IntN(1000)))
		case 3: // change the TTL of a whole RRset, as RFC 2181 §5.2 wants
			f := strings.Split(lines[i], "\t")
			if len(f) < 4 {
				continue
			}
			ttl := fmt.Sprint(60 + rng.IntN(10000))
			for j, l := range lines {
				g := strings.Split(l, "\t")
				if len(g) >= 4 && g[0] == f[0] && g[3] == f[3] {
					g[1] = ttl
					lines[j] = strings.Join(g, "\t")
				}
			}
		}
	}
	soa := *z.SOA
	soa.Serial++
	return soa.String() + "\n" + strings.Join(lines, "\n") + "\n"
}
