package pipeline_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/dnstest"
	"warden/internal/lab/labtest"
	"warden/internal/pipeline"
	"warden/internal/policy"
	"warden/internal/server"
	"warden/internal/wire"
)

const rpzSOA = "$TTL 300\n@ SOA ns.rpz. admin.rpz. 1 3600 600 86400 60\n@ NS ns.rpz.\n"

// The policy zones of the differential test, in precedence order, with BIND's options for each
// and Warden's equivalent. Each rule names the lab data it is aimed at.
var diffZones = []struct {
	origin string
	bind   string // options in response-policy { zone "origin" ...; }
	opts   policy.Options
	text   string
}{
	{"one.rpz.", "max-policy-ttl 60", policy.Options{MaxPolicyTTL: 60}, `
; QNAME triggers and actions
www.lab CNAME .
www.shop.example 300 A 10.0.0.1
www.shop.example 300 TXT "policy text"
mail.shop.example CNAME rpz-drop.
txt.shop.example CNAME rpz-tcp-only.
*.shop.example CNAME *.
x.wild.org CNAME *.lab.
y.wild.org CNAME *.wild.org.
redirect.lab CNAME www.hosting.org.
; exact before wildcard, longer wildcard before shorter
a.deep.wild.org 300 A 127.0.0.77
*.deep.wild.org CNAME *.
*.b.deep.wild.org CNAME .
www.bank.example CNAME *.
; response IP: /32 before /28 (127.0.9.16-31: www.hosting.org, blog.example)
32.20.9.0.127.rpz-ip 300 A 127.0.0.99
28.16.9.0.127.rpz-ip CNAME .
32.41.9.0.127.rpz-ip CNAME .
; NSDNAME
ns1.moved.example.rpz-nsdname CNAME .
`},
	{"two.rpz.", "max-policy-ttl 3600", policy.Options{MaxPolicyTTL: 3600}, `
www.moved.example CNAME rpz-passthru.
; NSIP: the server of bank.example
32.5.3.0.127.rpz-nsip CNAME .
only-two.lab 600 TXT "second zone"
`},
	{"ovr.rpz.", "max-policy-ttl 60 policy nxdomain", policy.Options{MaxPolicyTTL: 60, Override: policy.OverrideNXDomain}, `
post.blog.example CNAME rpz-passthru.
ns1.nic.example CNAME rpz-passthru.
`},
	{"cn.rpz.", "max-policy-ttl 60 policy cname a.root.lab.", policy.Options{MaxPolicyTTL: 60, Override: policy.OverrideCNAME, OverrideCNAME: "a.root.lab."}, `
gone.example CNAME rpz-passthru.
`},
	{"three.rpz.", "max-policy-ttl 60", policy.Options{MaxPolicyTTL: 60}, `
32.2.0.0.127.rpz-client-ip 120 A 127.0.0.98
`},
}

// diffNames are asked for A, AAAA, TXT and MX from both clients; dropped names only for A.
var diffNames = []string{
	"www.lab.", "ns1.nic.lab.", "a.root.lab.", "nothing.lab.", "redirect.lab.", "only-two.lab.",
	"www.shop.example.", "txt.shop.example.", "alias.shop.example.", "cdn.shop.example.",
	"nope.shop.example.", "deep.nope.shop.example.", "shop.example.",
	"www.hosting.org.", "app.hosting.org.", "ns.hosting.org.",
	"www.wild.org.", "x.wild.org.", "y.wild.org.", "a.deep.wild.org.", "z.deep.wild.org.", "c.b.deep.wild.org.",
	"www.moved.example.", "www.bank.example.", "ns1.bank.example.",
	"post.blog.example.", "blog.example.", "edge.blog.example.", "gone.example.", "ns1.nic.example.",
}

var droppedNames = []string{"mail.shop.example."}

