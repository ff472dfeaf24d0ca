package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
	"warden/internal/wire"
)

// clock is a fake Config.Now that tests move by hand.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time              { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration)         { c.ns.Add(int64(d)) }
func newCache(cfg Config, clk *clock) *Cache { cfg.Now = clk.Now; return New(cfg) }

// upstream describes a response as an upstream would send it, records in zone-file text.
type upstream struct {
	qname  string
	qtype  uint16
	rcode  uint16
	do     bool
	answer []string
	ns     []string
	extra  []string
}

func rrs(t testing.TB, lines []string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, l := range lines {
		rr, err := dns.New(l)
		if err != nil {
			t.Fatalf("bad record %q: %v", l, err)
		}
		out = append(out, rr)
	}
	return out
}

func (u upstream) pack(t testing.TB) []byte {
	t.Helper()
	m := dns.NewMsg(u.qname, u.qtype)
	m.Response = true
	m.RecursionAvailable = true
	m.Rcode = u.rcode
	m.Answer = rrs(t, u.answer)
	m.Ns = rrs(t, u.ns)
	m.Extra = rrs(t, u.extra)
	if u.do {
		m.UDPSize = 1232
		m.Security = true
	}
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	return m.Data
}

func put(t testing.TB, c *Cache, u upstream, rank Rank) {
	t.Helper()
	if err := c.Put(u.pack(t), rank); err != nil {
		t.Fatalf("put %s: %v", u.qname, err)
	}
}

type ask struct {
	name  string
	qtype uint16
	edns  bool
	do    bool
	stale bool
	tcp   bool
	// received stamps the request as a listener does; zero leaves it unstamped.
	received time.Time
}

func request(t testing.TB, a ask) *query.Request {
	t.Helper()
	q := dns.NewMsg(a.name, a.qtype)
	q.ID = 4242
	if a.edns || a.do {
		q.UDPSize = 1232
		q.Security = a.do
	}
	if err := q.Pack(); err != nil {
		t.Fatal(err)
	}
	req := &query.Request{Wire: q.Data, Received: a.received}
	if a.tcp {
		req.Transport = query.TCP
	}
	if v := req.Parse(); v != query.Accept {
		t.Fatalf("%s: parse verdict %d", a.name, v)
	}
	return req
}

// get asks the cache and unpacks what a client would see; nil on a miss.
func get(t testing.TB, c *Cache, a ask) (*dns.Msg, Status) {
	t.Helper()
	req := request(t, a)
	var out []byte
	var st Status
	if a.stale {
		out, st = c.GetStale(req, make([]byte, 0, 65535))
	} else {
		out, st = c.Get(req, make([]byte, 0, 65535))
	}
	if !st.Found() {
		return nil, st
	}
	m := &dns.Msg{Data: out}
	if err := m.Unpack(); err != nil {
		t.Fatalf("%s: unpack: %v", a.name, err)
	}
	if m.ID != 4242 || !m.Response || !m.RecursionAvailable || !m.RecursionDesired {
		t.Fatalf("%s: header %+v", a.name, m.MsgHeader)
	}
	if len(m.Question) != 1 || m.Question[0].Header().Name != a.name {
		t.Fatalf("%s: question %v", a.name, m.Question)
	}
	return m, st
}

