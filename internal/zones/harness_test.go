package zones

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/config"
	"warden/internal/control"
	"warden/internal/dnstest"
	"warden/internal/pipeline"
	"warden/internal/server"
	"warden/internal/transfer"
	"warden/internal/tsig"
	"warden/internal/wire"
)

// The tests of this package run managers behind real listeners on loopback, as `warden serve`
// wires them: a pipeline answers queries from the zones the manager publishes and hands zone
// operations to it. Primaries and secondaries talk to each other over real sockets.

const (
	testKeyName   = "xfr."
	testKeySecret = "c2VydmVkLXRlc3Qta2V5LWZvci10cmFuc2ZlcnMtMDEyMzQ1"
	otherKeyName  = "other."
	otherSecret   = "b3RoZXIta2V5LXRoYXQtdGhlLXpvbmUtZG9lcy1ub3QtdXNl"
)

func testKeys() config.Keys {
	return config.Keys{
		{Name: testKeyName, Algorithm: "hmac-sha256", Secret: testKeySecret},
		{Name: otherKeyName, Algorithm: "hmac-sha256", Secret: otherSecret},
	}
}

func testKey(t testing.TB) *tsig.Key {
	t.Helper()
	k, err := tsig.ParseKey("xfr:hmac-sha256:" + testKeySecret)
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

// logBuffer is a log destination the test reads while the server writes.
type logBuffer = dnstest.SyncBuffer

// node is one server: a manager, the pipeline it publishes to, and a listener on loopback.
type node struct {
	t    testing.TB
	name string
	cfg  *config.Config
	m    *Manager
	l    *server.Listener
	addr netip.AddrPort
	logs *logBuffer
	up   bool
}

// startNode runs a manager for cfg behind a listener on 127.0.0.1 (a free port when addr is not
// valid) until stop or the end of the test; its log is shown when the test fails.
func startNode(t testing.TB, name string, cfg *config.Config, addr netip.AddrPort) *node {
	t.Helper()
	n := &node{t: t, name: name, cfg: cfg, logs: &logBuffer{}}
	n.start(addr)
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, n.logs.String())
		}
	})
	return n
}

func (n *node) start(addr netip.AddrPort) {
	n.t.Helper()
	empty, _ := authority.New(nil)
	pipe := pipeline.NewPipeline(wire.Limits{}, &pipeline.Snapshot{Authority: empty})
	log := slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n.m = New(log, func(set *authority.Set) { pipe.Update(func(s *pipeline.Snapshot) { s.Authority = set }) })
	if err := n.m.Start(n.cfg); err != nil {
		n.m.Close()
		n.t.Fatalf("%s: start: %v", n.name, err)
	}
	pipe.Update(func(s *pipeline.Snapshot) { s.Zones = n.m })
	listen := "127.0.0.1:0"
	if addr.IsValid() {
		listen = addr.String()
	}
	var err error
	// A port just given up may take a moment to be free again.
	for range 50 {
		if n.l, err = server.Listen(server.ListenerConfig{Addr: listen, UDPWorkers: 1}, pipe, log); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		n.m.Close()
		n.t.Fatalf("%s: listen: %v", n.name, err)
	}
	n.addr = netip.MustParseAddrPort(n.l.TCPAddr().String())
	n.up = true
	n.m.Announce()
}

// stop closes the listener and the manager; restart starts both again on the same address.
func (n *node) stop() {
	if !n.up {
		return
	}
	n.up = false
	_ = n.l.Close()
	n.m.Close()
}

func (n *node) restart() {
	n.t.Helper()
	n.stop()
	n.start(n.addr)
}

func (n *node) String() string { return n.addr.String() }

// zoneText is a small zone at serial with the given SOA timers (refresh, retry, expire) and extra
// records appended.
func zoneText(origin string, serial uint32, refresh, retry, expire int, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 300\n", origin)
	fmt.Fprintf(&b, "@ SOA ns1 hostmaster %d %d %d %d 60\n", serial, refresh, retry, expire)
	b.WriteString("@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.80\n")
	fmt.Fprintf(&b, "version TXT \"serial %d\"\n", serial)
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	return b.String()
}

// writeZone writes text to path with a modification time a reload cannot miss.
func writeZone(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Duration(len(text)%1000+1) * time.Millisecond)
	if fi, err := os.Stat(path); err == nil && !later.After(fi.ModTime()) {
		later = fi.ModTime().Add(time.Millisecond)
	}
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}

// primaryConfig is a configuration serving origin from a new zone file of text, with key,
// transfers allowed to loopback and updates from 127.0.0.1.
func primaryConfig(t testing.TB, origin, text string) (*config.Config, string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, strings.TrimSuffix(origin, ".")+".zone")
	writeZone(t, file, text)
	return &config.Config{
		Storage: filepath.Join(dir, "storage"),
		Keys:    testKeys(),
		Zones: config.Zones{{
			Origin: origin, File: file, Key: testKeyName,
			AllowTransfer: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			AllowUpdate:   []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		}},
	}, file
}

