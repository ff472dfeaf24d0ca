package lab

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
)

// TestResolveThroughLab checks the hierarchy itself with a real resolver: Unbound, given the
// lab's root hints, must resolve every case, the broken servers included.
func TestResolveThroughLab(t *testing.T) {
	l := StartForTest(t)
	resolver := dnstest.StartUnbound(t, l.RootHints())
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []string // the answer's last records, as "TYPE rdata"
	}{
		{"www.shop.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.11"}},
		{"shop.example.", dns.TypeMX, dns.RcodeSuccess, []string{"MX 10 mail.shop.example."}},
		{"alias.shop.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.11"}},
		{"cdn.shop.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.41"}},
		{"www.legacy.shop.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.20"}},
		{"app.hosting.org.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.11"}},
		{"post.blog.example.", dns.TypeTXT, dns.RcodeSuccess, []string{`TXT "hello"`}},
		{"anything.wild.org.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.40"}},
		{"x.deep.wild.org.", dns.TypeTXT, dns.RcodeSuccess, []string{`TXT "deep wildcard"`}},
		{"www.moved.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.50"}},
		{"www.flaky.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.60"}},
		{"www.slow.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.70"}},
		{"www.big.example.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.80"}},
		{"nothere.shop.example.", dns.TypeA, dns.RcodeNameError, nil},
		{"www.lab.", dns.TypeA, dns.RcodeSuccess, []string{"A 127.0.9.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			defer cancel()
			m := dns.NewMsg(tt.name, tt.qtype)
			m.RecursionDesired = true
			r, err := dns.Exchange(ctx, m, "udp", resolver)
			if err != nil {
				t.Fatal(err)
			}
			if int(r.Rcode) != tt.rcode {
				t.Fatalf("rcode %d, want %d: %v", r.Rcode, tt.rcode, r)
			}
			var got []string
			for _, rr := range r.Answer {
				f := strings.Fields(rr.String())
				got = append(got, strings.Join(f[3:], " "))
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("answer %q lacks %q", got, w)
				}
			}
		})
	}
}

// The truncating server must make a resolver retry over TCP for the whole RRset.
func TestTruncatingServerNeedsTCP(t *testing.T) {
	l := StartForTest(t)
	resolver := dnstest.StartUnbound(t, l.RootHints())
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	m := dns.NewMsg("txt.big.example.", dns.TypeTXT)
	m.RecursionDesired = true
	m.UDPSize = 4096
	r, err := dns.Exchange(ctx, m, "udp", resolver)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 8 {
		t.Fatalf("%d TXT records, want 8: %v", len(r.Answer), r)
	}
}