func section(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

func norm(t testing.TB, lines []string) []string {
	return section(rrs(t, lines))
}

func ttls(rrs []dns.RR) []uint32 {
	var out []uint32
	for _, rr := range rrs {
		out = append(out, rr.Header().TTL)
	}
	return out
}

func allTTL(t *testing.T, m *dns.Msg, want uint32) {
	t.Helper()
	for _, rr := range slices.Concat(m.Answer, m.Ns) {
		if rr.Header().TTL != want {
			t.Fatalf("TTL of %s: want %d", rr, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []upstream{
		{qname: "www.example.test.", qtype: dns.TypeA,
			answer: []string{"www.example.test. 300 IN A 192.0.2.1", "www.example.test. 300 IN A 192.0.2.2"},
			ns:     []string{"example.test. 300 IN NS ns1.example.test.", "example.test. 300 IN NS ns.other.test."},
			extra:  []string{"ns1.example.test. 300 IN A 192.0.2.53", "ns.other.test. 300 IN AAAA 2001:db8::53"}},
		{qname: "alias.example.test.", qtype: dns.TypeA,
			answer: []string{"alias.example.test. 300 IN CNAME www.example.test.", "www.example.test. 300 IN A 192.0.2.1"}},
		{qname: "example.test.", qtype: dns.TypeMX,
			answer: []string{"example.test. 300 IN MX 10 mail.example.test.", "example.test. 300 IN MX 20 mail.other.test."}},
		{qname: "_sip._tcp.example.test.", qtype: dns.TypeSRV,
			answer: []string{"_sip._tcp.example.test. 300 IN SRV 10 5 5060 sip.example.test."}},
		{qname: "example.test.", qtype: dns.TypeNAPTR,
			answer: []string{`example.test. 300 IN NAPTR 100 10 "U" "E2U+sip" "!^.*$!sip:info@example.test!" .`}},
		{qname: "example.test.", qtype: dns.TypeTXT,
			answer: []string{`example.test. 300 IN TXT "v=spf1 -all" "second string"`}},
		{qname: "example.test.", qtype: dns.TypeSOA,
			answer: []string{"example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 1 7200 900 1209600 300"}},
		{qname: "d.example.test.", qtype: dns.TypeDNAME,
			answer: []string{"d.example.test. 300 IN DNAME example.other."}},
	}
	for _, u := range tests {
		t.Run(u.qname+dns.TypeToString[u.qtype], func(t *testing.T) {
			c := newCache(Config{}, newClock())
			put(t, c, u, RankAnswer)
			m, st := get(t, c, ask{name: u.qname, qtype: u.qtype, edns: true})
			if st != Hit {
				t.Fatalf("status %s", st)
			}
			if got, want := section(m.Answer), norm(t, u.answer); !slices.Equal(got, want) {
				t.Errorf("answer\n got %q\nwant %q", got, want)
			}
			if got, want := section(m.Ns), norm(t, u.ns); !slices.Equal(got, want) {
				t.Errorf("authority\n got %q\nwant %q", got, want)
			}
			if got, want := section(m.Extra), norm(t, u.extra); !slices.Equal(got, want) {
				t.Errorf("additional\n got %q\nwant %q", got, want)
			}
			if m.UDPSize != DefaultUDPPayload {
				t.Errorf("OPT payload %d", m.UDPSize)
			}
		})
	}
}

// A request stamped by its listener has its TTLs counted from the stamp, not from the clock; an
// unstamped one from the clock. A stamp from before the entry was stored (a query that waited for
// its own resolution) counts from the storing.
func TestTTLCountsFromStamp(t *testing.T) {
	clk := newClock()
	c := newCache(Config{StaleTTL: time.Hour}, clk)
	c.stamps = true // as if the listeners read clk, as they read time.Now when Config.Now is nil
	stored := clk.Now()
	put(t, c, upstream{qname: "www.example.test.", qtype: dns.TypeA,
		answer: []string{"www.example.test. 300 IN A 192.0.2.1"},
		extra:  []string{"ns1.example.test. 120 IN A 192.0.2.53"},
		ns:     []string{"example.test. 300 IN NS ns1.example.test."}}, RankAnswer)
	clk.Add(100 * time.Second)
	for _, tt := range []struct {
		name       string
		received   time.Time
		ttl, extra uint32
		want       Status
	}{
		{"unstamped", time.Time{}, 200, 20, Hit},
		{"stamped earlier", stored.Add(10 * time.Second), 290, 110, Hit},
		{"stamped later", stored.Add(280 * time.Second), 20, 0, Prefetch},
		{"stamped before the store", stored.Add(-5 * time.Second), 300, 120, Hit},
		{"stamped past expiry", stored.Add(300 * time.Second), 0, 0, Miss},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, st := get(t, c, ask{name: "www.example.test.", qtype: dns.TypeA, received: tt.received})
			if st != tt.want {
				t.Fatalf("status %s, want %s", st, tt.want)
			}
			if m == nil {
				return
			}
			allTTL(t, m, tt.ttl)
			if got := ttls(m.Extra); !slices.Equal(got, []uint32{tt.extra}) {
				t.Fatalf("additional TTLs %v, want %d", got, tt.extra)
			}
		})
	}
}

// With a clock of its own (Config.Now), the cache ignores the stamps, which the listeners read from
// time.Now: a test's fake clock keeps working behind a real listener.
func TestFakeClockIgnoresStamp(t *testing.T) {
	clk := newClock()
	c := newCache(Config{}, clk)
	put(t, c, upstream{qname: "www.example.test.", qtype: dns.TypeA,
		answer: []string{"www.example.test. 300 IN A 192.0.2.1"}}, RankAnswer)
	clk.Add(100 * time.Second)
	m, st := get(t, c, ask{name: "www.example.test.", qtype: dns.TypeA, received: time.Now()})
	if st != Hit {
		t.Fatalf("status %s", st)
	}
	allTTL(t, m, 200)
}

// Without Config.Now, a stamp counts: the same answer asked with a stamp 100 s on shows 100 s less.
func TestRealClockTakesStamp(t *testing.T) {
	c := New(Config{})
	put(t, c, upstream{qname: "www.example.test.", qtype: dns.TypeA,
		answer: []string{"www.example.test. 300 IN A 192.0.2.1"}}, RankAnswer)
	m, st := get(t, c, ask{name: "www.example.test.", qtype: dns.TypeA, received: time.Now().Add(100 * time.Second)})
	if st != Hit {
		t.Fatalf("status %s", st)
	}
	allTTL(t, m, 200)
	if m, _ = get(t, c, ask{name: "www.example.test.", qtype: dns.TypeA}); m.Answer[0].Header().TTL < 299 {
		t.Fatalf("unstamped: TTL %d, want the clock's 300 or 299", m.Answer[0].Header().TTL)
	}
}

func TestTTLCountdown(t *testing.T) {
	clk := newClock()
	c := newCache(Config{StaleTTL: time.Hour}, clk)
	u := upstream{qname: "www.example.test.", qtype: dns.TypeA,
		answer: []string{"www.example.test. 300 IN A 192.0.2.1", "www.example.test. 300 IN A 192.0.2.2"},
		ns:     []string{"example.test. 600 IN NS ns1.example.test."},
		extra:  []string{"ns1.example.test. 120 IN A 192.0.2.53"}}
	put(t, c, u, RankAnswer)
	q := ask{name: "www.example.test.", qtype: dns.TypeA}

	m, st := get(t, c, q)
	if st != Hit {
		t.Fatalf("status %s", st)
	}
	allTTL(t, m, 300)
	if got := ttls(m.Extra); !slices.Equal(got, []uint32{120}) {
		t.Fatalf("additional TTLs %v", got)
	}

	clk.Add(100 * time.Second)
	m, _ = get(t, c, q)
	allTTL(t, m, 200)
	if got := ttls(m.Extra); !slices.Equal(got, []uint32{20}) {
		t.Fatalf("additional TTLs %v (its own lifetime counts down)", got)
	}

	clk.Add(150 * time.Second)
	m, _ = get(t, c, q)
	allTTL(t, m, 50)
	if got := ttls(m.Extra); !slices.Equal(got, []uint32{0}) {
		t.Fatalf("additional TTLs %v", got)
	}

	clk.Add(25 * time.Second) // 25 s left of 300: under a tenth
	if _, st = get(t, c, q); st != Prefetch {
		t.Fatalf("near expiry: status %s, want prefetch", st)
	}
	if _, st = get(t, c, q); st != Hit {
		t.Fatalf("second near-expiry hit: status %s, want hit (prefetch reported once)", st)
	}

	clk.Add(25 * time.Second)
	if _, st = get(t, c, q); st != Miss {
		t.Fatalf("expired: status %s", st)
	}
	q.stale = true
	m, st = get(t, c, q)
	if st != Stale {
		t.Fatalf("stale: status %s", st)
	}
	allTTL(t, m, StaleAnswerTTL)

	clk.Add(time.Hour)
	if _, st = get(t, c, q); st != Miss {
		t.Fatalf("beyond stale window: status %s", st)
	}
	if c.Len() != 0 || c.Bytes() != 0 {
		t.Fatalf("entry beyond the stale window kept: len %d bytes %d", c.Len(), c.Bytes())
	}
}

func TestStaleOff(t *testing.T) {
	clk := newClock()
	c := newCache(Config{StaleTTL: -1}, clk)
	put(t, c, upstream{qname: "a.test.", qtype: dns.TypeA, answer: []string{"a.test. 10 IN A 192.0.2.1"}}, RankAnswer)
	clk.Add(11 * time.Second)
	if _, st := get(t, c, ask{name: "a.test.", qtype: dns.TypeA, stale: true}); st != Miss {
		t.Fatalf("status %s with serving stale off", st)
	}
}

func TestNegative(t *testing.T) {
	const soa = "example.test. %d IN SOA ns1.example.test. hostmaster.example.test. 1 7200 900 1209600 %d"
	tests := []struct {
		name     string
		cfg      Config
		rcode    uint16
		answer   []string
		soaTTL   uint32
		minimum  uint32
		wantTTL  uint32
		wantCode uint16
	}{
		{name: "nxdomain minimum below ttl", rcode: dns.RcodeNameError, soaTTL: 3600, minimum: 300, wantTTL: 300, wantCode: dns.RcodeNameError},
		{name: "nxdomain ttl below minimum", rcode: dns.RcodeNameError, soaTTL: 60, minimum: 300, wantTTL: 60, wantCode: dns.RcodeNameError},
		{name: "nodata", rcode: dns.RcodeSuccess, soaTTL: 900, minimum: 120, wantTTL: 120},
		{name: "negative ceiling", cfg: Config{NegativeMaxTTL: 100 * time.Second}, rcode: dns.RcodeNameError, soaTTL: 900, minimum: 600, wantTTL: 100, wantCode: dns.RcodeNameError},
		{name: "cname to nxdomain", rcode: dns.RcodeNameError, answer: []string{"x.example.test. 30 IN CNAME gone.example.test."},
			soaTTL: 900, minimum: 600, wantTTL: 30, wantCode: dns.RcodeNameError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			c := newCache(tt.cfg, clk)
			u := upstream{qname: "x.example.test.", qtype: dns.TypeA, rcode: tt.rcode, answer: tt.answer,
				ns: []string{fmt.Sprintf(soa, tt.soaTTL, tt.minimum)}}
			put(t, c, u, RankAuthAnswer)
			m, st := get(t, c, ask{name: "X.Example.TEST.", qtype: dns.TypeA})
			if st != Hit {
				t.Fatalf("status %s", st)
			}
			if m.Rcode != tt.wantCode {
				t.Fatalf("rcode %d, want %d", m.Rcode, tt.wantCode)
			}
			if len(m.Ns) != 1 || dns.RRToType(m.Ns[0]) != dns.TypeSOA {
				t.Fatalf("authority %v", m.Ns)
			}
			allTTL(t, m, tt.wantTTL)
			clk.Add(time.Duration(tt.wantTTL) * time.Second)
			if _, st = get(t, c, ask{name: "x.example.test.", qtype: dns.TypeA}); st != Miss {
				t.Fatalf("after %d s: status %s", tt.wantTTL, st)
			}
		})
	}
}

func TestTTLClamp(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ttl  uint32
		want uint32
	}{
		{"floor", Config{MinTTL: time.Minute}, 5, 60},
		{"ceiling", Config{MaxTTL: time.Hour}, 172800, 3600},
		{"default ceiling", Config{}, 172800, 86400},
		{"within", Config{MinTTL: time.Minute, MaxTTL: time.Hour}, 600, 600},
		{"top bit is zero", Config{MinTTL: 10 * time.Second}, 1 << 31, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(tt.cfg, newClock())
			put(t, c, upstream{qname: "a.test.", qtype: dns.TypeA,
				answer: []string{fmt.Sprintf("a.test. %d IN A 192.0.2.1", tt.ttl)}}, RankAnswer)
			m, st := get(t, c, ask{name: "a.test.", qtype: dns.TypeA})
			if st != Hit {
				t.Fatalf("status %s", st)
			}
			allTTL(t, m, tt.want)
		})
	}
}

