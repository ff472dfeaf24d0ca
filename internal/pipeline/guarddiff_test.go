package pipeline

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"warden/internal/authority"
	"warden/internal/dnstest"
	"warden/internal/peers"
	"warden/internal/query"
	"warden/internal/rrl"
	"warden/internal/server"
	"warden/internal/wire"
	"warden/internal/zone"
)

const guardZone = testZone + "sub NS ns.sub\nns.sub A 192.0.2.9\n"

// startGuarded serves guardZone with cookies (the shared test secret) and limiter lim on a free
// loopback port.
func startGuarded(t *testing.T, lim *rrl.Limiter) string {
	t.Helper()
	z, _, err := zone.Load("example.test.", "test.zone", []byte(guardZone))
	if err != nil {
		t.Fatal(err)
	}
	set, err := authority.New([]*zone.Zone{z})
	if err != nil {
		t.Fatal(err)
	}
	pipe := NewPipeline(wire.Limits{UDPPayload: 1232}, &Snapshot{Authority: set, Cookies: testSecret, RateLimit: lim})
	l, err := server.Listen(server.ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, pipe, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l.UDPAddr().String()
}

type floodResult struct{ sent, answered, truncated, dropped int }

// flood sends the same query from the loopback address from to addr, perSecond for d, paced, and
// counts the answers with records, the empty ones with TC=1 and the missing ones.
func floodFrom(t *testing.T, from, addr string, raw []byte, perSecond int, d time.Duration) floodResult {
	t.Helper()
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from+":0")), net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var r floodResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			if buf[2]&0x02 != 0 {
				r.truncated++
			} else {
				r.answered++
			}
		}
	}()
	r.sent = int(d.Seconds() * float64(perSecond))
	q := append([]byte(nil), raw...)
	start := time.Now()
	for i := range r.sent {
		binary.BigEndian.PutUint16(q, uint16(i))
		_, _ = c.Write(q)
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * time.Second / time.Duration(perSecond))))
	}
	<-done
	r.dropped = r.sent - r.answered - r.truncated
	return r
}

// TestRateLimitAgainstPeers floods Warden, BIND 9 (rate-limit) and Knot (mod-rrl), all at 10
// responses a second and slip 2, with 100 identical queries a second for 3 seconds, each from an
// address of its own, and compares what came back. Warden's bucket holds a second's credit (as
// BIND's) but keeps no debt (as Knot): it answers the rate, where BIND answers almost nothing
// once a client is over it and Knot lets 4 seconds' credit through first.
func TestRateLimitAgainstPeers(t *testing.T) {
	const rate, perSecond, secs = 10, 100, 3
	lim := rrl.New(rrl.Config{Rate: rate, Slip: 2, Window: 15 * time.Second, IPv4Prefix: 24, IPv6Prefix: 56}, nil)
	servers := []struct{ name, addr string }{{"warden", startGuarded(t, lim)}}
	dir := t.TempDir()
	zoneFile := filepath.Join(dir, "example.test.zone")
	if err := os.WriteFile(zoneFile, []byte(guardZone), 0o644); err != nil {
		t.Fatal(err)
	}
	if havePeer("named") {
		servers = append(servers, struct{ name, addr string }{"bind", dnstest.StartNamed(t, dnstest.NamedConfig{
			Options: fmt.Sprintf("recursion no; rate-limit { responses-per-second %d; slip 2; window 15; };", rate),
			Body:    fmt.Sprintf("zone \"example.test\" { type primary; file %q; };", zoneFile),
		})})
	}
	if havePeer("knotd") {
		k := dnstest.StartKnotConfig(t, dnstest.KnotConfig{
			Sections: fmt.Sprintf("mod-rrl:\n  - id: flood\n    rate-limit: %d\n    slip: 2\ntemplate:\n  - id: default\n    global-module: mod-rrl/flood\nzone:\n  - domain: example.test\n    file: %s\n", rate, zoneFile),
			Ready:    "example.test.",
		})
		servers = append(servers, struct{ name, addr string }{"knot", k.Addr})
	}
	raw := cookieQuery(t, "www.example.test.", nil)
	results := make([]floodResult, len(servers))
	for i, s := range servers {
		results[i] = floodFrom(t, fmt.Sprintf("127.0.0.%d", 30+i), s.addr, raw, perSecond, secs*time.Second)
		t.Logf("%-6s %d queries in %d s: %3d answered, %3d TC, %3d dropped", s.name, results[i].sent, secs, results[i].answered, results[i].truncated, results[i].dropped)
	}
	w := results[0]
	if w.answered < rate*secs || w.answered > rate*(secs+1)+2 {
		t.Errorf("warden answered %d, want the rate over %d s plus a second's credit", w.answered, secs)
	}
	if limited := w.truncated + w.dropped; w.truncated < limited/2-3 || w.truncated > limited/2+3 {
		t.Errorf("warden truncated %d of %d limited, want half (slip 2)", w.truncated, limited)
	}
	for i, s := range servers[1:] {
		if r := results[i+1]; r.answered > rate*(secs+4)+2 {
			t.Errorf("%s answered %d: not limited as configured", s.name, r.answered)
		}
	}
	// Another client, asking at the rate meanwhile, is unaffected.
	if r := floodFrom(t, "127.0.9.1", servers[0].addr, raw, rate, time.Second); r.answered != rate {
		t.Errorf("another client at the rate: %+v", r)
	}
}

