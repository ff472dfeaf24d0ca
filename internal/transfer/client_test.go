package transfer

import (
	"bytes"
	"context"
	"encoding/binary"
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
	// Types the DNS library does not know arrive in RFC 3597 form and must keep their type.
	b.WriteString("unknown IN TYPE65280 \\# 3 010203\nunknown IN TYPE65281 \\# 0\n")
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

// packMsg builds one transfer response message of id for origin and qtype with the records
// written as zone-file lines.
func packMsg(t testing.TB, id, qtype uint16, origin string, lines ...string) []byte {
	t.Helper()
	m := dns.NewMsg(origin, qtype)
	m.ID, m.Response, m.Authoritative, m.RecursionDesired = id, true, true, false
	for _, l := range lines {
		rr, err := dns.New(l)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		m.Answer = append(m.Answer, rr)
	}
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	return m.Data
}

const (
	soa1 = "example.test. 3600 IN SOA ns hm 1 3600 600 86400 300"
	soa2 = "example.test. 3600 IN SOA ns hm 2 3600 600 86400 300"
	soa3 = "example.test. 3600 IN SOA ns hm 3 3600 600 86400 300"
	ns   = "example.test. 3600 IN NS ns.example.test."
	a1   = "ns.example.test. 3600 IN A 192.0.2.1"
	a2   = "www.example.test. 3600 IN A 192.0.2.2"
	a3   = "www.example.test. 3600 IN A 192.0.2.3"
)

func TestReader(t *testing.T) {
	for _, tc := range []struct {
		name     string
		qtype    uint16
		messages [][]string
		want     string // "full N", "diffs N", "uptodate", or an error substring
	}{
		{"axfr one message", dns.TypeAXFR, [][]string{{soa1, ns, a1, soa1}}, "full 3"},
		{"axfr three messages", dns.TypeAXFR, [][]string{{soa1, ns}, {a1}, {a2, soa1}}, "full 4"},
		{"axfr no closing soa", dns.TypeAXFR, [][]string{{soa1, ns, a1}}, "before the closing SOA"},
		{"axfr not starting with soa", dns.TypeAXFR, [][]string{{ns, soa1}}, "does not start with the SOA"},
		{"axfr closing serial differs", dns.TypeAXFR, [][]string{{soa1, ns, soa2}}, "closing SOA has serial 2"},
		{"axfr out of zone", dns.TypeAXFR, [][]string{{soa1, "www.example.org. 60 IN A 192.0.2.9", soa1}}, "www.example.org."},
		{"axfr lookalike out of zone", dns.TypeAXFR, [][]string{{soa1, "badexample.test. 60 IN A 192.0.2.9", soa1}}, "outside example.test."},
		{"axfr class", dns.TypeAXFR, [][]string{{soa1, "www.example.test. 60 CH A 192.0.2.9", soa1}}, "class CH"},
		{"axfr records after end", dns.TypeAXFR, [][]string{{soa1, ns, soa1, a1}}, "after the closing SOA"},
		{"axfr message after end", dns.TypeAXFR, [][]string{{soa1, ns, soa1}, {a1}}, "after the closing SOA"},
		{"axfr soa below apex", dns.TypeAXFR, [][]string{{soa1, "sub.example.test. 3600 IN SOA ns hm 1 1 1 1 1", soa1}}, "SOA below the apex"},
		{"ixfr up to date", dns.TypeIXFR, [][]string{{soa1}}, "uptodate"},
		{"ixfr only newer soa", dns.TypeIXFR, [][]string{{soa2}}, "newer than ours"},
		{"ixfr one diff", dns.TypeIXFR, [][]string{{soa2, soa1, a2, soa2, a3, soa2}}, "diffs 1"},
		{"ixfr two diffs across messages", dns.TypeIXFR, [][]string{{soa3, soa1, a2}, {soa2, a3, soa2}, {a3, soa3, a2, soa3}}, "diffs 2"},
		{"ixfr diff without changes", dns.TypeIXFR, [][]string{{soa2, soa1, soa2, soa2}}, "diffs 1"},
		{"ixfr axfr-style", dns.TypeIXFR, [][]string{{soa2, ns, a1}, {a3, soa2}}, "full 4"},
		{"ixfr wrong start", dns.TypeIXFR, [][]string{{soa3, soa2, a2, soa3, a3, soa3}}, "diff 1 starts at serial 2, want 1"},
		{"ixfr broken chain", dns.TypeIXFR, [][]string{{soa3, soa1, a2, soa2, a3, soa1, soa3, soa3}}, "diff 2 starts at serial 1, want 2"},
		{"ixfr cut short", dns.TypeIXFR, [][]string{{soa2, soa1, a2, soa2, a3}}, "before the closing SOA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			have := &dns.SOA{Hdr: dns.Header{Name: "example.test.", Class: dns.ClassINET}}
			have.Serial = 1
			r := newReader("example.test.", 42, tc.qtype, have, Limits{})
			var err error
			for _, lines := range tc.messages {
				if err = r.feed(packMsg(t, 42, tc.qtype, "example.test.", lines...)); err != nil {
					break
				}
			}
			var res *Result
			if err == nil {
				res, err = r.result()
			}
			got := ""
			switch {
			case err != nil:
				got = err.Error()
			case res.UpToDate:
				got = "uptodate"
			case res.Diffs != nil:
				got = fmt.Sprintf("diffs %d", len(res.Diffs))
			default:
				got = fmt.Sprintf("full %d", len(res.Full))
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReaderHeader(t *testing.T) {
	good := packMsg(t, 42, dns.TypeAXFR, "example.test.", soa1, ns, soa1)
	for _, tc := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"id", packMsg(t, 43, dns.TypeAXFR, "example.test.", soa1, ns, soa1), "response ID 43, want 42"},
		{"question", packMsg(t, 42, dns.TypeAXFR, "other.test.", soa1, ns, soa1), "not the question asked"},
		{"qtype", packMsg(t, 42, dns.TypeIXFR, "example.test.", soa1, ns, soa1), "not the question asked"},
		{"rcode", func() []byte { m := bytes.Clone(good); m[3] |= 5; return m }(), "REFUSED"},
		{"qr", func() []byte { m := bytes.Clone(good); m[2] &^= 0x80; return m }(), "not a response"},
		{"truncated", good[:len(good)-3], "malformed"},
	} {
		r := newReader("example.test.", 42, dns.TypeAXFR, nil, Limits{})
		if err := r.feed(tc.msg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	r := newReader("example.test.", 42, dns.TypeAXFR, nil, Limits{MaxBytes: 20})
	if err := r.feed(good); err == nil || !strings.Contains(err.Error(), "limit of 20 bytes") {
		t.Errorf("byte limit: %v", err)
	}
}

// TestWriteIXFRRead sends diffs with WriteIXFR and reads them back with the client's reader.
func TestWriteIXFRRead(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.New(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	s1, s2, s3 := rr(soa1).(*dns.SOA), rr(soa2).(*dns.SOA), rr(soa3).(*dns.SOA)
	diffs := []zone.Diff{{From: s1, Removed: []dns.RR{rr(a2)}, To: s2, Added: []dns.RR{rr(a3)}}, {From: s2, To: s3, Added: []dns.RR{rr(a2)}}}
	for _, tc := range []struct {
		diffs []zone.Diff
		cur   *dns.SOA
	}{{diffs, s3}, {nil, s1}} {
		r := newReader("example.test.", 9, dns.TypeIXFR, s1, Limits{})
		w := NewWriter(&Request{ID: 9, Question: Question{Name: []byte("\x07example\x04test\x00"), Type: dns.TypeIXFR, Class: dns.ClassINET}},
			func(msg []byte) error { return r.feed(bytes.Clone(msg)) })
		if err := WriteIXFR(w, tc.cur, tc.diffs); err != nil {
			t.Fatal(err)
		}
		res, err := r.result()
		if err != nil {
			t.Fatal(err)
		}
		if tc.diffs == nil {
			if !res.UpToDate {
				t.Fatalf("no diffs: %+v", res)
			}
			continue
		}
		if len(res.Diffs) != 2 || res.Diffs[1].Added[0].String() != rr(a2).String() || res.Diffs[0].Removed[0].String() != rr(a2).String() {
			t.Fatalf("read back %d diffs in %d messages: %+v", len(res.Diffs), res.Messages, res.Diffs)
		}
	}
}

// FuzzReadTransfer feeds message sequences (each prefixed by its length, as on TCP) to the
// transfer reader: it must never panic, and whatever it accepts must be a well-formed result.
func FuzzReadTransfer(f *testing.F) {
	frames := func(ms ...[]byte) []byte {
		var out []byte
		for _, m := range ms {
			out = binary.BigEndian.AppendUint16(out, uint16(len(m)))
			out = append(out, m...)
		}
		return out
	}
	f.Add(frames(packMsg(f, 42, dns.TypeAXFR, "example.test.", soa1, ns), packMsg(f, 42, dns.TypeAXFR, "example.test.", a1, soa1)), false)
	f.Add(frames(packMsg(f, 42, dns.TypeIXFR, "example.test.", soa3, soa1, a2, soa2, a3, soa2, soa3)), true)
	f.Add(frames(packMsg(f, 42, dns.TypeIXFR, "example.test.", soa1)), true)
	f.Fuzz(func(t *testing.T, data []byte, ixfr bool) {
		qtype := dns.TypeAXFR
		if ixfr {
			qtype = dns.TypeIXFR
		}
		have := &dns.SOA{Hdr: dns.Header{Name: "example.test.", Class: dns.ClassINET}}
		have.Serial = 1
		r := newReader("example.test.", 42, qtype, have, Limits{MaxRecords: 1000})
		for len(data) >= 2 && !r.done {
			n := int(binary.BigEndian.Uint16(data))
			data = data[2:]
			if n > len(data) {
				return
			}
			if err := r.feed(data[:n]); err != nil {
				return
			}
			data = data[n:]
		}
		res, err := r.result()
		if err != nil {
			return
		}
		if res.SOA == nil || (res.Full == nil) == (res.Diffs == nil) && !res.UpToDate {
			t.Fatalf("accepted result without a shape: %+v", res)
		}
		if res.Full != nil {
			if _, ok := res.Full[0].(*dns.SOA); !ok {
				t.Fatalf("full transfer starts with %s", res.Full[0])
			}
		}
		for _, d := range res.Diffs {
			if d.From == nil || d.To == nil {
				t.Fatalf("diff without SOA: %+v", d)
			}
		}
	})
}