func TestZeroTTLNotStored(t *testing.T) {
	c := newCache(Config{}, newClock())
	put(t, c, upstream{qname: "a.test.", qtype: dns.TypeA, answer: []string{"a.test. 0 IN A 192.0.2.1"}}, RankAnswer)
	if c.Len() != 0 {
		t.Fatalf("TTL 0 answer stored")
	}
}

func TestRank(t *testing.T) {
	clk := newClock()
	c := newCache(Config{}, clk)
	answer := func(addr string, ttl int) upstream {
		return upstream{qname: "a.test.", qtype: dns.TypeA, answer: []string{fmt.Sprintf("a.test. %d IN A %s", ttl, addr)}}
	}
	q := ask{name: "a.test.", qtype: dns.TypeA}
	steps := []struct {
		up   upstream
		rank Rank
		want string
	}{
		{answer("192.0.2.1", 300), RankAnswer, "192.0.2.1"},
		{answer("192.0.2.2", 300), RankAdditional, "192.0.2.1"}, // additional never replaces answer data
		{answer("192.0.2.3", 300), RankAuthority, "192.0.2.1"},
		{answer("192.0.2.4", 300), RankAnswer, "192.0.2.4"}, // equal rank refreshes
		{answer("192.0.2.5", 300), RankAuthAnswer, "192.0.2.5"},
		{answer("192.0.2.6", 300), RankAnswer, "192.0.2.5"},
	}
	for i, s := range steps {
		put(t, c, s.up, s.rank)
		m, _ := get(t, c, q)
		if got := m.Answer[0].(*dns.A).A.String(); got != s.want {
			t.Fatalf("step %d: %s, want %s", i, got, s.want)
		}
	}
	clk.Add(301 * time.Second) // expired data may be replaced by any rank
	put(t, c, answer("192.0.2.7", 300), RankAdditional)
	m, _ := get(t, c, q)
	if got := m.Answer[0].(*dns.A).A.String(); got != "192.0.2.7" {
		t.Fatalf("after expiry: %s", got)
	}
	if c.Len() != 1 {
		t.Fatalf("len %d", c.Len())
	}
}

