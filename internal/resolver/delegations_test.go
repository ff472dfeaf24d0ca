package resolver

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

func TestDelegationsClosestAndExpiry(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	d := NewDelegations(DelegationsConfig{Now: func() time.Time { return now }, MaxTTL: time.Hour})
	ns := []NameServer{{Name: "ns.example.", Addrs: []netip.Addr{netip.MustParseAddr("127.0.2.1")}}}
	d.Store("example.", ns, 300*time.Second)
	d.Store("shop.example.", []NameServer{{Name: "ns.shop.example."}}, 2*time.Hour) // capped at MaxTTL

	for _, c := range []struct{ name, zone string }{
		{"www.shop.example.", "shop.example."},
		{"shop.example.", "shop.example."},
		{"other.example.", "example."},
		{"example.", "example."},
		{"org.", ""},
	} {
		zone, _, ok := d.Closest(c.name)
		if zone != c.zone || ok != (c.zone != "") {
			t.Errorf("Closest(%s) = %q, %v; want %q", c.name, zone, ok, c.zone)
		}
	}
	// The caller's copy is its own.
	_, got, _ := d.Closest("example.")
	got[0].Addrs[0] = netip.MustParseAddr("127.9.9.9")
	if _, again, _ := d.Closest("example."); again[0].Addrs[0] != ns[0].Addrs[0] {
		t.Fatal("Closest handed out the stored servers")
	}

	now = now.Add(301 * time.Second)
	if zone, _, _ := d.Closest("other.example."); zone != "" {
		t.Fatalf("expired example. still found as %q", zone)
	}
	if zone, _, _ := d.Closest("www.shop.example."); zone != "shop.example." {
		t.Fatalf("shop.example. (kept an hour) gone: %q", zone)
	}
	now = now.Add(time.Hour)
	if zone, _, _ := d.Closest("www.shop.example."); zone != "" {
		t.Fatal("the TTL ceiling was not applied")
	}
}

func TestDelegationsRootNeverStoredAndBounded(t *testing.T) {
	d := NewDelegations(DelegationsConfig{MaxEntries: 16})
	d.Store(".", rootHint(), time.Hour)
	if _, _, ok := d.Closest("www.example."); ok {
		t.Fatal("the root was stored: its servers must come from the hints")
	}
	for i := range 1000 {
		d.Store(strings.Repeat("a", i%50+1)+".z"+string(rune('a'+i%26))+".", rootHint(), time.Hour)
		if d.Len() > 16 {
			t.Fatalf("%d entries after %d stores; the bound is 16", d.Len(), i+1)
		}
	}
}

func TestDelegationsAddAddressesAndForget(t *testing.T) {
	d := NewDelegations(DelegationsConfig{})
	d.Store("example.", []NameServer{{Name: "ns.other."}}, time.Hour)
	d.AddAddresses("example.", NameServer{Name: "ns.other.", Addrs: []netip.Addr{netip.MustParseAddr("127.0.3.1")}})
	_, s, _ := d.Closest("www.example.")
	if len(s) != 1 || len(s[0].Addrs) != 1 {
		t.Fatalf("address not recorded: %+v", s)
	}
	d.Forget("example.")
	if _, _, ok := d.Closest("www.example."); ok {
		t.Fatal("Forget left the zone")
	}
}

// tinyInternet is a root delegating example. to 127.0.2.1, which answers every name with an A
// record; it records which server each query went to.
type tinyInternet struct {
	mu    sync.Mutex
	asked []string
	// lameTLD makes 127.0.2.1 answer REFUSED; newTLD moves example. to 127.0.2.2 at the root.
	lameTLD, newTLD bool
}

func (n *tinyInternet) Exchange(_ context.Context, q Question, _ string, server netip.Addr) (*dns.Msg, error) {
	n.mu.Lock()
	n.asked = append(n.asked, server.String()+" "+q.Name)
	lame, moved := n.lameTLD, n.newTLD
	n.mu.Unlock()
	m := new(dns.Msg)
	m.Response = true
	tld := "127.0.2.1"
	if moved {
		tld = "127.0.2.2"
	}
	switch {
	case server.String() == "127.0.1.1":
		ns, _ := dns.New("example. 600 IN NS ns.example.")
		glue, _ := dns.New("ns.example. 300 IN A " + tld)
		m.Ns, m.Extra = []dns.RR{ns}, []dns.RR{glue}
	case lame && server.String() == "127.0.2.1":
		m.Rcode = dns.RcodeRefused
	default:
		m.Authoritative = true
		if labels(q.Name) > 2 || strings.HasPrefix(q.Name, "w") {
			rr, _ := dns.New(q.Name + " 300 IN A 192.0.2.1")
			m.Answer = []dns.RR{rr}
		} else {
			soa, _ := dns.New("example. 300 IN SOA ns.example. h.example. 1 2 3 4 5")
			m.Ns = []dns.RR{soa}
		}
	}
	return m, nil
}

