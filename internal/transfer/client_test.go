package transfer

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/tsig"
	"warden/internal/zone"
)

const (
	secret256 = "c2VjcmV0IGZvciB0aGUgc2hhMjU2IHRlc3Qga2V5"
	secret512 = "c2VjcmV0IGZvciB0aGUgc2hhNTEyIHRlc3Qga2V5IHdpdGggbW9yZSBieXRlcw=="
)

func mustKey(t testing.TB, spec string) *tsig.Key {
	t.Helper()
	k, err := tsig.ParseKey(spec)
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

// genZone is a zone of serial with n address records besides the apex, and edits applied by
// name ("www" changes address, "gone" disappears, "new" appears) from version 2 on.
func genZone(origin string, serial uint32, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 3600\n", origin)
	fmt.Fprintf(&b, "@ IN SOA ns1 hostmaster %d 3600 600 86400 300\n", serial)
	b.WriteString("@ IN NS ns1\n@ IN NS ns2.other.test.\n@ IN MX 10 mail\nns1 IN A 192.0.2.1\nmail IN A 192.0.2.2\n")
	b.WriteString("@ IN TXT \"v=spf1 -all\"\n_sip._tcp IN SRV 10 20 5060 sip\nsip IN AAAA 2001:db8::5\nalias IN CNAME www\n")
	if serial < 2 {
		b.WriteString("www IN A 192.0.2.80\ngone IN A 192.0.2.99\n")
	} else {
		b.WriteString("www IN A 192.0.2.81\nnew IN AAAA 2001:db8::81\n")
	}
	for i := range n {
		fmt.Fprintf(&b, "h%d IN A 10.%d.%d.%d\n", i, i>>16&255, i>>8&255, i&255)
	}
	return b.String()
}

func knotPrimary(t *testing.T, origin, zoneText string) *dnstest.Knot {
	t.Helper()
	conf := fmt.Sprintf(`key:
  - id: xfr256
    algorithm: hmac-sha256
    secret: %s
  - id: xfr512
    algorithm: hmac-sha512
    secret: %s
acl:
  - id: keyed
    key: [xfr256, xfr512]
    action: transfer
template:
  - id: default
    storage: "@DIR@"
    zonefile-sync: -1
    zonefile-load: difference
    journal-content: changes
    semantic-checks: off
zone:
  - domain: %s
    file: "@DIR@/zone.txt"
    acl: [keyed]
`, secret256, secret512, origin)
	return dnstest.StartKnotConfig(t, dnstest.KnotConfig{Sections: conf, Files: map[string]string{"zone.txt": zoneText}, Ready: origin})
}

func peerOf(t *testing.T, addr string, key *tsig.Key) Peer {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return Peer{Addr: ap, Key: key, Timeout: 20 * time.Second}
}

// texts is the records as sorted lower-case zone-file lines, for comparing zones.
func texts(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.ToLower(rr.String()))
	}
	slices.Sort(out)
	return out
}