func TestDOKeyedSeparately(t *testing.T) {
	c := newCache(Config{}, newClock())
	signed := upstream{qname: "a.test.", qtype: dns.TypeA, do: true, answer: []string{
		"a.test. 300 IN A 192.0.2.1",
		"a.test. 300 IN RRSIG A 13 2 300 20260201000000 20260101000000 12345 test. c2lnbmF0dXJl",
	}}
	put(t, c, signed, RankAnswer)
	if _, st := get(t, c, ask{name: "a.test.", qtype: dns.TypeA}); st != Miss {
		t.Fatalf("DO answer served to a query without DO: %s", st)
	}
	if _, st := get(t, c, ask{name: "a.test.", qtype: dns.TypeA, edns: true}); st != Miss {
		t.Fatalf("DO answer served to an EDNS query without DO: %s", st)
	}
	m, st := get(t, c, ask{name: "a.test.", qtype: dns.TypeA, do: true})
	if st != Hit || len(m.Answer) != 2 || !m.Security {
		t.Fatalf("DO query: %s %v security=%v", st, m.Answer, m.Security)
	}
	put(t, c, upstream{qname: "a.test.", qtype: dns.TypeA, answer: []string{"a.test. 300 IN A 192.0.2.1"}}, RankAnswer)
	m, st = get(t, c, ask{name: "a.test.", qtype: dns.TypeA, edns: true})
	if st != Hit || len(m.Answer) != 1 || m.Security {
		t.Fatalf("plain query: %s %v security=%v", st, m.Answer, m.Security)
	}
	if c.Len() != 2 {
		t.Fatalf("len %d, want 2", c.Len())
	}
}