func (n *tinyInternet) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.asked
	n.asked = nil
	return a
}

// A second name in a zone already delegated goes straight to the zone's server; the root is asked
// again only after the delegation's TTL (the glue's 300 s, lower than the NS's 600 s).
func TestDelegationReusedUntilExpiry(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	net := &tinyInternet{}
	rv := NewResolver(Config{Exchanger: net, Hints: rootHint(), Limits: DefaultLimits,
		Delegations: NewDelegations(DelegationsConfig{Now: func() time.Time { return now }})})
	if res := rv.Resolve(context.Background(), Question{"www.example.", dns.TypeA}); res.Rcode != dns.RcodeSuccess {
		t.Fatalf("first: %+v", res)
	}
	if a := net.take(); len(a) != 2 || a[0] != "127.0.1.1 example." {
		t.Fatalf("first question asked %q", a)
	}
	if res := rv.Resolve(context.Background(), Question{"web.example.", dns.TypeA}); res.Rcode != dns.RcodeSuccess {
		t.Fatalf("second: %+v", res)
	}
	if a := net.take(); len(a) != 1 || a[0] != "127.0.2.1 web.example." {
		t.Fatalf("second question asked %q; want the TLD server only", a)
	}
	now = now.Add(301 * time.Second)
	rv.Resolve(context.Background(), Question{"wiki.example.", dns.TypeA})
	if a := net.take(); len(a) != 2 || a[0] != "127.0.1.1 example." {
		t.Fatalf("after expiry asked %q; want the root again", a)
	}
}

// When every server of a remembered delegation fails (the zone moved), the root is asked again,
// the new servers answer, and they replace the old ones.
func TestStaleDelegationForgotten(t *testing.T) {
	net := &tinyInternet{}
	rv := NewResolver(Config{Exchanger: net, Hints: rootHint(), Limits: DefaultLimits, Delegations: NewDelegations(DelegationsConfig{})})
	rv.Resolve(context.Background(), Question{"www.example.", dns.TypeA})
	net.take()
	net.mu.Lock()
	net.lameTLD, net.newTLD = true, true
	net.mu.Unlock()
	if res := rv.Resolve(context.Background(), Question{"web.example.", dns.TypeA}); res.Rcode != dns.RcodeSuccess || len(res.Answer) != 1 {
		t.Fatalf("after the move: %+v", res)
	}
	want := []string{"127.0.2.1 web.example.", "127.0.1.1 example.", "127.0.2.2 web.example."}
	if a := net.take(); strings.Join(a, ",") != strings.Join(want, ",") {
		t.Fatalf("asked %q, want %q", a, want)
	}
	rv.Resolve(context.Background(), Question{"wiki.example.", dns.TypeA})
	if a := net.take(); len(a) != 1 || a[0] != "127.0.2.2 wiki.example." {
		t.Fatalf("the new delegation was not kept: asked %q", a)
	}
}

// A DS question starts at the parent of the name, even when the name's own cut is remembered.
func TestDSStartsAtParent(t *testing.T) {
	d := NewDelegations(DelegationsConfig{})
	d.Store("example.", []NameServer{{Name: "ns.example.", Addrs: []netip.Addr{netip.MustParseAddr("127.0.2.1")}}}, time.Hour)
	r := newResolution(Question{"example.", dns.TypeDS}, rootHint(), DefaultLimits, d)
	if s := r.Next(); s.Zone != "." {
		t.Fatalf("DS example. asked of zone %s, want the root", s.Zone)
	}
	r = newResolution(Question{"www.example.", dns.TypeA}, rootHint(), DefaultLimits, d)
	if s := r.Next(); s.Zone != "example." {
		t.Fatalf("www.example. asked of zone %s, want example.", s.Zone)
	}
}