func TestKnotTSIG(t *testing.T) {
	const origin = "example.test."
	k := knotPrimary(t, origin, genZone(origin, 1, 20_000))
	ctx := context.Background()
	want, _, err := zone.Load(origin, "gen", []byte(genZone(origin, 1, 20_000)))
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{"xfr256:hmac-sha256:" + secret256, "xfr512:hmac-sha512.:" + secret512} {
		p := peerOf(t, k.Addr, mustKey(t, spec))
		soa, err := QuerySOA(ctx, p, origin)
		if err != nil || soa.Serial != 1 {
			t.Fatalf("%s: QuerySOA = %v, %v", spec, soa, err)
		}
		res, err := AXFR(ctx, p, origin, Limits{})
		if err != nil {
			t.Fatalf("%s: AXFR: %v", spec, err)
		}
		if res.Messages < 10 || len(res.Full) != want.Records {
			t.Fatalf("%s: AXFR: %d records in %d messages, want %d records in many", spec, len(res.Full), res.Messages, want.Records)
		}
		if _, ok := res.Full[0].(*dns.SOA); !ok {
			t.Fatalf("first record %s", res.Full[0])
		}
		if !slices.Equal(texts(res.Full), texts(slices.Collect(want.All()))) {
			t.Fatalf("%s: AXFR differs from the zone file", spec)
		}
		t.Logf("%s: %d records, %d messages, %d bytes", spec, len(res.Full), res.Messages, res.Bytes)
	}

	bad := peerOf(t, k.Addr, mustKey(t, "xfr256:hmac-sha256:d3Jvbmcgc2VjcmV0"))
	for name, call := range map[string]func() error{
		"AXFR": func() error { _, err := AXFR(ctx, bad, origin, Limits{}); return err },
		"IXFR": func() error {
			_, err := IXFR(ctx, bad, origin, &dns.SOA{Hdr: dns.Header{Name: origin, Class: dns.ClassINET}}, Limits{})
			return err
		},
		"SOA": func() error { _, err := QuerySOA(ctx, bad, origin); return err },
	} {
		err := call()
		t.Logf("%s with a wrong secret: %v", name, err)
		if err == nil || !strings.Contains(err.Error(), "NOTAUTH") || !strings.Contains(err.Error(), "BADSIG") {
			t.Errorf("%s with a wrong secret: %v, want NOTAUTH and BADSIG", name, err)
		}
	}
	if _, err := AXFR(ctx, peerOf(t, k.Addr, nil), origin, Limits{}); err == nil || !strings.Contains(err.Error(), "NOTAUTH") {
		t.Errorf("unsigned AXFR: %v, want NOTAUTH", err)
	}
	if _, err := AXFR(ctx, peerOf(t, k.Addr, mustKey(t, "xfr256:hmac-sha256:"+secret256)), origin, Limits{MaxRecords: 1000}); err == nil || !strings.Contains(err.Error(), "limit of 1000 records") {
		t.Errorf("AXFR over the limit: %v", err)
	}
}

func TestKnotIXFR(t *testing.T) {
	const origin = "ixfr.test."
	key := mustKey(t, "xfr256:hmac-sha256:"+secret256)
	k := knotPrimary(t, origin, genZone(origin, 1, 50))
	p := peerOf(t, k.Addr, key)
	ctx := context.Background()
	old, err := AXFR(ctx, p, origin, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := IXFR(ctx, p, origin, old.SOA, Limits{})
	if err != nil || !res.UpToDate {
		t.Fatalf("IXFR at the current serial: %+v, %v", res, err)
	}

	if err := os.WriteFile(filepath.Join(k.Dir, "zone.txt"), []byte(genZone(origin, 2, 50)), 0o644); err != nil {
		t.Fatal(err)
	}
	k.Control(t, "zone-reload", origin)
	k.WaitSerial(t, origin, 2)

	res, err = IXFR(ctx, p, origin, old.SOA, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Diffs) != 1 || res.SOA.Serial != 2 || res.Full != nil {
		t.Fatalf("IXFR: %d diffs, serial %d, full %d", len(res.Diffs), res.SOA.Serial, len(res.Full))
	}
	applied := apply(t, old.Full, res.Diffs)
	z, _, err := zone.Build(origin, "ixfr", applied)
	if err != nil {
		t.Fatalf("applied diffs do not build: %v", err)
	}
	now, err := AXFR(ctx, p, origin, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := texts(slices.Collect(z.All())), texts(now.Full); !slices.Equal(got, want) {
		t.Fatalf("old zone + IXFR differs from AXFR:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// apply returns full with each diff's removals taken out and additions put in.
func apply(t *testing.T, full []dns.RR, diffs []zone.Diff) []dns.RR {
	t.Helper()
	have := map[string]dns.RR{}
	for _, rr := range full[1:] {
		have[strings.ToLower(rr.String())] = rr
	}
	soa := full[0]
	for _, d := range diffs {
		if d.From.Serial != soa.(*dns.SOA).Serial {
			t.Fatalf("diff from %d applied to %d", d.From.Serial, soa.(*dns.SOA).Serial)
		}
		for _, rr := range d.Removed {
			key := strings.ToLower(rr.String())
			if _, ok := have[key]; !ok {
				t.Fatalf("diff removes %s, which is not there", rr)
			}
			delete(have, key)
		}
		for _, rr := range d.Added {
			have[strings.ToLower(rr.String())] = rr
		}
		soa = d.To
	}
	out := []dns.RR{soa}
	for _, rr := range have {
		out = append(out, rr)
	}
	return out
}
