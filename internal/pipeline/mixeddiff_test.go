package pipeline_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/dnstest"
	"warden/internal/lab/labtest"
	"warden/internal/pipeline"
	"warden/internal/resolver"
	"warden/internal/server"
	"warden/internal/wire"
	"warden/internal/zone"
)

// The zones of the mixed-mode test, served by Warden and by BIND alongside recursion through the
// mini internet. example. is a local copy of the lab's top-level zone, with the same delegations
// (so that names below them resolve at the lab's servers) and data of its own; internal.test.
// exists nowhere else.
var mixedZones = []struct{ origin, text string }{
	{"example.", `$ORIGIN example.
$TTL 3600
@ SOA ns1.nic hostmaster.lab. 1 3600 600 86400 300
@ NS ns1.nic
ns1.nic A 127.0.2.2
; delegations to the lab's servers: with glue, without glue (out-of-zone NS), with a DS
shop NS ns1.shop
shop DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns1.shop A 127.0.3.1
blog NS ns.hosting.org.
bank NS ns1.bank
ns1.bank A 127.0.3.5
; data of its own
www A 127.0.8.1
www TXT "served here"
alias CNAME www.lab.
chain CNAME chain2
chain2 CNAME alias
toshop CNAME www.shop.example.
tobank CNAME ns1.bank
tonx CNAME nothing.lab.
toin CNAME www.internal.test.
towild CNAME x.wild.org.
legacy DNAME hosting.org.
inner DNAME internal.test.
ent.a A 127.0.8.2
`},
	{"internal.test.", `$ORIGIN internal.test.
$TTL 3600
@ SOA ns1 hostmaster 1 3600 600 86400 300
@ NS ns1
ns1 A 127.0.8.10
www A 127.0.8.11
www AAAA 2001:db8::11
mail MX 10 www
app CNAME www.hosting.org.
web CNAME app.hosting.org.
local CNAME www
back CNAME www.example.
`},
}

// mixedNames are asked for A, AAAA, TXT and MX (and the cut's NS and DS for NS and DS).
var mixedNames = []string{
	"example.", "www.example.", "nothere.example.", "ent.example.", "a.ent.example.",
	"alias.example.", "chain.example.", "toshop.example.", "tobank.example.", "tonx.example.",
	"toin.example.", "towild.example.", "www.legacy.example.", "app.legacy.example.", "www.inner.example.",
	"shop.example.", "www.shop.example.", "ns1.shop.example.", "nothing.shop.example.", "blog.example.",
	"post.blog.example.", "bank.example.", "www.bank.example.", "ns1.bank.example.",
	"internal.test.", "www.internal.test.", "mail.internal.test.", "app.internal.test.", "web.internal.test.",
	"local.internal.test.", "back.internal.test.", "gone.internal.test.",
}

// mixedClients: 127.0.0.1 may recurse, 127.0.0.2 may not.
var mixedClients = []string{"127.0.0.1", "127.0.0.2"}