func TestQuestionCase(t *testing.T) {
	c := newCache(Config{}, newClock())
	put(t, c, upstream{qname: "www.Example.test.", qtype: dns.TypeA,
		answer: []string{"www.example.test. 300 IN A 192.0.2.1"},
		ns:     []string{"example.test. 300 IN NS ns1.example.test."}}, RankAnswer)
	req := request(t, ask{name: "wWw.eXaMpLe.TeSt.", qtype: dns.TypeA})
	out, st := c.Get(req, make([]byte, 0, 512))
	if st != Hit {
		t.Fatalf("status %s", st)
	}
	if string(out[12:req.QuestionEnd]) != string(req.Wire[12:req.QuestionEnd]) {
		t.Fatalf("question not echoed as asked")
	}
	m := &dns.Msg{Data: out}
	if err := m.Unpack(); err != nil {
		t.Fatal(err)
	}
	// Owner names were compressed into the question, so the client's case shows through.
	if got := m.Answer[0].Header().Name; got != "wWw.eXaMpLe.TeSt." {
		t.Fatalf("answer owner %q", got)
	}
	if got := m.Ns[0].Header().Name; got != "eXaMpLe.TeSt." {
		t.Fatalf("authority owner %q", got)
	}
}

func TestTruncation(t *testing.T) {
	var big []string
	for i := range 20 {
		big = append(big, fmt.Sprintf(`t.test. 300 IN TXT "%040d"`, i))
	}
	var glue []string
	for i := range 30 {
		glue = append(glue, fmt.Sprintf("ns%d.other.test. 300 IN AAAA 2001:db8::%d", i, i))
	}
	c := newCache(Config{}, newClock())
	put(t, c, upstream{qname: "t.test.", qtype: dns.TypeTXT, answer: big}, RankAnswer)
	put(t, c, upstream{qname: "g.test.", qtype: dns.TypeA, answer: []string{"g.test. 300 IN A 192.0.2.1"}, extra: glue}, RankAnswer)

	tests := []struct {
		ask       ask
		tc        bool
		an, extra int
		wantOPT   bool
	}{
		{ask{name: "t.test.", qtype: dns.TypeTXT}, true, 0, 0, false},
		{ask{name: "t.test.", qtype: dns.TypeTXT, edns: true}, false, 20, 0, true},
		{ask{name: "t.test.", qtype: dns.TypeTXT, tcp: true}, false, 20, 0, false},
		// Additional RRsets that do not fit are dropped silently, one by one (RFC 2181 §9), as
		// an authoritative answer's are: 12 of the 30 fit in 512 bytes.
		{ask{name: "g.test.", qtype: dns.TypeA}, false, 1, 12, false},
		{ask{name: "g.test.", qtype: dns.TypeA, edns: true}, false, 1, 30, true},
	}
	for _, tt := range tests {
		req := request(t, tt.ask)
		out, st := c.Get(req, make([]byte, 0, 65535))
		if st != Hit {
			t.Fatalf("%+v: status %s", tt.ask, st)
		}
		if len(out) > 512 && !tt.ask.edns && !tt.ask.tcp {
			t.Fatalf("%+v: %d bytes over UDP without EDNS", tt.ask, len(out))
		}
		m := &dns.Msg{Data: out}
		if err := m.Unpack(); err != nil {
			t.Fatal(err)
		}
		extra := 0
		for _, rr := range m.Extra {
			if dns.RRToType(rr) != dns.TypeOPT {
				extra++
			}
		}
		if m.Truncated != tt.tc || len(m.Answer) != tt.an || extra != tt.extra || (m.UDPSize != 0) != tt.wantOPT {
			t.Fatalf("%+v: tc=%v an=%d extra=%d udp=%d", tt.ask, m.Truncated, len(m.Answer), extra, m.UDPSize)
		}
	}
}

// TestLimits: a hit is rendered with the server's limits, as an authoritative answer is: the OPT
// record advertises the configured payload, and a response too large for it is cut exactly where
// a template of the same records is cut.
func TestLimits(t *testing.T) {
	var big, glue []string
	for i := range 40 {
		big = append(big, fmt.Sprintf(`t.test. 300 IN TXT "%060d"`, i))
	}
	for i := range 120 {
		glue = append(glue, fmt.Sprintf("ns%d.other.test. 300 IN AAAA 2001:db8::%d", i, i))
	}
	answers := []upstream{
		{qname: "t.test.", qtype: dns.TypeTXT, answer: big},
		{qname: "g.test.", qtype: dns.TypeA, answer: []string{"g.test. 300 IN A 192.0.2.1"}, extra: glue},
	}
	for _, payload := range []uint16{512, 1232, 4096} {
		limits := wire.Limits{UDPPayload: payload}
		c := newCache(Config{Limits: limits}, newClock())
		for _, u := range answers {
			put(t, c, u, RankAnswer)
			// The same records as a template, rendered as the zones' answers are.
			var low [wire.MaxNameLen]byte
			name, err := wire.AppendName(low[:0], u.qname)
			if err != nil {
				t.Fatal(err)
			}
			b := wire.NewBuilder(name, len(name))
			b.SetRA()
			for _, s := range []struct {
				s     wire.Section
				lines []string
			}{{wire.Answer, u.answer}, {wire.Additional, u.extra}} {
				if err := b.AddSection(s.s, rrs(t, s.lines)); err != nil {
					t.Fatal(err)
				}
			}
			tmpl := b.Template()
			for _, a := range []ask{{name: u.qname, qtype: u.qtype}, {name: u.qname, qtype: u.qtype, edns: true}, {name: u.qname, qtype: u.qtype, tcp: true}} {
				req := request(t, a)
				req.UDPSize = 4096 // the client offers more than the server
				got, st := c.Get(req, make([]byte, 0, 65535))
				if st != Hit {
					t.Fatalf("payload %d, %+v: status %s", payload, a, st)
				}
				want := limits.Render(make([]byte, 0, 65535), req, tmpl)
				if !bytes.Equal(got, want) {
					t.Errorf("payload %d, %+v: cached answer\n% x\nwant, as a template renders it,\n% x", payload, a, got, want)
				}
				m := &dns.Msg{Data: got}
				if err := m.Unpack(); err != nil {
					t.Fatal(err)
				}
				if a.edns && m.UDPSize != payload {
					t.Errorf("payload %d, %+v: OPT advertises %d", payload, a, m.UDPSize)
				}
				if max := limits.MaxSize(req); len(got) > max {
					t.Errorf("payload %d, %+v: %d bytes, limit %d", payload, a, len(got), max)
				}
			}
		}
	}
}

