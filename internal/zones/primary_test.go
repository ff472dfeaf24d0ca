package zones

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/transfer"
	"warden/internal/tsig"
	"warden/internal/zone"
)

// exchangeFrom sends msg to addr from the loopback address src, over TCP or UDP, and returns the
// first message of the answer.
func exchangeFrom(t testing.TB, src string, addr netip.AddrPort, msg []byte, tcp bool) *dns.Msg {
	t.Helper()
	network, local := "udp", net.Addr(&net.UDPAddr{IP: net.ParseIP(src)})
	if tcp {
		network, local = "tcp", &net.TCPAddr{IP: net.ParseIP(src)}
	}
	d := net.Dialer{LocalAddr: local, Timeout: 2 * time.Second}
	c, err := d.Dial(network, addr.String())
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	var resp []byte
	if tcp {
		frame := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
		if _, err := c.Write(append(frame, msg...)); err != nil {
			t.Fatal(err)
		}
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			t.Fatalf("read from %s: %v", addr, err)
		}
		resp = make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, resp); err != nil {
			t.Fatalf("read from %s: %v", addr, err)
		}
	} else {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65535)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read from %s: %v", addr, err)
		}
		resp = buf[:n]
	}
	m := &dns.Msg{Data: resp}
	if err := m.Unpack(); err != nil {
		t.Fatalf("answer from %s does not parse: %v", addr, err)
	}
	return m
}

// updateMsg is an UPDATE in dnstest.UpdateWire's text form, signed with key when not nil.
func updateMsg(t testing.TB, text string, key *tsig.Key) []byte {
	t.Helper()
	msg, err := dnstest.UpdateWire(7, text)
	if err != nil {
		t.Fatal(err)
	}
	if key == nil {
		return msg
	}
	return signed(t, msg, key)
}

// TestUpdate: dynamic updates are refused without the zone's key, with another key and from an
// address outside allow_update; a failed prerequisite changes nothing; an accepted update bumps
// the serial, is answered at once, and is written back to the zone file.
func TestUpdate(t *testing.T) {
	const origin = "upd.test."
	cfg, file := primaryConfig(t, origin, zoneText(origin, 10, 3600, 600, 86400))
	p := startNode(t, "primary", cfg, netip.AddrPort{})
	key := testKey(t)
	other, err := tsig.ParseKey("other:hmac-sha256:" + otherSecret)
	if err != nil {
		t.Fatal(err)
	}
	add := "zone upd.test.\norigin upd.test.\nupdate new 300 IN A 198.51.100.1\n"
	before := records(t, p.addr, origin, key)

	refused := []struct {
		name  string
		src   string
		key   *tsig.Key
		rcode uint16
	}{
		{"unsigned from an allowed address", "127.0.0.1", nil, dns.RcodeNotAuth},
		{"signed with another key", "127.0.0.1", &other, dns.RcodeNotAuth},
		{"signed from an address outside allow_update", "127.0.0.2", key, dns.RcodeNotAuth},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			r := exchangeFrom(t, tc.src, p.addr, updateMsg(t, add, tc.key), false)
			if r.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if got := records(t, p.addr, origin, key); !slices.Equal(got, before) {
				t.Errorf("a refused update changed the zone:\n%s", strings.Join(got, "\n"))
			}
		})
	}

	t.Run("prerequisite fails", func(t *testing.T) {
		// www exists, so "the name is not in use" fails: YXDOMAIN, nothing applied.
		msg := "zone upd.test.\norigin upd.test.\nprereq www 0 NONE ANY\nupdate new 300 IN A 198.51.100.1\n"
		r := exchangeFrom(t, "127.0.0.1", p.addr, updateMsg(t, msg, key), false)
		if r.Rcode != dns.RcodeYXDomain {
			t.Errorf("rcode %s, want YXDOMAIN", dns.RcodeToString[r.Rcode])
		}
		if got := records(t, p.addr, origin, key); !slices.Equal(got, before) {
			t.Errorf("a failed prerequisite changed the zone:\n%s", strings.Join(got, "\n"))
		}
	})

	t.Run("accepted", func(t *testing.T) {
		r := exchangeFrom(t, "127.0.0.1", p.addr, updateMsg(t, add, key), false)
		if r.Rcode != dns.RcodeSuccess {
			t.Fatalf("rcode %s, want NOERROR", dns.RcodeToString[r.Rcode])
		}
		if tsigOf(r) == nil {
			t.Error("the answer to a signed update is not signed")
		}
		// Visible at once: no wait between the answer and the query.
		if s, rc, _ := soa(p.addr, origin); rc != dns.RcodeSuccess || s != 11 {
			t.Errorf("after the update: serial %d rcode %s, want 11", s, dns.RcodeToString[rc])
		}
		a, err := dnstest.Exchange(p.addr.String(), dnstest.Query{Name: "new." + origin, Type: dns.TypeA})
		if err != nil || len(a.Answer) != 1 {
			t.Fatalf("new.%s after the update: %v %v", origin, a, err)
		}
		// Written back in the background, after the answer.
		eventually(t, 5*time.Second, "the zone file written back", func() string {
			data, err := os.ReadFile(file)
			if err != nil {
				return err.Error()
			}
			z, _, err := zone.Load(origin, file, data)
			if err != nil {
				return "the zone file written back does not load: " + err.Error()
			}
			if z.Serial() != 11 || !strings.Contains(string(data), "198.51.100.1") {
				return fmt.Sprintf("zone file at serial %d, with the new record: %v", z.Serial(), strings.Contains(string(data), "198.51.100.1"))
			}
			return ""
		})
	})
}

