package pipeline

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/dnstest"
	"warden/internal/query"
	"warden/internal/server"
	"warden/internal/wire"
	"warden/internal/zone"
)

// signedTestIP is the loopback address the signed-zone tests listen on, away from the other
// tests' 127.0.0.1.
const signedTestIP = "127.0.1.21"

// signedZones returns the standard test zones with example.test. signed with denial d: a parent
// (test., unsigned, holding a DS for it), the signed zone with its delegations (secure. with a DS,
// sub. and others without), and the served child below it.
func signedZones(t testing.TB, d dnstest.Denial) ([]dnstest.Zone, dnstest.SignedZone) {
	t.Helper()
	var zones []dnstest.Zone
	var signed dnstest.SignedZone
	for _, z := range dnstest.TestZones() {
		if z.Origin == "example.test." {
			signed = dnstest.SignZone(t, z, d)
			z = signed.Zone
		}
		zones = append(zones, z)
	}
	return zones, signed
}

// startWardenOn serves zones on ip and a free port, as `warden serve` would, over UDP and TCP.
func startWardenOn(t testing.TB, ip string, zones []dnstest.Zone) string {
	t.Helper()
	pipe := zonesPipeline(t, zones)
	l, err := server.Listen(server.ListenerConfig{Addr: ip + ":0", UDPWorkers: 1}, pipe, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l.UDPAddr().String()
}

// zonesPipeline is a pipeline answering from zones alone.
func zonesPipeline(t testing.TB, zones []dnstest.Zone) *Pipeline {
	t.Helper()
	var loaded []*zone.Zone
	for _, zc := range zones {
		z, _, err := zone.LoadFile(zc.Origin, zc.File)
		if err != nil {
			t.Fatal(err)
		}
		loaded = append(loaded, z)
	}
	set, err := authority.New(loaded)
	if err != nil {
		t.Fatal(err)
	}
	return NewPipeline(wire.Limits{UDPPayload: 1232}, &Snapshot{Authority: set})
}

// TestDifferentialKnotSigned serves example.test. signed with NSEC, NSEC3 and NSEC3 opt-out from
// Knot DNS and from Warden, and compares their answers to the signed corpus: DO=1, DO=0 and no
// EDNS, mixed case, small UDP buffers and TCP.
func TestDifferentialKnotSigned(t *testing.T) {
	for _, d := range []dnstest.Denial{dnstest.DenialNSEC, dnstest.DenialNSEC3, dnstest.DenialOptOut} {
		t.Run(strings.ReplaceAll(d.String(), " ", "-"), func(t *testing.T) {
			zones, signed := signedZones(t, d)
			knot := dnstest.StartKnotOn(t, signedTestIP, zones)
			warden := startWardenOn(t, signedTestIP, zones)
			queries := signedCorpus(t, signed)
			results := dnstest.DiffCorpus(t, knot, warden, queries)
			answered := 0
			for _, r := range results {
				if r.A != nil && len(r.A.Answer)+len(r.A.Ns) > 0 {
					answered++
				}
			}
			// A corpus the reference answers with nothing compares nothing.
			if answered < len(queries)*3/4 {
				t.Errorf("Knot answered %d of %d queries with records", answered, len(queries))
			}
			t.Logf("%d queries, %d with records", len(queries), answered)
		})
	}
}

// signedNames are the names of example.test. the signed corpus asks for, one for each case the
// proofs differ in (see the zone file's comments for what each name is).
var signedNames = []string{
	"", "www", "multi", "v6only", "mail", "anyset", "txt", "ptrname", "mx", "mx-glue", "_sip._udp",
	"c1", "loop1", "tocross", "tochild", "toout", "tonx", "tonodata", "todeleg", "towild", "todname",
	"toent", "ent", "b.ent", "a.b.ent", "x.a.b.ent", "foo.wild", "exists.wild", "y.wild", "q.y.wild",
	"x.y.wild", "a.b.wild", "*.wild", "foo.wc", "foo.wcx", "foo.w6", "www.dn", "www.dnin", "nx.dnin",
	"www.dnnx", "sub", "host.sub", "ns1.sub", "ext", "sib", "secure", "x.secure", "ns.secure", "child",
	"www.child", "ch1", "mxfat", "fatdeleg", "big", "medium", "manymx", "nx", "deep.nx", "zzzz",
	"0", "-", "nothere",
}

// signedTypes are asked at every name; the apex gets apexTypes besides.
var (
	signedTypes = []uint16{dns.TypeA, dns.TypeTXT, dns.TypeRRSIG, dns.TypeDS, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeANY}
	apexTypes   = []uint16{dns.TypeSOA, dns.TypeNS, dns.TypeDNSKEY, dns.TypeNSEC3PARAM, dns.TypeMX, dns.TypeCDS, dns.TypeAAAA, dns.TypeCAA}
)

// signedCorpus is the query list of TestDifferentialKnotSigned: every name and type without EDNS,
// with EDNS and DO=1 in mixed case, and some with DO=0, with DO=1 over 512-byte UDP and over TCP;
// then the owners of the zone's NSEC3 records, which are no names of the tree.
func signedCorpus(t *testing.T, z dnstest.SignedZone) []dnstest.Query {
	rng := rand.New(rand.NewPCG(4035, 5155))
	var qs []dnstest.Query
	add := func(name string, qtype uint16, i int) {
		qs = append(qs,
			dnstest.Query{Name: name, Type: qtype, Note: "no EDNS"},
			dnstest.Query{Name: dnstest.MixCase(name, rng), Type: qtype, EDNS: true, DO: true, Note: "DO, mixed case"})
		switch i % 4 {
		case 0:
			qs = append(qs, dnstest.Query{Name: name, Type: qtype, EDNS: true, Note: "DO=0"})
		case 1:
			qs = append(qs, dnstest.Query{Name: name, Type: qtype, EDNS: true, DO: true, UDPSize: 512, Note: "DO, 512 bytes"})
		case 2:
			qs = append(qs, dnstest.Query{Name: dnstest.MixCase(name, rng), Type: qtype, EDNS: true, DO: true, TCP: true, Note: "DO, TCP"})
		case 3:
			qs = append(qs, dnstest.Query{Name: name, Type: qtype, EDNS: true, DO: true, UDPSize: 700, Note: "DO, 700 bytes"})
		}
	}
	i := 0
	for _, label := range signedNames {
		name := "example.test."
		if label != "" {
			name = label + "." + name
		}
		types := signedTypes
		if label == "" {
			types = append(append([]uint16(nil), signedTypes...), apexTypes...)
		}
		for _, qtype := range types {
			add(name, qtype, i)
			i++
		}
	}
	for _, owner := range nsec3Owners(t, z.File, 4) {
		for _, qtype := range []uint16{dns.TypeNSEC3, dns.TypeA, dns.TypeRRSIG} {
			add(owner, qtype, i)
			i++
		}
	}
	for _, size := range []uint16{512, 600, 700, 800, 1232} {
		for _, name := range []string{"medium.example.test.", "nx.example.test.", "big.example.test.", "manymx.example.test.", "fatdeleg.example.test.", "mx.example.test."} {
			qtype := dns.TypeTXT
			if strings.HasPrefix(name, "m") && name != "medium.example.test." {
				qtype = dns.TypeMX
			}
			qs = append(qs, dnstest.Query{Name: name, Type: qtype, EDNS: true, DO: true, UDPSize: size, Note: "truncation"})
		}
	}
	for i := range qs {
		qs[i].ID = uint16(3000 + i)
	}
	return qs
}

// nsec3Owners returns up to n owner names of NSEC3 records in the signed zone file.
func nsec3Owners(t *testing.T, file string, n int) []string {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var owners []string
	for line := range strings.Lines(string(text)) {
		f := strings.Fields(line)
		if len(f) >= 4 && f[2] == "IN" && f[3] == "NSEC3" && len(owners) < n {
			owners = append(owners, f[0])
		}
	}
	return owners
}

// BenchmarkPipelineHitSigned is BenchmarkPipelineHit for www.example.test. A of the standard test
// zones, example.test. unsigned and signed with NSEC3, asked with DO=0 and with DO=1 (the answer
// with its RRSIG). Each must report 0 allocs/op.
func BenchmarkPipelineHitSigned(b *testing.B) {
	for _, c := range []struct {
		name     string
		sign, do bool
	}{{"unsigned-DO1", false, true}, {"signed-DO0", true, false}, {"signed-DO1", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			zones := dnstest.TestZones()
			if c.sign {
				zones, _ = signedZones(b, dnstest.DenialNSEC3)
			}
			m := dns.NewMsg("www.example.test.", dns.TypeA)
			m.UDPSize = 1232
			m.Security = c.do
			if err := m.Pack(); err != nil {
				b.Fatal(err)
			}
			req := &query.Request{Wire: m.Data, Transport: query.UDP}
			out := make([]byte, 0, 65535)
			var h server.Handler = zonesPipeline(b, zones)
			b.ReportAllocs()
			for b.Loop() {
				if len(h.ServeDNS(req, out)) < 40 {
					b.Fatal("no answer")
				}
			}
		})
	}
}