func TestEviction(t *testing.T) {
	const max = 64 << 10
	c := newCache(Config{MaxBytes: max, Shards: 4}, newClock())
	hot := ask{name: "hot.test.", qtype: dns.TypeA}
	put(t, c, upstream{qname: "hot.test.", qtype: dns.TypeA, answer: []string{"hot.test. 300 IN A 192.0.2.1"}}, RankAnswer)
	for i := range 3000 {
		name := fmt.Sprintf("n%d.test.", i)
		put(t, c, upstream{qname: name, qtype: dns.TypeA, answer: []string{name + " 300 IN A 192.0.2.2"}}, RankAnswer)
		if c.Bytes() > max {
			t.Fatalf("after %d puts: %d bytes over the bound %d", i+1, c.Bytes(), max)
		}
		if _, st := get(t, c, hot); st != Hit {
			t.Fatalf("after %d puts: a name hit all along was evicted", i+1)
		}
	}
	if c.Len() >= 3000 || c.Len() < 100 {
		t.Fatalf("len %d", c.Len())
	}
	var sum int64
	for i := range c.shards {
		sh := &c.shards[i]
		n := 0
		if e := sh.head; e != nil {
			for n = 1; e.next != sh.head; e = e.next {
				n++
			}
		}
		chained := 0
		for j := range sh.buckets {
			for e := sh.buckets[j].Load(); e != nil; e = e.chain.Load() {
				chained++
			}
		}
		if n != sh.n || chained != sh.n {
			t.Fatalf("shard %d: ring of %d, chains of %d, count %d", i, n, chained, sh.n)
		}
		sum += sh.bytes
	}
	if sum != c.Bytes() {
		t.Fatalf("bytes %d != %d", sum, c.Bytes())
	}
	if err := c.Put(upstream{qname: "big.test.", qtype: dns.TypeTXT, answer: func() (l []string) {
		for i := range 200 {
			l = append(l, fmt.Sprintf(`big.test. 300 IN TXT "%0100d"`, i))
		}
		return l
	}()}.pack(t), RankAnswer); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized response: %v", err)
	}
	c.Flush()
	if c.Len() != 0 || c.Bytes() != 0 {
		t.Fatalf("after flush: len %d bytes %d", c.Len(), c.Bytes())
	}
}

// TestFloodKeepsPopularNames fills a cache the way a random-subdomain flood does: every name is
// stored once and rendered once for the query that resolved it, while a few names are asked again
// and again. The popular names must survive the first sweep of a full shard and every later one.
func TestFloodKeepsPopularNames(t *testing.T) {
	const max = 64 << 10
	c := newCache(Config{MaxBytes: max, Shards: 4}, newClock())
	var popular []ask
	for i := range 20 {
		name := fmt.Sprintf("p%d.test.", i)
		put(t, c, upstream{qname: name, qtype: dns.TypeA, answer: []string{name + " 300 IN A 192.0.2.1"}}, RankAnswer)
		a := ask{name: name, qtype: dns.TypeA}
		if _, st := get(t, c, a); st != Hit {
			t.Fatalf("%s: %s right after the put", name, st)
		}
		popular = append(popular, a)
	}
	evicted := 0
	for i := range 5000 {
		name := fmt.Sprintf("c%d.flood.test.", i)
		put(t, c, upstream{qname: name, qtype: dns.TypeA, answer: []string{name + " 300 IN A 192.0.2.2"}}, RankAnswer)
		if _, st := c.GetStored(request(t, ask{name: name, qtype: dns.TypeA}), make([]byte, 0, 1232)); st != Hit {
			t.Fatalf("%s: %s right after the put", name, st)
		}
		if i%50 != 49 {
			continue
		}
		// Each popular name is asked once every 50 new names, about a quarter of a shard's ring.
		for _, a := range popular {
			if _, st := get(t, c, a); st != Hit {
				evicted++
				t.Errorf("after %d flood names: %s was evicted", i+1, a.name)
				put(t, c, upstream{qname: a.name, qtype: dns.TypeA, answer: []string{a.name + " 300 IN A 192.0.2.1"}}, RankAnswer)
			}
		}
		if evicted > 5 {
			t.FailNow()
		}
	}
	if c.Len() > 1000 {
		t.Fatalf("%d entries: the flood's names were not evicted", c.Len())
	}
}