// TestCookiesAgainstBIND asks BIND 9 (cookies on by default, the same secret) and Warden with a
// missing, a wrong, a malformed and a valid server cookie and compares rcode, flags and whether
// a cookie comes back; each accepts the cookie the other made (RFC 9018).
func TestCookiesAgainstBIND(t *testing.T) {
	if !havePeer("named") {
		t.Skip("named not installed")
	}
	dir := t.TempDir()
	zoneFile := filepath.Join(dir, "example.test.zone")
	if err := os.WriteFile(zoneFile, []byte(guardZone), 0o644); err != nil {
		t.Fatal(err)
	}
	bind := dnstest.StartNamed(t, dnstest.NamedConfig{
		Options: `recursion no; cookie-algorithm siphash24; cookie-secret "e5e973e5a6b2a43f48e7dc849e37bfcf";`,
		Body:    fmt.Sprintf("zone \"example.test\" { type primary; file %q; };", zoneFile),
	})
	warden := startGuarded(t, nil)
	client := []byte("\x11\x22\x33\x44\x55\x66\x77\x88")
	ask := func(addr string, opt []byte) []byte {
		t.Helper()
		res, err := exchangeRaw(addr, cookieQuery(t, "www.example.test.", opt))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	fromBIND := responseCookie(t, ask(bind, client))
	fromWarden := responseCookie(t, ask(warden, client))
	wrong := append(append([]byte(nil), client...), make([]byte, 16)...)
	wrong[8] = 1
	for _, c := range []struct {
		note string
		opt  []byte
	}{
		{"client cookie only", client},
		{"wrong server cookie", wrong},
		{"malformed: 5 bytes", client[:5]},
		{"malformed: 12 bytes", append(client, 1, 2, 3, 4)},
		{"BIND's cookie", fromBIND},
		{"Warden's cookie", fromWarden},
		{"no cookie", nil},
	} {
		b, w := ask(bind, c.opt), ask(warden, c.opt)
		bc, wc := responseCookie(t, b), responseCookie(t, w)
		if b[3]&0xF != w[3]&0xF || b[2] != w[2] || b[3]&0xF0 != w[3]&0xF0 || (bc == nil) != (wc == nil) {
			t.Errorf("%s: BIND rcode %d flags %#x cookie %x; Warden rcode %d flags %#x cookie %x", c.note,
				b[3]&0xF, b[2:4], bc, w[3]&0xF, w[2:4], wc)
		}
		if c.note == "BIND's cookie" || c.note == "Warden's cookie" {
			// Valid at both, and young: both send it back unchanged.
			if string(bc[8:]) != string(c.opt[8:]) || string(wc[8:]) != string(c.opt[8:]) {
				t.Errorf("%s not taken as valid: BIND %x, Warden %x", c.note, bc, wc)
			}
		}
	}
}

func exchangeRaw(addr string, q []byte) ([]byte, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(q); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	return buf[:n], err
}

func havePeer(name string) bool {
	_, err := peers.Bin(name)
	return err == nil
}

// TestCookieOnlyAgainstPeers asks BIND 9 and Knot (mod-cookies), each with the test secret, and
// Warden for a server cookie alone (RFC 7873 §5.4: no question, a COOKIE option), over UDP and
// TCP. Warden answers as BIND does (NOERROR, QR and RD, nothing but the OPT record with a fresh
// cookie) except for a server cookie that is not valid: BADCOOKIE, as §5.4 says, where BIND
// answers NOERROR. Knot 3.2 answers FORMERR to every query without a question, as a server
// without cookies does. docs/differences.md records both.
func TestCookieOnlyAgainstPeers(t *testing.T) {
	if !havePeer("named") || !havePeer("knotd") {
		t.Skip("named or knotd not installed")
	}
	dir := t.TempDir()
	zoneFile := filepath.Join(dir, "example.test.zone")
	if err := os.WriteFile(zoneFile, []byte(guardZone), 0o644); err != nil {
		t.Fatal(err)
	}
	bind := dnstest.StartNamed(t, dnstest.NamedConfig{
		Options: `recursion no; cookie-algorithm siphash24; cookie-secret "e5e973e5a6b2a43f48e7dc849e37bfcf";`,
		Body:    fmt.Sprintf("zone \"example.test\" { type primary; file %q; };", zoneFile),
	})
	knot := dnstest.StartKnotConfig(t, dnstest.KnotConfig{
		Sections: fmt.Sprintf("mod-cookies:\n  - id: c\n    secret: 0xe5e973e5a6b2a43f48e7dc849e37bfcf\ntemplate:\n  - id: default\n    global-module: mod-cookies/c\nzone:\n  - domain: example.test\n    file: %s\n", zoneFile),
		Ready:    "example.test.",
	}).Addr
	pipe := withGuards(testPipeline(t, ""), testSecret, nil)
	l, err := server.Listen(server.ListenerConfig{Addr: "127.0.3.30:0", UDPWorkers: 1}, pipe, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	warden := l.UDPAddr().String()

	client := []byte("\x21\x32\x43\x54\x65\x76\x87\x98")
	ask := func(addr, network string, opt []byte) []byte {
		t.Helper()
		q := cookieOnlyQuery(opt, query.FlagRD)
		var res []byte
		var err error
		if network == "tcp" {
			res, err = exchangeTCPRaw(addr, q)
		} else {
			res, err = exchangeRaw(addr, q)
		}
		if err != nil {
			t.Fatalf("%s over %s: %v", addr, network, err)
		}
		return res
	}
	fromBIND := responseCookie(t, ask(bind, "udp", client))
	wrong := append(append([]byte(nil), client...), make([]byte, 16)...)
	wrong[8] = 1
	for _, network := range []string{"udp", "tcp"} {
		for _, c := range []struct {
			note string
			opt  []byte
			// Warden's rcode where it differs from BIND's NOERROR; -1 when they agree.
			wardenRcode int
		}{
			{"client cookie alone", client, -1},
			{"BIND's valid cookie", fromBIND, -1},
			{"wrong server cookie", wrong, rcodeBadCookie},
			{"malformed: 5 bytes", client[:5], -1},
			{"no cookie", nil, -1},
		} {
			b, w, k := ask(bind, network, c.opt), ask(warden, network, c.opt), ask(knot, network, c.opt)
			bc, wc := responseCookie(t, b), responseCookie(t, w)
			t.Logf("%s over %s: BIND rcode %d cookie %t; Knot rcode %d; Warden rcode %d cookie %t", c.note, network,
				rcodeOf(t, b), bc != nil, rcodeOf(t, k), rcodeOf(t, w), wc != nil)
			want := rcodeOf(t, b)
			if c.wardenRcode >= 0 {
				if want != 0 {
					t.Errorf("%s: BIND now answers rcode %d where it answered NOERROR; docs/differences.md is out of date", c.note, want)
				}
				want = c.wardenRcode
			}
			if rcodeOf(t, w) != want || w[2] != b[2] || w[3]&0xF0 != b[3]&0xF0 || string(w[4:12]) != string(b[4:12]) || (wc == nil) != (bc == nil) {
				t.Errorf("%s over %s: Warden header %x cookie %x; BIND header %x cookie %x (want Warden's rcode %d)",
					c.note, network, w[:12], wc, b[:12], bc, want)
			}
			if rcodeOf(t, k) != rcodeFormErr || responseCookie(t, k) != nil {
				t.Errorf("%s over %s: Knot answered rcode %d with cookie %x, where docs/differences.md says FORMERR",
					c.note, network, rcodeOf(t, k), responseCookie(t, k))
			}
			if wc != nil && string(wc[:8]) != string(client) {
				t.Errorf("%s: Warden's cookie %x does not carry the client's", c.note, wc)
			}
		}
	}
	// Each accepts the other's cookie got this way (the shared secret, RFC 9018).
	wardenCookie := responseCookie(t, ask(warden, "udp", client))
	if rc := rcodeOf(t, ask(warden, "udp", fromBIND)); rc != 0 {
		t.Errorf("Warden answered BIND's cookie with rcode %d", rc)
	}
	if got := responseCookie(t, ask(bind, "udp", wardenCookie)); len(got) != 24 {
		t.Errorf("BIND answered Warden's cookie with %x", got)
	}
}

func exchangeTCPRaw(addr string, q []byte) ([]byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil {
		return nil, err
	}
	var n [2]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, err
	}
	res := make([]byte, binary.BigEndian.Uint16(n[:]))
	_, err = io.ReadFull(c, res)
	return res, err
}