// TestPolicyDifferentialBIND: BIND 9 with the same policy zones in the same order, both resolving
// through the mini internet, must give the same rcode, answer (as a set; TTLs too for records
// the policy made) and SOA-or-not in the authority section, from two client addresses.
func TestPolicyDifferentialBIND(t *testing.T) {
	l := labtest.Start(t)
	files := map[string]string{"lab.hints": l.RootHints()}
	var zones, body strings.Builder
	var sets []*policy.RuleSet
	for _, z := range diffZones {
		file := strings.TrimSuffix(z.origin, ".") + ".zone"
		files[file] = rpzSOA + z.text
		fmt.Fprintf(&zones, "\t\tzone %q %s;\n", z.origin, z.bind)
		fmt.Fprintf(&body, "zone %q { type primary; file %q; };\n", z.origin, file)
		s, err := policy.LoadRPZ(z.origin, file, []byte(rpzSOA+z.text), z.opts)
		if err != nil {
			t.Fatal(err)
		}
		if w := s.Warnings(); len(w) > 0 {
			t.Fatalf("%s: %v", z.origin, w)
		}
		sets = append(sets, s)
	}
	named := dnstest.StartNamed(t, dnstest.NamedConfig{
		Options: fmt.Sprintf(`	recursion yes;
	allow-recursion { 127.0.0.0/8; };
	dnssec-validation no;
	minimal-responses yes;
	response-policy {
%s	} qname-wait-recurse no;`, zones.String()),
		Body:  `zone "." { type hint; file "lab.hints"; };` + "\n" + body.String(),
		Files: files,
	})
	waitForPolicy(t, named)
	empty, _ := authority.New(nil)
	pipe := pipeline.NewPipeline(wire.Limits{UDPPayload: 1232}, &pipeline.Snapshot{Authority: empty, Recursion: labRecursor(t, l), Policy: policy.New(sets...)})
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
		tcp    bool
	}
	var qs []question
	for _, client := range []string{"127.0.0.1", "127.0.0.2"} {
		for _, n := range diffNames {
			for _, typ := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeMX} {
				qs = append(qs, question{n, typ, client, false})
			}
		}
		for _, n := range droppedNames {
			qs = append(qs, question{n, dns.TypeA, client, false})
		}
		qs = append(qs, question{"txt.shop.example.", dns.TypeTXT, client, true})
	}
	if len(qs) < 200 {
		t.Fatalf("%d questions; at least 200 wanted", len(qs))
	}
	differ := 0
	for _, q := range qs {
		got := askFrom(t, warden, q.client, q.name, q.qtype, q.tcp)
		want := askFrom(t, named, q.client, q.name, q.qtype, q.tcp)
		// TTLs are compared where the policy made the records: Warden marks those with an EDE.
		ttls := got != nil && hasEDE(got)
		if g, w := summary(got, q.name, ttls), summary(want, q.name, ttls); g != w {
			differ++
			t.Errorf("%s %s from %s (tcp %v):\n  Warden %s\n  BIND   %s", q.name, dns.TypeToString[q.qtype], q.client, q.tcp, g, w)
		}
	}
	t.Logf("%d of %d questions differ from BIND", differ, len(qs))
	for _, s := range sets {
		t.Logf("policy zone %s: %d rules, %d hits", s.Name(), s.Len(), s.Hits())
	}
}

// waitForPolicy waits until named applies a rule of each policy zone: it loads them after it
// starts answering.
func waitForPolicy(t *testing.T, named string) {
	t.Helper()
	probes := []struct {
		name   string
		qtype  uint16
		client string
		rcode  uint16
		answer int
	}{
		{"www.lab.", dns.TypeAAAA, "127.0.0.1", dns.RcodeNameError, 0},
		{"only-two.lab.", dns.TypeTXT, "127.0.0.1", dns.RcodeSuccess, 1},
		{"post.blog.example.", dns.TypeTXT, "127.0.0.1", dns.RcodeNameError, 0},
		{"gone.example.", dns.TypeA, "127.0.0.1", dns.RcodeSuccess, 2},
		{"ns1.nic.lab.", dns.TypeTXT, "127.0.0.2", dns.RcodeSuccess, 0},
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, p := range probes {
		for {
			r := askFrom(t, named, p.client, p.name, p.qtype, false)
			if r != nil && r.Rcode == p.rcode && len(r.Answer) == p.answer && len(r.Extra) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("named did not apply its policy to %s: %v", p.name, r)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// askFrom sends one question from the client address; nil when no reply came (DROP).
func askFrom(t *testing.T, server, client, name string, qtype uint16, tcp bool) *dns.Msg {
	t.Helper()
	m := dns.NewMsg(name, qtype)
	m.ID, m.RecursionDesired, m.UDPSize = dns.ID(), true, 1232
	network := "udp"
	var local net.Addr = &net.UDPAddr{IP: net.ParseIP(client)}
	if tcp {
		network, local = "tcp", &net.TCPAddr{IP: net.ParseIP(client)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{LocalAddr: local}).DialContext(ctx, network, server)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	c := dns.NewClient()
	r, _, err := c.ExchangeWithConn(ctx, m, conn)
	if err != nil {
		return nil
	}
	return r
}

// summary is what the test compares: rcode, TC, the answer as a set (with TTLs for records owned
// by the query name, which the policy makes or caps, when the answer is a policy's), and whether
// the authority section holds a SOA.
func summary(m *dns.Msg, qname string, ttls bool) string {
	if m == nil {
		return "no reply"
	}
	var answer []string
	for _, rr := range m.Answer {
		f := strings.Fields(rr.String())
		s := strings.ToLower(f[0] + " " + strings.Join(f[2:], " "))
		if ttls && strings.EqualFold(f[0], qname) && !labCNAMEs[strings.ToLower(qname)] {
			s = strings.ToLower(f[0]+" ") + f[1] + " " + strings.ToLower(strings.Join(f[2:], " "))
		}
		answer = append(answer, s)
	}
	slices.Sort(answer)
	soa := ""
	for _, rr := range m.Ns {
		if dns.RRToType(rr) == dns.TypeSOA {
			soa += "authority:" + strings.ToLower(rr.Header().Name)
		}
	}
	for _, rr := range m.Extra {
		if dns.RRToType(rr) == dns.TypeSOA {
			soa += "additional:" + strings.ToLower(rr.Header().Name)
		}
	}
	return fmt.Sprintf("rcode %s tc %v soa %q answer %q", dns.RcodeToString[m.Rcode], m.Truncated, soa, answer)
}

// labCNAMEs own CNAMEs in the lab's zones: their TTLs are the zones', not the policy's.
var labCNAMEs = map[string]bool{"alias.shop.example.": true, "cdn.shop.example.": true, "app.hosting.org.": true, "edge.blog.example.": true}

func hasEDE(m *dns.Msg) bool {
	for _, o := range m.Pseudo {
		if _, ok := o.(*dns.EDE); ok {
			return true
		}
	}
	return false
}