// TestMixedDifferentialBIND: a server with zones and recursion, Warden and BIND 9 configured
// alike, must answer the same (rcode, AA, RA, TC, the answer as a set and the kinds of records in
// the authority section) to a client that may recurse, with RD=1 and RD=0, and to one that may not.
func TestMixedDifferentialBIND(t *testing.T) {
	l := labtest.Start(t)
	files := map[string]string{"lab.hints": l.RootHints()}
	var body strings.Builder
	var loaded []*zone.Zone
	for _, z := range mixedZones {
		file := strings.TrimSuffix(z.origin, ".") + ".zone"
		files[file] = z.text
		fmt.Fprintf(&body, "zone %q { type primary; file %q; };\n", z.origin, file)
		zz, _, err := zone.Load(z.origin, file, []byte(z.text))
		if err != nil {
			t.Fatal(err)
		}
		loaded = append(loaded, zz)
	}
	named := dnstest.StartNamed(t, dnstest.NamedConfig{
		Options: `	recursion yes;
	allow-recursion { 127.0.0.1; };
	dnssec-validation no;
	qname-minimization relaxed;
	minimal-responses yes;`,
		Body:  `zone "." { type hint; file "lab.hints"; };` + "\n" + body.String(),
		Files: files,
	})
	set, err := authority.New(loaded)
	if err != nil {
		t.Fatal(err)
	}
	hints, err := resolver.ParseHints([]byte(l.RootHints()), "lab hints")
	if err != nil {
		t.Fatal(err)
	}
	rec := pipeline.NewRecursor(pipeline.RecursorConfig{
		Hints: hints, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Exchanger: resolver.NewUpstreams(53, 700*time.Millisecond), Timeout: 8 * time.Second, MaxConcurrent: 100,
	})
	pipe := pipeline.NewPipeline(wire.Limits{UDPPayload: 1232}, &pipeline.Snapshot{Authority: set, Recursion: rec})
	ln, err := server.Listen(server.ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, pipe, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	warden := ln.UDPAddr().String()

	type question struct {
		name   string
		qtype  uint16
		client string
		rd     bool
	}
	// RD=0 questions come first, while both caches are cold: BIND answers them from its cache
	// where it has something better than its zones, which would make them depend on the order.
	var qs []question
	for _, rd := range []bool{false, true} {
		for _, client := range mixedClients {
			for _, n := range mixedNames {
				types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeMX}
				switch n {
				case "shop.example.", "blog.example.", "bank.example.":
					types = append(types, dns.TypeNS, dns.TypeDS)
				case "example.", "internal.test.":
					types = append(types, dns.TypeNS, dns.TypeSOA)
				}
				for _, typ := range types {
					qs = append(qs, question{n, typ, client, rd})
				}
			}
		}
	}
	differ, upward := 0, 0
	for _, q := range qs {
		got := askMixed(t, warden, q.client, q.name, q.qtype, q.rd)
		want := askMixed(t, named, q.client, q.name, q.qtype, q.rd)
		if !q.rd && dropUpwardReferral(want) {
			upward++
		}
		if g, w := mixedSummary(got), mixedSummary(want); g != w {
			differ++
			t.Errorf("%s %s from %s rd %v:\n  Warden %s\n  BIND   %s", q.name, dns.TypeToString[q.qtype], q.client, q.rd, g, w)
		}
	}
	if len(qs) < 60 {
		t.Fatalf("%d questions; at least 60 wanted", len(qs))
	}
	t.Logf("%d of %d questions differ from BIND; %d RD=0 answers compared without BIND's upward referral", differ, len(qs), upward)
}

// dropUpwardReferral removes the root's NS records BIND puts in the authority section of an RD=0
// answer whose CNAME chain leaves the zones (RFC 1034 §4.3.2 step 4, from its cache or hints);
// Warden's RD=0 answers are the zones' own (docs/differences.md). It says whether it removed any.
func dropUpwardReferral(m *dns.Msg) bool {
	if m == nil || len(m.Answer) == 0 || dns.RRToType(m.Answer[len(m.Answer)-1]) != dns.TypeCNAME {
		return false
	}
	kept := m.Ns[:0]
	for _, rr := range m.Ns {
		if dns.RRToType(rr) != dns.TypeNS || rr.Header().Name != "." {
			kept = append(kept, rr)
		}
	}
	dropped := len(kept) < len(m.Ns)
	m.Ns = kept
	return dropped
}

// askMixed sends one question from the client address, over UDP and again over TCP when
// truncated; nil when no reply came.
func askMixed(t *testing.T, server, client, name string, qtype uint16, rd bool) *dns.Msg {
	t.Helper()
	m := dns.NewMsg(name, qtype)
	m.ID, m.RecursionDesired, m.UDPSize = dns.ID(), rd, 1232
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r *dns.Msg
	for _, network := range []string{"udp", "tcp"} {
		var local net.Addr = &net.UDPAddr{IP: net.ParseIP(client)}
		if network == "tcp" {
			local = &net.TCPAddr{IP: net.ParseIP(client)}
		}
		conn, err := (&net.Dialer{LocalAddr: local}).DialContext(ctx, network, server)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		r, _, err = dns.NewClient().ExchangeWithConn(ctx, m, conn)
		conn.Close()
		if err != nil {
			return nil
		}
		if !r.Truncated {
			break
		}
	}
	return r
}

// mixedSummary is what the mixed-mode test compares: rcode, the AA, RA and TC flags, the answer as
// a set (TTLs aside: cached records count down) and the owner and type of each authority record.
func mixedSummary(m *dns.Msg) string {
	if m == nil {
		return "no reply"
	}
	var answer, auth []string
	for _, rr := range m.Answer {
		f := strings.Fields(rr.String())
		answer = append(answer, strings.ToLower(f[0]+" "+strings.Join(f[2:], " ")))
	}
	for _, rr := range m.Ns {
		auth = append(auth, strings.ToLower(rr.Header().Name)+" "+dns.TypeToString[dns.RRToType(rr)])
	}
	slices.Sort(answer)
	auth = slices.Compact(slices.Sorted(slices.Values(auth)))
	return fmt.Sprintf("rcode %s aa %v ra %v tc %v answer %q authority %q", dns.RcodeToString[m.Rcode], m.Authoritative, m.RecursionAvailable, m.Truncated, answer, auth)
}
