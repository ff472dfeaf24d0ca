package pipeline

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"warden/internal/cookie"
	"warden/internal/dnstest"
	"warden/internal/query"
	"warden/internal/rrl"
	"warden/internal/server"
	"warden/internal/wire"
)

var testSecret = func() *cookie.Keyring {
	s, err := cookie.ParseSecret("e5e973e5a6b2a43f48e7dc849e37bfcf")
	if err != nil {
		panic(err)
	}
	return cookie.NewKeyring(s)
}()

// cookieQuery is a query for name A with EDNS and, when opt is not nil, a COOKIE option of
// those bytes.
func cookieQuery(t testing.TB, name string, opt []byte) []byte {
	t.Helper()
	w := dnstest.NewWire(0x4242, 0)
	if err := w.Question(name, 1, 1); err != nil {
		t.Fatal(err)
	}
	var options []byte
	if opt != nil {
		options = append([]byte{0, 10, 0, byte(len(opt))}, opt...)
	}
	w.OPT(1232, 0, 0, false, options)
	return w.Bytes()
}

// responseCookie returns the COOKIE option's data in msg's OPT record, nil without one.
func responseCookie(t testing.TB, msg []byte) []byte {
	t.Helper()
	opt, ok := lastOPT(msg)
	if !ok {
		return nil
	}
	rdata := msg[opt+optRRLen:]
	for len(rdata) >= 4 {
		n := int(binary.BigEndian.Uint16(rdata[2:]))
		if binary.BigEndian.Uint16(rdata) == optionCookie {
			return rdata[4 : 4+n]
		}
		rdata = rdata[4+n:]
	}
	return nil
}

func withGuards(p *Pipeline, secret *cookie.Keyring, lim *rrl.Limiter) *Pipeline {
	p.Update(func(s *Snapshot) { s.Cookies, s.RateLimit = secret, lim })
	return p
}

func serveFrom(p *Pipeline, from string, raw []byte, tr query.Transport) []byte {
	req := &query.Request{Wire: raw, Transport: tr, Client: netip.AddrPortFrom(netip.MustParseAddr(from), 5353)}
	return p.ServeDNS(req, make([]byte, 0, 65535))
}

func TestCookies(t *testing.T) {
	p := withGuards(testPipeline(t, ""), testSecret, nil)
	client := []byte("\x01\x02\x03\x04\x05\x06\x07\x08")
	addr := netip.MustParseAddr("127.0.0.9")
	now := uint32(time.Now().Unix())

	// A client cookie alone: the answer, with the client's cookie and a fresh server cookie.
	res := serveFrom(p, "127.0.0.9", cookieQuery(t, "www.example.test.", client), query.UDP)
	c := responseCookie(t, res)
	if len(c) != 24 || !bytes.Equal(c[:8], client) {
		t.Fatalf("cookie option %x", c)
	}
	if res[3]&0xF != 0 || binary.BigEndian.Uint16(res[6:]) != 1 {
		t.Fatalf("not the answer: %x", res[:12])
	}
	if v, _ := testSecret.Check(client, c[8:], addr, now); !v {
		t.Fatal("the server cookie sent does not validate")
	}
	// Sent back: valid and young, so the same cookie returns.
	server := append([]byte(nil), c[8:]...)
	res = serveFrom(p, "127.0.0.9", cookieQuery(t, "www.example.test.", c), query.UDP)
	if got := responseCookie(t, res); !bytes.Equal(got[8:], server) {
		t.Fatalf("valid cookie not echoed: %x", got)
	}
	// From another address, or changed: answered (BIND's default), with a fresh cookie.
	for _, from := range []string{"127.0.0.10", "127.0.0.9"} {
		wrong := append([]byte(nil), c...)
		if from == "127.0.0.9" {
			wrong[23] ^= 0xFF
		}
		res = serveFrom(p, from, cookieQuery(t, "www.example.test.", wrong), query.UDP)
		got := responseCookie(t, res)
		if res[3]&0xF != 0 || len(got) != 24 || bytes.Equal(got[8:], wrong[8:]) {
			t.Fatalf("wrong cookie from %s: rcode %d cookie %x", from, res[3]&0xF, got)
		}
	}
	// Malformed: FORMERR, the OPT record echoed without a cookie.
	for _, n := range []int{5, 12, 41} {
		res = serveFrom(p, "127.0.0.9", cookieQuery(t, "www.example.test.", make([]byte, n)), query.UDP)
		if res[3]&0xF != rcodeFormErr || responseCookie(t, res) != nil || binary.BigEndian.Uint16(res[10:]) != 1 {
			t.Fatalf("cookie of %d bytes: %x", n, res)
		}
	}
	// Errors and NXDOMAIN carry the cookie too, over TCP as well.
	for _, q := range []struct {
		name string
		tr   query.Transport
	}{{"nothere.example.test.", query.UDP}, {"example.org.", query.UDP}, {"www.example.test.", query.TCP}} {
		res = serveFrom(p, "127.0.0.9", cookieQuery(t, q.name, client), q.tr)
		if c := responseCookie(t, res); len(c) != 24 {
			t.Errorf("%s over %s: cookie %x", q.name, q.tr, c)
		}
	}
	// Without EDNS there is no OPT record to carry one; with cookies off the option is ignored.
	p.Update(func(s *Snapshot) { s.Cookies = nil })
	res = serveFrom(p, "127.0.0.9", cookieQuery(t, "www.example.test.", make([]byte, 5)), query.UDP)
	if res[3]&0xF != 0 || responseCookie(t, res) != nil {
		t.Fatalf("cookies off: %x", res)
	}
}