type lameLog struct{ got []netip.Addr }

func (l *lameLog) Lame(a netip.Addr) { l.got = append(l.got, a) }

// A server that answers REFUSED is reported lame, so the Exchanger can ask it last next time.
func TestLameServerReported(t *testing.T) {
	net := &tinyInternet{lameTLD: true}
	r := New(Question{"www.example.", dns.TypeA}, rootHint(), DefaultLimits)
	log := &lameLog{}
	r.lame = log
	for s := r.Next(); !s.Done; s = r.Next() {
		r.Feed(net.Exchange(context.Background(), s.Query, s.Zone, s.Server))
	}
	if len(log.got) != 1 || log.got[0] != netip.MustParseAddr("127.0.2.1") {
		t.Fatalf("lame reports %v", log.got)
	}
}

// blocking holds every query until released, to keep queries in flight.
type blocking struct {
	tinyInternet
	release chan struct{}
	started chan struct{}
}

func (b *blocking) Exchange(ctx context.Context, q Question, zone string, server netip.Addr) (*dns.Msg, error) {
	b.started <- struct{}{}
	<-b.release
	return b.tinyInternet.Exchange(ctx, q, zone, server)
}

// Past MaxZoneQueries in flight to one zone, further questions fail at once instead of queueing
// behind the zone's servers.
func TestZoneQueriesBounded(t *testing.T) {
	b := &blocking{release: make(chan struct{}), started: make(chan struct{}, 10)}
	rv := NewResolver(Config{Exchanger: b, Hints: rootHint(), Limits: DefaultLimits, MaxZoneQueries: 2})
	results := make(chan Result, 2)
	for range 2 {
		go func() { results <- rv.Resolve(context.Background(), Question{"www.example.", dns.TypeA}) }()
	}
	<-b.started
	<-b.started // two queries to the root in flight
	if res := rv.Resolve(context.Background(), Question{"web.example.", dns.TypeA}); res.Rcode != dns.RcodeServerFailure {
		t.Fatalf("a third question got %+v, want SERVFAIL", res)
	}
	if rv.ZoneLimited() != 1 {
		t.Fatalf("ZoneLimited = %d, want 1", rv.ZoneLimited())
	}
	close(b.release)
	for range 2 {
		if res := <-results; res.Rcode != dns.RcodeSuccess {
			t.Fatalf("a question within the bound failed: %+v", res)
		}
	}
}

// Saturated foresees the refusal: while a zone's slots are taken, a question that would start
// there is reported (and counted), one for another zone is not, and once the queries end the
// zone is free again.
func TestSaturatedForeseesZoneLimit(t *testing.T) {
	b := &blocking{release: make(chan struct{}), started: make(chan struct{}, 10)}
	d := NewDelegations(DelegationsConfig{})
	d.Store("example.", []NameServer{{Name: "ns.example.", Addrs: []netip.Addr{netip.MustParseAddr("127.0.2.1")}}}, time.Hour)
	rv := NewResolver(Config{Exchanger: b, Hints: rootHint(), Limits: DefaultLimits, Delegations: d, MaxZoneQueries: 1})
	if rv.Saturated("www.example.") {
		t.Fatal("a zone with no query in flight is reported saturated")
	}
	done := make(chan Result, 1)
	go func() { done <- rv.Resolve(context.Background(), Question{"www.example.", dns.TypeA}) }()
	<-b.started // the one query to example.'s server is in flight
	if !rv.Saturated("other.www.example.") {
		t.Fatal("a question under example. is not reported while example. has no slot left")
	}
	if !rv.SaturatedAt("EXAMPLE.") {
		t.Fatal("SaturatedAt(EXAMPLE.) is false while example. has no slot left")
	}
	if rv.Saturated("www.test.") {
		t.Fatal("a question that starts at the root is reported saturated")
	}
	if rv.ZoneLimited() != 2 {
		t.Fatalf("ZoneLimited = %d, want 2", rv.ZoneLimited())
	}
	close(b.release)
	if res := <-done; res.Rcode != dns.RcodeSuccess {
		t.Fatalf("the question in flight failed: %+v", res)
	}
	if rv.Saturated("www.example.") {
		t.Fatal("the zone is still reported saturated after its query ended")
	}
}