// TestJournalAcrossRestart: a primary takes dynamic updates, is restarted, and answers IXFR from a
// serial before the restart with exactly the changes made since.
func TestJournalAcrossRestart(t *testing.T) {
	const origin = "journal.test."
	cfg, _ := primaryConfig(t, origin, zoneText(origin, 1, 3600, 600, 86400))
	p := startNode(t, "primary", cfg, netip.AddrPort{})
	key := testKey(t)
	first := records(t, p.addr, origin, key)
	for i, u := range []string{
		"update a1 300 IN A 198.51.100.1",
		"update www 0 ANY A\nupdate a2 300 IN AAAA 2001:db8::2",
		"update a1 0 NONE A 198.51.100.1\nupdate a3 300 IN TXT \"three\"",
	} {
		msg := "zone journal.test.\norigin journal.test.\n" + u + "\n"
		if r := exchangeFrom(t, "127.0.0.1", p.addr, updateMsg(t, msg, key), true); r.Rcode != dns.RcodeSuccess {
			t.Fatalf("update %d: %s", i+1, dns.RcodeToString[r.Rcode])
		}
	}
	want := records(t, p.addr, origin, key)
	p.restart()
	waitSerial(t, p.addr, origin, 4, time.Second)
	if got := records(t, p.addr, origin, key); !slices.Equal(got, want) {
		t.Fatalf("after restart the zone differs:\n%s\n---\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := parseZone(t, origin, first)
	res, err := transfer.IXFR(ctx, transfer.Peer{Addr: p.addr, Key: key}, origin, base.SOA, transfer.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Full != nil || len(res.Diffs) != 3 {
		t.Fatalf("IXFR from serial 1 after restart: %d diffs, whole zone %v; want the 3 changes", len(res.Diffs), res.Full != nil)
	}
	cur := base
	for _, d := range res.Diffs {
		if cur, err = cur.Apply(d); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for rr := range cur.All() {
		got = append(got, strings.ToLower(rr.String()))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("serial 1 with the IXFR applied differs from the zone:\n%s\n---\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// parseZone builds a zone from records in presentation form.
func parseZone(t testing.TB, origin string, lines []string) *zone.Zone {
	t.Helper()
	z, _, err := zone.Load(origin, "test", []byte(strings.Join(lines, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// TestTransferACL: transfers need both an allowed address and the zone's key; a bad signature is
// answered NOTAUTH with the TSIG error; IXFR over UDP answers the SOA alone; IXFR from a serial the
// journal does not reach is answered with the whole zone.
func TestTransferACL(t *testing.T) {
	const origin = "acl.test."
	cfg, _ := primaryConfig(t, origin, zoneText(origin, 20, 3600, 600, 86400))
	cfg.Zones[0].AllowTransfer = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	p := startNode(t, "primary", cfg, netip.AddrPort{})
	key := testKey(t)
	wrongSecret := *key
	wrongSecret.Secret = []byte("not the secret")
	unknown, _ := tsig.ParseKey("nobody:hmac-sha256:" + testKeySecret)
	axfr := request(t, origin, dns.TypeAXFR, 0)

	for _, tc := range []struct {
		name      string
		src       string
		msg       []byte
		rcode     uint16
		tsigError uint16 // with a TSIG record carrying it; 0: no TSIG error expected
	}{
		{"allowed address without the key", "127.0.0.1", axfr, dns.RcodeNotAuth, 0},
		{"wrong secret", "127.0.0.1", signed(t, axfr, &wrongSecret), dns.RcodeNotAuth, tsig.BadSig},
		{"unknown key", "127.0.0.1", signed(t, axfr, &unknown), dns.RcodeNotAuth, tsig.BadKey},
		{"right key from an address outside allow_transfer", "127.0.0.2", signed(t, axfr, key), dns.RcodeNotAuth, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := exchangeFrom(t, tc.src, p.addr, tc.msg, true)
			if r.Rcode != tc.rcode || len(r.Answer) != 0 {
				t.Errorf("rcode %s with %d records, want %s and none", dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[tc.rcode])
			}
			if tc.tsigError != 0 {
				if rec := tsigOf(r); rec == nil || rec.Error != tc.tsigError {
					t.Errorf("TSIG record %v, want error %s", rec, tsig.ErrorName(tc.tsigError))
				}
			}
		})
	}

	t.Run("signed from an allowed address", func(t *testing.T) {
		r := exchangeFrom(t, "127.0.0.1", p.addr, signed(t, axfr, key), true)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) < 2 || tsigOf(r) == nil {
			t.Fatalf("rcode %s, %d records, TSIG %v", dns.RcodeToString[r.Rcode], len(r.Answer), tsigOf(r) != nil)
		}
	})

	// One change, so that serial 20 → 21 is in the journal.
	msg := "zone acl.test.\norigin acl.test.\nupdate more 300 IN A 198.51.100.9\n"
	if r := exchangeFrom(t, "127.0.0.1", p.addr, updateMsg(t, msg, key), false); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("update: %s", dns.RcodeToString[r.Rcode])
	}

	t.Run("IXFR over UDP", func(t *testing.T) {
		r := exchangeFrom(t, "127.0.0.1", p.addr, signed(t, request(t, origin, dns.TypeIXFR, 20), key), false)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("rcode %s with %d records; want the SOA alone", dns.RcodeToString[r.Rcode], len(r.Answer))
		}
		if s, ok := r.Answer[0].(*dns.SOA); !ok || s.Serial != 21 {
			t.Fatalf("answer %s; want the SOA at serial 21", r.Answer[0])
		}
	})

	for _, tc := range []struct {
		name   string
		serial uint32
		full   bool
		diffs  int
	}{
		{"IXFR from the journal", 20, false, 1},
		{"IXFR from before the journal", 5, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			have := &dns.SOA{Hdr: dns.Header{Name: origin, Class: dns.ClassINET}}
			have.Serial = tc.serial
			res, err := transfer.IXFR(ctx, transfer.Peer{Addr: p.addr, Key: key}, origin, have, transfer.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if (res.Full != nil) != tc.full || len(res.Diffs) != tc.diffs {
				t.Fatalf("whole zone %v, %d diffs; want whole zone %v, %d diffs", res.Full != nil, len(res.Diffs), tc.full, tc.diffs)
			}
			if tc.full {
				var got []string
				for _, rr := range res.Full {
					got = append(got, strings.ToLower(rr.String()))
				}
				slices.Sort(got)
				if want := records(t, p.addr, origin, key); !slices.Equal(got, want) {
					t.Fatalf("the AXFR-style answer differs from the zone:\n%s", strings.Join(got, "\n"))
				}
			}
		})
	}
}

// TestBusyManagerDoesNotStallListeners: while the manager is busy (a reload of a large zone holds
// its lock for seconds), signed SOA queries are still answered at once, and a UDP update waits
// on its own goroutine, not on a listener's thread: plain queries sent after it are answered
// before it is, and it is answered once the manager is free.
func TestBusyManagerDoesNotStallListeners(t *testing.T) {
	const origin = "busy.test."
	cfg, _ := primaryConfig(t, origin, zoneText(origin, 1, 3600, 600, 86400))
	cfg.Listen = nil
	p := startNode(t, "primary", cfg, netip.AddrPort{})
	key := testKey(t)

	p.m.mu.Lock()
	locked := true
	defer func() {
		if locked {
			p.m.mu.Unlock()
		}
	}()
	start := time.Now()
	if m := exchangeFrom(t, "127.0.0.1", p.addr, signed(t, request(t, origin, dns.TypeSOA, 0), key), false); m.Rcode != dns.RcodeSuccess || tsigOf(m) == nil {
		t.Fatalf("signed SOA query while the manager was busy: rcode %d, TSIG %v", m.Rcode, tsigOf(m) != nil)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("signed SOA query took %v while the manager was busy", d)
	}

	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")}, net.UDPAddrFromAddrPort(p.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(updateMsg(t, "zone busy.test.\norigin busy.test.\nupdate late 300 IN A 198.51.100.9\n", key)); err != nil {
		t.Fatal(err)
	}
	// The listener goes on answering: a UDP worker per CPU, and none is waiting for the update.
	for i := range 2 * runtime.NumCPU() {
		if _, _, ok := soa(p.addr, origin); !ok {
			t.Fatalf("query %d after the update, while the manager was busy: no answer", i)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 4096)
	if _, err := conn.Read(buf); err == nil {
		t.Fatal("the update was answered while the manager was busy")
	}
	p.m.mu.Unlock()
	locked = false
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("the update was not answered once the manager was free: %v", err)
	}
	m := &dns.Msg{Data: buf[:n]}
	if err := m.Unpack(); err != nil || m.Rcode != dns.RcodeSuccess {
		t.Fatalf("update answer: rcode %d, err %v", m.Rcode, err)
	}
	waitSerial(t, p.addr, origin, 2, 3*time.Second)
}