// secondaryConfig is a configuration holding origin as a secondary of primary, signed with the key.
func secondaryConfig(t testing.TB, origin string, primary netip.AddrPort) *config.Config {
	t.Helper()
	return &config.Config{
		Storage: t.TempDir(),
		Keys:    testKeys(),
		Zones: config.Zones{{
			Origin: origin, Primaries: []netip.AddrPort{primary}, Key: testKeyName,
			AllowTransfer: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		}},
	}
}

// soa asks addr for origin's SOA over UDP: the serial when the answer is authoritative, and the
// rcode in any case (ok false when nothing came back).
func soa(addr netip.AddrPort, origin string) (serial uint32, rcode uint16, ok bool) {
	m, err := dnstest.Exchange(addr.String(), dnstest.Query{Name: origin, Type: dns.TypeSOA})
	if err != nil {
		return 0, 0, false
	}
	for _, rr := range m.Answer {
		if s, isSOA := rr.(*dns.SOA); isSOA && m.Authoritative {
			return s.Serial, m.Rcode, true
		}
	}
	return 0, m.Rcode, true
}

// eventually polls check every 25 ms until it returns "" or within expires; the failure names what
// was awaited and the last answer.
func eventually(t testing.TB, within time.Duration, what string, check func() string) {
	t.Helper()
	last := ""
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		if last = check(); last == "" {
			return
		}
	}
	t.Fatalf("%s: not within %s; last: %s", what, within, last)
}

// waitSerial waits until addr answers origin's SOA with serial.
func waitSerial(t testing.TB, addr netip.AddrPort, origin string, serial uint32, within time.Duration) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("%s serving %s at serial %d", addr, origin, serial), func() string {
		s, rc, ok := soa(addr, origin)
		if ok && rc == dns.RcodeSuccess && s == serial {
			return ""
		}
		return fmt.Sprintf("serial %d rcode %s answered %v", s, dns.RcodeToString[rc], ok)
	})
}

// waitRcode waits until addr answers origin's SOA with rcode.
func waitRcode(t testing.TB, addr netip.AddrPort, origin string, rcode uint16, within time.Duration) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("%s answering %s with %s", addr, origin, dns.RcodeToString[rcode]), func() string {
		s, rc, ok := soa(addr, origin)
		if ok && rc == rcode {
			return ""
		}
		return fmt.Sprintf("serial %d rcode %s answered %v", s, dns.RcodeToString[rc], ok)
	})
}

// records transfers origin from addr by AXFR and returns its records in presentation form,
// lower-case and sorted.
func records(t testing.TB, addr netip.AddrPort, origin string, key *tsig.Key) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := transfer.AXFR(ctx, transfer.Peer{Addr: addr, Key: key}, origin, transfer.Limits{})
	if err != nil {
		t.Fatalf("AXFR %s from %s: %v", origin, addr, err)
	}
	out := make([]string, 0, len(res.Full))
	for _, rr := range res.Full {
		out = append(out, strings.ToLower(rr.String()))
	}
	slices.Sort(out)
	return out
}

// sameRecords fails the test unless both servers hold the same records for origin.
func sameRecords(t testing.TB, origin string, a, b netip.AddrPort, key *tsig.Key) {
	t.Helper()
	ra, rb := records(t, a, origin, key), records(t, b, origin, key)
	if !slices.Equal(ra, rb) {
		t.Fatalf("%s differs between %s and %s:\n%s\n---\n%s", origin, a, b, strings.Join(ra, "\n"), strings.Join(rb, "\n"))
	}
}

// status is the manager's ZoneList entry for origin.
func (n *node) status(origin string) (st control.ZoneStatus, ok bool) {
	for _, s := range n.m.ZoneList() {
		if s.Zone == origin {
			return s, true
		}
	}
	return st, false
}

// signed signs msg with k.
func signed(t testing.TB, msg []byte, k *tsig.Key) []byte {
	t.Helper()
	out, _, err := tsig.Sign(msg, *k, nil, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tsigOf is the TSIG record of a response, nil when it has none.
func tsigOf(m *dns.Msg) *dns.TSIG {
	for _, rr := range append(slices.Clone(m.Extra), m.Pseudo...) {
		if t, ok := rr.(*dns.TSIG); ok {
			return t
		}
	}
	return nil
}

// request builds a query message for origin of qtype, with an SOA of serial in the authority
// section for IXFR.
func request(t testing.TB, origin string, qtype uint16, serial uint32) []byte {
	t.Helper()
	m := dns.NewMsg(origin, qtype)
	m.ID = 4242
	if qtype == dns.TypeIXFR {
		rr, err := dns.New(fmt.Sprintf("%s 0 IN SOA . . %d 0 0 0 0", origin, serial))
		if err != nil {
			t.Fatal(err)
		}
		m.Ns = []dns.RR{rr}
	}
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	return m.Data
}

// transferFrom is an AXFR that returns its error rather than failing the test.
func transferFrom(addr netip.AddrPort, origin string, key *tsig.Key) ([]dns.RR, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := transfer.AXFR(ctx, transfer.Peer{Addr: addr, Key: key, Timeout: 5 * time.Second}, origin, transfer.Limits{})
	if err != nil {
		return nil, err
	}
	return res.Full, nil
}