func TestConcurrent(t *testing.T) {
	clk := newClock()
	c := newCache(Config{MaxBytes: 32 << 10, Shards: 2}, clk)
	msgs := make([][]byte, 50)
	for i := range msgs {
		name := fmt.Sprintf("n%d.test.", i)
		msgs[i] = upstream{qname: name, qtype: dns.TypeA, answer: []string{name + " 30 IN A 192.0.2.2"}}.pack(t)
	}
	reqs := make([]*query.Request, len(msgs))
	for i := range reqs {
		reqs[i] = request(t, ask{name: fmt.Sprintf("N%d.test.", i), qtype: dns.TypeA, edns: true})
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]byte, 0, 1232)
			for i := range 2000 {
				j := (i*7 + g) % len(msgs)
				switch {
				case g == 0 && i%100 == 0:
					c.Flush()
				case g == 1:
					clk.Add(10 * time.Millisecond)
					if err := c.Put(msgs[j], Rank(1+i%4)); err != nil {
						t.Error(err)
						return
					}
				case g%2 == 0:
					if err := c.Put(msgs[j], RankAnswer); err != nil {
						t.Error(err)
						return
					}
				default:
					var st Status
					out, st = c.GetStale(reqs[j], out[:0])
					if st.Found() && binary.BigEndian.Uint16(out) != 4242 {
						t.Error("wrong ID")
						return
					}
					_ = c.Len()
				}
			}
		}()
	}
	wg.Wait()
}