// A response that fills the client's size limit still has room for the server cookie.
func TestCookieRoomInTruncation(t *testing.T) {
	var extra string
	for i := range 60 {
		extra += "big TXT \"" + string(rune('a'+i%26)) + "0123456789012345678901234567890123456789\"\n"
	}
	p := withGuards(testPipeline(t, extra), testSecret, nil)
	w := dnstest.NewWire(1, 0)
	_ = w.Question("big.example.test.", 16, 1)
	w.OPT(1232, 0, 0, false, []byte{0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8})
	res := serveFrom(p, "127.0.0.9", w.Bytes(), query.UDP)
	if len(res) > 1232 || len(responseCookie(t, res)) != 24 {
		t.Fatalf("%d bytes, cookie %x", len(res), responseCookie(t, res))
	}
}

func TestRateLimitPipeline(t *testing.T) {
	lim := rrl.New(rrl.Config{Rate: 5, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
	p := withGuards(testPipeline(t, ""), testSecret, lim)
	count := func(from, name string, tr query.Transport, opt []byte, n int) (ok, tc, none int) {
		raw := cookieQuery(t, name, opt)
		for range n {
			res := serveFrom(p, from, raw, tr)
			switch {
			case res == nil:
				none++
			case res[2]&(query.FlagTC>>8) != 0:
				tc++
				if binary.BigEndian.Uint16(res[6:])+binary.BigEndian.Uint16(res[8:]) != 0 {
					t.Fatalf("slipped response with records: %x", res)
				}
			default:
				ok++
			}
		}
		return
	}
	if ok, tc, none := count("127.0.0.2", "www.example.test.", query.UDP, nil, 50); ok != 5 || tc+none != 45 || tc < 22 || tc > 23 {
		t.Errorf("flood: %d answered, %d TC, %d dropped", ok, tc, none)
	}
	// Another client, and over TCP, unaffected.
	if ok, _, _ := count("127.0.1.2", "www.example.test.", query.UDP, nil, 5); ok != 5 {
		t.Errorf("another client: %d answered of 5", ok)
	}
	if ok, _, _ := count("127.0.0.2", "www.example.test.", query.TCP, nil, 20); ok != 20 {
		t.Errorf("TCP: %d answered of 20", ok)
	}
	// NXDOMAINs for different names in one zone share a key; a valid server cookie exempts.
	ok, _, _ := count("127.0.2.2", "a.example.test.", query.UDP, nil, 3)
	ok2, _, _ := count("127.0.2.2", "b.example.test.", query.UDP, nil, 3)
	if ok+ok2 != 5 {
		t.Errorf("NXDOMAIN for two names: %d answered, want the rate, 5", ok+ok2)
	}
	client := []byte("abcdefgh")
	res := serveFrom(p, "127.0.0.2", cookieQuery(t, "www.example.test.", client), query.TCP)
	if ok, _, _ := count("127.0.0.2", "www.example.test.", query.UDP, responseCookie(t, res), 30); ok != 30 {
		t.Errorf("valid cookie: %d answered of 30", ok)
	}
	if c := lim.Stats(); c.Dropped == 0 || c.Slipped == 0 {
		t.Errorf("counters %+v", c)
	}
}

// fakeDeferrer stands for a listener whose answers come later.
type fakeDeferrer struct{ replies *[][]byte }

func (d fakeDeferrer) Defer(*query.Request) query.Replier { return fakeReplier(d) }

type fakeReplier struct{ replies *[][]byte }

func (r fakeReplier) Reply(_ *query.Request, msg []byte) {
	*r.replies = append(*r.replies, append([]byte(nil), msg...))
}

// An answer given later (resolved) is limited and gets its cookie as one given at once.
func TestGuardDeferred(t *testing.T) {
	lim := rrl.New(rrl.Config{Rate: 2, Slip: 0, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
	p := withGuards(testPipeline(t, ""), testSecret, lim)
	var replies [][]byte
	g := &laterGuard{p: p, snap: p.Snapshot(), inner: fakeDeferrer{&replies}}
	raw := cookieQuery(t, "www.example.test.", []byte("abcdefgh"))
	for range 5 {
		req := &query.Request{Wire: raw, Transport: query.UDP, Client: netip.MustParseAddrPort("127.0.0.7:53")}
		req.Parse()
		r := g.Defer(req)
		r.Reply(req, p.limits.Render(make([]byte, 0, 4096), req, mustLookup(t, p, req)))
	}
	if len(replies) != 2 {
		t.Fatalf("%d of 5 deferred answers sent at rate 2", len(replies))
	}
	if c := responseCookie(t, replies[0]); len(c) != 24 {
		t.Fatalf("deferred answer without a cookie: %x", c)
	}
}

func mustLookup(t *testing.T, p *Pipeline, req *query.Request) *wire.Template {
	t.Helper()
	tm, _ := p.Snapshot().Authority.Lookup(req)
	if tm == nil {
		t.Fatal("no template")
	}
	return tm
}

func TestRateKey(t *testing.T) {
	p := testPipeline(t, "sub NS ns.sub\nns.sub A 192.0.2.9\n")
	for _, c := range []struct {
		name  string
		class rrl.Class
		key   string
	}{
		{"WWW.example.test.", rrl.Answer, "\x03www\x07example\x04test\x00"},
		{"nothere.example.test.", rrl.NXDomain, "\x07example\x04test\x00"},
		{"x.sub.example.test.", rrl.Referral, "\x03sub\x07example\x04test\x00"},
		{"example.org.", rrl.Error, ""},
	} {
		res := serveFrom(p, "127.0.0.1", cookieQuery(t, c.name, nil), query.UDP)
		var names [2][query.MaxNameLen]byte
		k, ok := rateKey(res, netip.MustParseAddr("127.0.0.1"), &names)
		if !ok || k.Class != c.class || string(k.Name) != c.key {
			t.Errorf("%s: class %v name %q, want %v %q", c.name, k.Class, k.Name, c.class, c.key)
		}
	}
}

func BenchmarkPipelineHitCookie(b *testing.B) {
	p := withGuards(testPipeline(b, ""), testSecret, nil)
	benchGuarded(b, p, 1)
}

// BenchmarkPipelineHitCookiesOn is BenchmarkPipelineHit with cookies on (the default) and a query
// without a cookie, as most load generators send: the cost of the guard alone.
func BenchmarkPipelineHitCookiesOn(b *testing.B) {
	p := withGuards(testPipeline(b, ""), testSecret, nil)
	benchPipelineOn(b, p, "www.example.test.")
}

// BenchmarkPipelineHitRRL spreads the queries over 4096 clients so that none reaches the rate.
func BenchmarkPipelineHitRRL(b *testing.B) {
	lim := rrl.New(rrl.Config{Rate: rrl.MaxRate, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
	p := withGuards(testPipeline(b, ""), testSecret, lim)
	benchGuarded(b, p, 4096)
}

func benchGuarded(b *testing.B, p *Pipeline, clients int) {
	client := []byte("abcdefgh")
	first := serveFrom(p, "10.0.0.1", cookieQuery(b, "www.example.test.", client), query.TCP)
	raw := cookieQuery(b, "www.example.test.", client)
	if clients == 1 {
		// A valid server cookie, the common case of a client that has talked to the server.
		raw = cookieQuery(b, "www.example.test.", responseCookie(b, first))
	}
	addrs := make([]netip.AddrPort, clients)
	for i := range addrs {
		addrs[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), 5353)
	}
	req := &query.Request{Wire: raw, Transport: query.UDP}
	out := make([]byte, 0, 65535)
	var h server.Handler = p
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req.Client = addrs[i%clients]
		i++
		if h.ServeDNS(req, out) == nil {
			b.Fatal("no answer")
		}
	}
}

// cookieOnlyQuery is a query without a question whose OPT record holds a COOKIE option of opt
// (none when nil), as `dig +header-only +cookie` sends it; flags are the header's.
func cookieOnlyQuery(opt []byte, flags uint16) []byte {
	w := dnstest.NewWire(0x4343, flags)
	var options []byte
	if opt != nil {
		options = append([]byte{0, 10, 0, byte(len(opt))}, opt...)
	}
	w.OPT(1232, 0, 0, false, options)
	return w.Bytes()
}

// rcodeOf is the whole rcode of msg: the header's four bits and the OPT record's upper eight.
func rcodeOf(t testing.TB, msg []byte) int {
	t.Helper()
	rcode := int(msg[3] & 0xF)
	if opt, ok := lastOPT(msg); ok {
		rcode |= int(msg[opt+5]) << 4
	}
	return rcode
}

// A query for a server cookie alone (RFC 7873 §5.4) gets an empty NOERROR answer with a server
// cookie, or BADCOOKIE when the server cookie it sent is not valid under any secret; a query
// without a question and without a (well-formed) cookie stays FORMERR, as does any with cookies
// off.
func TestCookieOnlyQuery(t *testing.T) {
	oldSecret, _ := cookie.ParseSecret("00112233445566778899aabbccddeeff")
	newSecret, _ := cookie.ParseSecret("ffeeddccbbaa99887766554433221100")
	client := []byte("\x01\x02\x03\x04\x05\x06\x07\x08")
	addr := netip.MustParseAddr("127.0.3.9")
	now := uint32(time.Now().Unix())
	under := func(s cookie.Secret) []byte {
		var c [cookie.Len]byte
		s.Make(&c, client, addr, now)
		return append(append([]byte(nil), client...), c[:]...)
	}
	rotated := cookie.NewKeyring(newSecret, oldSecret)
	for _, c := range []struct {
		note   string
		keys   *cookie.Keyring
		opt    []byte
		rcode  int
		cookie bool
	}{
		{"client cookie alone", rotated, client, 0, true},
		{"current secret's cookie", rotated, under(newSecret), 0, true},
		{"retired secret's cookie", rotated, under(oldSecret), 0, true},
		{"dropped secret's cookie", cookie.NewKeyring(newSecret), under(oldSecret), rcodeBadCookie, true},
		{"wrong server cookie", rotated, append(append([]byte(nil), client...), make([]byte, 16)...), rcodeBadCookie, true},
		{"malformed cookie", rotated, client[:5], rcodeFormErr, false},
		{"no cookie", rotated, nil, rcodeFormErr, false},
		{"cookies off", nil, client, rcodeFormErr, false},
	} {
		p := withGuards(testPipeline(t, ""), c.keys, nil)
		res := serveFrom(p, addr.String(), cookieOnlyQuery(c.opt, query.FlagRD), query.UDP)
		if len(res) < query.HeaderLen {
			t.Errorf("%s: no answer", c.note)
			continue
		}
		got := responseCookie(t, res)
		if rcodeOf(t, res) != c.rcode || (got != nil) != c.cookie {
			t.Errorf("%s: rcode %d cookie %x, want rcode %d, cookie %t", c.note, rcodeOf(t, res), got, c.rcode, c.cookie)
		}
		// Header as BIND gives it: QR and RD, no question or records beyond the OPT record.
		if res[2] != byte((query.FlagQR|query.FlagRD)>>8) || string(res[4:10]) != "\x00\x00\x00\x00\x00\x00" || binary.BigEndian.Uint16(res[10:]) != 1 {
			t.Errorf("%s: header %x", c.note, res[:12])
		}
		if got == nil {
			continue
		}
		if !bytes.Equal(got[:8], client) || len(got) != 24 {
			t.Errorf("%s: cookie option %x", c.note, got)
		} else if v, _ := newSecret.Check(client, got[8:], addr, now); !v {
			t.Errorf("%s: the server cookie sent is not the current secret's", c.note)
		}
	}
}