func TestMalformed(t *testing.T) {
	// a.test. A with an answer and an NS record in the authority, compressed by hand so that the
	// offsets below are plain to see.
	good := []byte{
		0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 1, 0, 0, // header
		1, 'a', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1, // question at 12
		0xC0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1, // answer at 24, rdlength at 34
		0xC0, 14, 0, 2, 0, 1, 0, 0, 1, 44, 0, 2, 0xC0, 12, // authority at 40
	}
	edit := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	tests := []struct {
		name string
		msg  []byte
		want string
	}{
		{"empty", nil, "shorter than the header"},
		{"short header", good[:11], "shorter than the header"},
		{"query", edit(func(b []byte) []byte { b[2] &^= 0x80; return b }), "not a response"},
		{"opcode", edit(func(b []byte) []byte { b[2] |= 5 << 3; return b }), "opcode 5"},
		{"two questions", edit(func(b []byte) []byte { b[5] = 2; return b }), "2 questions"},
		{"no question", edit(func(b []byte) []byte { b[5] = 0; return b }), "0 questions"},
		{"question cut", good[:20], "offset 20"},
		{"pointer in question", edit(func(b []byte) []byte { b[12] = 0xC0; return b }), "offset 12: compression pointer in the question"},
		{"label type", edit(func(b []byte) []byte { b[12] = 0x41; return b }), "offset 12: label type"},
		{"forward pointer", edit(func(b []byte) []byte { b[24], b[25] = 0xC0, 30; return b }), "offset 24: compression pointer to 30 does not point backwards"},
		{"record cut", edit(func(b []byte) []byte { b[9] = 0; return b[:35] }), "offset 26: record 1 header cut short"},
		{"rdata past end", edit(func(b []byte) []byte { b[35] = 40; return b }), "offset 34: record 1 rdata of 40 bytes runs past the end"},
		{"missing record", edit(func(b []byte) []byte { b[11] = 1; return append(b, 0, 0, 0) }), "offset 55: record 3 header cut short"},
		{"counts too large", edit(func(b []byte) []byte { b[6] = 0xFF; return b }), "offset 6: counts claim 65282 records, at most 2 fit"},
		{"trailing bytes", append(slices.Clone(good), 1, 2, 3), "3 bytes after the last record"},
		{"short A", edit(func(b []byte) []byte { b[35] = 3; return append(b[:39], b[40:]...) }), "A rdata of 3 bytes"},
		{"rcode servfail", edit(func(b []byte) []byte { b[3] |= 2; return b }), "rcode 2"},
		{"truncated", edit(func(b []byte) []byte { b[2] |= 2; return b }), "TC=1"},
		{"nodata without soa", upstream{qname: "a.test.", qtype: dns.TypeA, ns: []string{"test. 300 IN NS a.test."}}.pack(t), "no SOA"},
		{"meta type", upstream{qname: "a.test.", qtype: dns.TypeANY, answer: []string{"a.test. 300 IN A 192.0.2.1"}}.pack(t), "meta query type 255"},
	}
	c := newCache(Config{}, newClock())
	for _, tt := range tests {
		err := c.Put(tt.msg, RankAnswer)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	if c.Len() != 0 {
		t.Fatalf("malformed input stored")
	}
	if err := c.Put(good, RankAnswer); err != nil {
		t.Fatalf("good message: %v", err)
	}
	if err := c.Put(upstream{qname: "a.test.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure}.pack(t), RankAnswer); !errors.Is(err, ErrUncacheable) {
		t.Fatalf("servfail: %v", err)
	}
}

func TestGetAllocs(t *testing.T) {
	c := newCache(Config{}, newClock())
	put(t, c, upstream{qname: "www.example.test.", qtype: dns.TypeA,
		answer: []string{"www.example.test. 300 IN A 192.0.2.1"},
		ns:     []string{"example.test. 300 IN NS ns1.example.test."},
		extra:  []string{"ns1.example.test. 300 IN A 192.0.2.53"}}, RankAnswer)
	req := request(t, ask{name: "WWW.example.test.", qtype: dns.TypeA, edns: true})
	out := make([]byte, 0, 1232)
	allocs := testing.AllocsPerRun(1000, func() {
		var st Status
		out, st = c.Get(req, out[:0])
		if st != Hit {
			t.Fatalf("status %s", st)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per hit", allocs)
	}
}

// An entry stays in the 192-byte allocation class: BenchmarkMemoryPerAnswer counts on it, and a
// field added without taking one out would cost every entry 16 bytes more.
func TestEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n > 192 {
		t.Fatalf("entry is %d bytes, over its 192-byte allocation class", n)
	}
}

func benchCache(b *testing.B) (*Cache, *query.Request) {
	c := New(Config{})
	put(b, c, upstream{qname: "www.example.test.", qtype: dns.TypeA,
		answer: []string{"www.example.test. 300 IN A 192.0.2.1", "www.example.test. 300 IN A 192.0.2.2"},
		ns:     []string{"example.test. 300 IN NS ns1.example.test.", "example.test. 300 IN NS ns2.example.test."},
		extra:  []string{"ns1.example.test. 300 IN A 192.0.2.53"}}, RankAnswer)
	return c, request(b, ask{name: "www.Example.test.", qtype: dns.TypeA, edns: true})
}

func BenchmarkGetHit(b *testing.B) {
	c, req := benchCache(b)
	out := make([]byte, 0, 1232)
	b.ReportAllocs()
	for b.Loop() {
		var st Status
		if out, st = c.Get(req, out[:0]); st != Hit {
			b.Fatalf("status %s", st)
		}
	}
}

// BenchmarkGetHitStamped is BenchmarkGetHit for a request stamped by its listener, as the UDP
// worker stamps a batch of up to 32 datagrams with one reading of the clock.
func BenchmarkGetHitStamped(b *testing.B) {
	c, req := benchCache(b)
	out := make([]byte, 0, 1232)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%32 == 0 {
			req.Received = time.Now()
		}
		var st Status
		if out, st = c.Get(req, out[:0]); st != Hit {
			b.Fatalf("status %s", st)
		}
	}
}

func BenchmarkGetHitParallel(b *testing.B) {
	c, req := benchCache(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		out := make([]byte, 0, 1232)
		for pb.Next() {
			var st Status
			if out, st = c.Get(req, out[:0]); st != Hit {
				b.Errorf("status %s", st)
				return
			}
		}
	})
}

func BenchmarkPut(b *testing.B) {
	c := New(Config{})
	msg := upstream{qname: "www.example.test.", qtype: dns.TypeA,
		answer: []string{"www.example.test. 300 IN A 192.0.2.1"},
		ns:     []string{"example.test. 300 IN NS ns1.example.test."}}.pack(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Put(msg, RankAnswer); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLargeResponse checks a response whose records lie beyond the reach of compression pointers
// (16 KiB): names there must be written out, and the whole must still parse over TCP.
func TestLargeResponse(t *testing.T) {
	var ns, glue []string
	for i := range 600 {
		ns = append(ns, fmt.Sprintf("big.test. 300 IN NS ns%03d.a-rather-long-server-name.example.test.", i))
		glue = append(glue, fmt.Sprintf("ns%03d.a-rather-long-server-name.example.test. 300 IN A 192.0.2.%d", i, i%250))
	}
	u := upstream{qname: "big.test.", qtype: dns.TypeNS, answer: ns, extra: glue}
	c := newCache(Config{MaxBytes: 16 << 20, Shards: 1}, newClock())
	put(t, c, u, RankAnswer)
	m, st := get(t, c, ask{name: "big.test.", qtype: dns.TypeNS, tcp: true})
	if st != Hit {
		t.Fatalf("status %s", st)
	}
	if got, want := section(m.Answer), norm(t, ns); !slices.Equal(got, want) {
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("answer %d: got %q want %q", i, got[i], want[i])
			}
		}
	}
	if got, want := section(m.Extra), norm(t, glue); !slices.Equal(got, want) {
		t.Fatalf("additional differs: %d records", len(got))
	}
	if len(m.Data) < 0x3FFF {
		t.Fatalf("response of %d bytes does not reach past the pointer range", len(m.Data))
	}
}

// BenchmarkMemoryPerAnswer reports the live heap one cached answer (a single A record, as
// bench/resolver.sh caches) costs, after a garbage collection: the figure to set beside a peer's
// memory per cached RRset, without the collector's slack that a process's RSS also holds.
func BenchmarkMemoryPerAnswer(b *testing.B) {
	const n = 100_000
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = upstream{qname: fmt.Sprintf("h%d.bench.test.", i), qtype: dns.TypeA,
			answer: []string{fmt.Sprintf("h%d.bench.test. 3600 IN A 198.18.0.1", i)}}.pack(b)
	}
	for b.Loop() {
		// The hash buckets are sized from MaxBytes when the cache is made, before any answer.
		c := New(Config{MaxBytes: 1 << 30})
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, m := range msgs {
			if err := c.Put(m, RankAnswer); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "bytes/answer")
		runtime.KeepAlive(c)
	}
}
