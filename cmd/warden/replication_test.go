package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/config"
	"warden/internal/dnstest"
	"warden/internal/transfer"
	"warden/internal/tsig"
)

// The replication tests run Warden beside real Knot DNS and BIND servers on loopback: Knot as
// primary and Warden as its secondary, Warden as primary with Knot and BIND as its secondaries,
// all with TSIG; after every change on the primary the secondary's whole zone is compared with the
// primary's, record by record.

const (
	replKeyName   = "xfr."
	replKeySecret = "d2FyZGVuLXJlcGxpY2F0aW9uLXRlc3Qta2V5LTAxMjM0NTY3OA=="
)

func replKey(t *testing.T) *tsig.Key {
	t.Helper()
	k, err := tsig.ParseKey("xfr:hmac-sha256:" + replKeySecret)
	if err != nil {
		t.Fatal(err)
	}
	return &k
}

// replZone is the test zone at serial: a few fixed records, n generated hosts, and records that
// each version changes, so that IXFR has removals and additions to carry.
func replZone(origin string, serial uint32, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 300\n", origin)
	fmt.Fprintf(&b, "@ SOA ns1 hostmaster %d 1 1 3600 60\n", serial)
	b.WriteString("@ NS ns1\nns1 A 192.0.2.1\n@ MX 10 mail\nmail AAAA 2001:db8::25\n@ TXT \"v=spf1 -all\" \"two strings\"\n")
	fmt.Fprintf(&b, "version TXT \"serial %d\"\nv%d A 192.0.2.%d\n", serial, serial, serial%250+1)
	for i := range n {
		fmt.Fprintf(&b, "h%d A 10.%d.%d.%d\n", i, i>>16&255, i>>8&255, i&255)
	}
	return b.String()
}

// writeZoneFile writes text with a modification time the file watcher cannot miss.
func writeZoneFile(t *testing.T, path, text string, serial uint32) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Duration(serial) * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}

// axfrRecords transfers origin from addr and returns its records in presentation form, sorted:
// the closing SOA left out, names lower-case.
func axfrRecords(t *testing.T, addr, origin string, key *tsig.Key) []string {
	t.Helper()
	ap := netip.MustParseAddrPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := transfer.AXFR(ctx, transfer.Peer{Addr: ap, Key: key}, origin, transfer.Limits{})
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

// sameZone fails the test unless both servers hold the same records for origin.
func sameZone(t *testing.T, origin, primary, secondary string, key *tsig.Key) {
	t.Helper()
	a, b := axfrRecords(t, primary, origin, key), axfrRecords(t, secondary, origin, key)
	if slices.Equal(a, b) {
		return
	}
	var onlyA, onlyB []string
	for _, r := range a {
		if !slices.Contains(b, r) {
			onlyA = append(onlyA, r)
		}
	}
	for _, r := range b {
		if !slices.Contains(a, r) {
			onlyB = append(onlyB, r)
		}
	}
	t.Fatalf("%s differs: %d records on the primary, %d on the secondary\nonly on the primary: %.5q\nonly on the secondary: %.5q",
		origin, len(a), len(b), onlyA, onlyB)
}

// soaSerial asks addr for origin's SOA; ok is false without an authoritative answer.
func soaSerial(addr, origin string) (uint32, uint16, bool) {
	m, err := dnstest.Exchange(addr, dnstest.Query{Name: origin, Type: dns.TypeSOA})
	if err != nil {
		return 0, 0, false
	}
	for _, rr := range m.Answer {
		if soa, ok := rr.(*dns.SOA); ok && m.Authoritative {
			return soa.Serial, m.Rcode, true
		}
	}
	return 0, m.Rcode, false
}

// waitSerial waits (bounded) until addr serves origin at serial.
func waitSerial(t *testing.T, addr, origin string, serial uint32) {
	t.Helper()
	var last uint32
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		s, _, ok := soaSerial(addr, origin)
		if ok && s == serial {
			return
		}
		last = s
	}
	t.Fatalf("%s did not serve %s at serial %d within 15s (last seen %d)", addr, origin, serial, last)
}

// knotPrimarySections configures a knotd primary: the test key, Warden (on wardenPort) as the
// remote it NOTIFYs, an ACL "xfr" allowing transfers with the key, and zone files it reloads by
// difference into its journal, so that it serves IXFR. The zone section follows.
func knotPrimarySections(wardenPort string) string {
	return knotKeySection() + fmt.Sprintf(`remote:
  - id: warden
    address: 127.0.0.1@%s
    key: %s
acl:
  - id: xfr
    key: %s
    action: transfer
template:
  - id: default
    storage: "@DIR@"
    zonefile-sync: -1
    zonefile-load: difference
    journal-content: changes
    semantic-checks: off
`, wardenPort, replKeyName, replKeyName)
}

// knotSecondarySections configures a knotd secondary of Warden (on wardenPort): the test key, an
// ACL "notify" taking NOTIFY and transfers signed with it, and a default template; more templates
// and the zone section follow.
func knotSecondarySections(wardenPort string) string {
	return knotKeySection() + fmt.Sprintf(`remote:
  - id: warden
    address: 127.0.0.1@%s
    key: %s
acl:
  - id: notify
    address: 127.0.0.0/8
    key: %s
    action: [notify, transfer]
template:
  - id: default
    storage: "@DIR@"
    zonefile-sync: -1
    journal-content: changes
    semantic-checks: off
`, wardenPort, replKeyName, replKeyName)
}

func knotKeySection() string {
	return fmt.Sprintf("key:\n  - id: %s\n    algorithm: hmac-sha256\n    secret: %s\n", replKeyName, replKeySecret)
}

// TestKnotPrimaryWardenSecondary: Knot is the primary, Warden its secondary with TSIG. Warden
// takes the zone by AXFR, then every change by IXFR on Knot's NOTIFY, and holds exactly Knot's
// records after each; a restart without the primary serves the copy on disk at once.
func TestKnotPrimaryWardenSecondary(t *testing.T) {
	const origin = "repl.test."
	key := replKey(t)
	wardenAddr := freePort(t)
	wardenPort := strings.TrimPrefix(wardenAddr, "127.0.0.1:")
	knot := dnstest.StartKnotConfig(t, dnstest.KnotConfig{
		Sections: knotPrimarySections(wardenPort) + fmt.Sprintf(`zone:
  - domain: %s
    file: "@DIR@/repl.zone"
    acl: [xfr]
    notify: [warden]
`, origin),
		Files: map[string]string{"repl.zone": replZone(origin, 1, 2000)},
		Ready: origin,
	})
	knotAddr := netip.MustParseAddrPort(knot.Addr)

	storage := t.TempDir()
	f := &commonFlags{listen: []string{wardenAddr}, control: "none", storage: storage,
		secondaries: []string{origin + "=" + knotAddr.String()}, tsig: "xfr:hmac-sha256:" + replKeySecret}
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- runServer(ctx, f, cfg, slog.New(slog.NewTextHandler(logs, nil))) }()
	stopped := false
	stopServer := func() {
		if !stopped {
			stopped = true
			stop()
			if err := <-done; err != nil {
				t.Errorf("server: %v", err)
			}
		}
	}
	t.Cleanup(stopServer)

	waitSerial(t, wardenAddr, origin, 1)
	sameZone(t, origin, knot.Addr, wardenAddr, key)
	if !strings.Contains(logs.String(), "why=\"AXFR from") {
		t.Errorf("first transfer not logged as AXFR:\n%s", logs.String())
	}

	zoneFile := filepath.Join(knot.Dir, "repl.zone")
	for serial := uint32(2); serial <= 4; serial++ {
		writeZoneFile(t, zoneFile, replZone(origin, serial, 2000), serial)
		knot.Control(t, "zone-reload", origin)
		waitSerial(t, wardenAddr, origin, serial)
		sameZone(t, origin, knot.Addr, wardenAddr, key)
	}
	if n := strings.Count(logs.String(), "why=\"IXFR (1 changes) from"); n < 3 {
		t.Errorf("%d changes arrived by IXFR; want 3:\n%s", n, logs.String())
	}

	noEarlyEnds(t, logs)
	// Without the key, Warden refuses to hand the zone on.
	if _, err := transfer.AXFR(context.Background(), transfer.Peer{Addr: netip.MustParseAddrPort(wardenAddr)}, origin, transfer.Limits{}); err == nil {
		t.Error("an unsigned AXFR from the secondary succeeded; the zone's key should be required")
	}

	// A restart serves the copy on disk at once, even with the primary gone.
	stopServer()
	knot.Control(t, "zone-freeze", origin) // keeps Knot up but the zone unchanged
	f2 := *f
	f2.secondaries = []string{origin + "=127.0.0.1:9"} // nothing listens there
	cfg2, err := loadConfig(&f2)
	if err != nil {
		t.Fatal(err)
	}
	logs2, _ := startServer(t, &f2, cfg2)
	waitSerial(t, wardenAddr, origin, 4)
	if !strings.Contains(logs2.String(), "secondary serving its copy") {
		t.Errorf("restart did not serve the copy on disk:\n%s", logs2.String())
	}
}

// TestWardenPrimaryKnotAndBINDSecondaries: Warden is the primary of a zone with TSIG, an ACL and
// NOTIFY; Knot and BIND are its secondaries. A change of the zone file and a dynamic update each
// reach both by IXFR, and both then hold exactly Warden's records.
func TestWardenPrimaryKnotAndBINDSecondaries(t *testing.T) {
	const origin = "primary.test."
	key := replKey(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "primary.zone")
	writeZoneFile(t, file, replZone(origin, 1, 500), 1)

	wardenAddr := freePort(t)
	wardenPort := strings.TrimPrefix(wardenAddr, "127.0.0.1:")
	// The secondaries' addresses must be known before Warden starts, to NOTIFY them.
	knotPort, namedPort := freePort(t), freePort(t)
	var logs *syncBuffer
	{
		f := &commonFlags{listen: []string{wardenAddr}, control: "none", storage: t.TempDir()}
		cfg, err := loadConfig(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Reload.WatchInterval = 100 * time.Millisecond
		cfg.Keys = config.Keys{{Name: replKeyName, Algorithm: "hmac-sha256", Secret: replKeySecret}}
		cfg.Zones = config.Zones{{
			Origin: origin, File: file, Key: replKeyName,
			AllowTransfer: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			AllowUpdate:   []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			Notify:        []netip.AddrPort{netip.MustParseAddrPort(knotPort), netip.MustParseAddrPort(namedPort)},
		}}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		logs, _ = startServer(t, f, cfg)
	}
	waitSerial(t, wardenAddr, origin, 1)

	knot := startKnotSecondary(t, origin, wardenPort, knotPort)
	named := startNamedSecondary(t, origin, wardenPort, namedPort)
	secondaries := map[string]string{"knot": knot, "named": named}
	for name, addr := range secondaries {
		waitSerial(t, addr, origin, 1)
		t.Logf("%s has serial 1", name)
		sameZone(t, origin, wardenAddr, addr, key)
	}

	// A new zone file: Warden reloads it, journals the difference, NOTIFYs, serves IXFR.
	writeZoneFile(t, file, replZone(origin, 2, 500), 2)
	for _, addr := range secondaries {
		waitSerial(t, addr, origin, 2)
		sameZone(t, origin, wardenAddr, addr, key)
	}

	// A dynamic update (signed, from an allowed address) bumps the serial and flows on as IXFR.
	nsupdate(t, wardenAddr, fmt.Sprintf("zone %s\nupdate add dyn.%s 300 A 198.51.100.7\nupdate delete h3.%s A\nsend\n", origin, origin, origin))
	waitSerial(t, wardenAddr, origin, 3)
	for _, addr := range secondaries {
		waitSerial(t, addr, origin, 3)
		sameZone(t, origin, wardenAddr, addr, key)
	}
	noEarlyEnds(t, logs)
	if n := strings.Count(logs.String(), "kind=IXFR"); n < 4 {
		t.Errorf("%d transfers out were IXFR; want at least 4 (two secondaries, two changes):\n%s", n, logs.String())
	}
	// The update is written back to the zone file, in the background.
	waitFor(t, "the dynamic update written back to the zone file", func() bool {
		data, err := os.ReadFile(file)
		return err == nil && strings.Contains(string(data), "198.51.100.7")
	})
	// The file watch (every 100 ms here) knows the file it wrote and does not read it back.
	time.Sleep(400 * time.Millisecond)
	if strings.Contains(logs.String(), "serial did not increase") || strings.Contains(logs.String(), `why="zone file changed"`+" serial=3") {
		t.Errorf("the written-back file was read back as a change:\n%s", logs.String())
	}
}

func startKnotSecondary(t *testing.T, origin, wardenPort, listen string) string {
	t.Helper()
	port := strings.TrimPrefix(listen, "127.0.0.1:")
	conf := knotSecondarySections(wardenPort) + fmt.Sprintf(`zone:
  - domain: %s
    master: warden
    acl: [notify]
`, origin)
	k := dnstest.StartKnotConfig(t, dnstest.KnotConfig{Sections: conf, Ready: origin, Port: atoi(t, port)})
	return k.Addr
}

func startNamedSecondary(t *testing.T, origin, wardenPort, listen string) string {
	t.Helper()
	port := strings.TrimPrefix(listen, "127.0.0.1:")
	body := fmt.Sprintf(`key "%s" { algorithm hmac-sha256; secret "%s"; };
server 127.0.0.1 { keys { "%s"; }; };
zone "%s" {
	type secondary;
	primaries port %s { 127.0.0.1 key "%s"; };
	file "secondary.db";
	allow-notify { key "%s"; };
	allow-transfer { any; };
	request-ixfr yes;
};
`, replKeyName, replKeySecret, replKeyName, origin, wardenPort, replKeyName, replKeyName)
	// recursion and validation off: named must not prime the real root, nor fetch its keys.
	return dnstest.StartNamed(t, dnstest.NamedConfig{Options: "\trecursion no;\n\tdnssec-validation no;\n", Body: body, Port: atoi(t, port)})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// nsupdate sends an update script to addr with BIND's nsupdate, signed with the test key.
func nsupdate(t *testing.T, addr, script string) {
	t.Helper()
	bin, err := exec.LookPath("nsupdate")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nsupdate is not installed; CI must install dnsutils")
		}
		t.Skip("nsupdate (dnsutils) is not installed")
	}
	ap := netip.MustParseAddrPort(addr)
	full := fmt.Sprintf("server %s %d\n%s", ap.Addr(), ap.Port(), script)
	cmd := exec.Command(bin, "-y", "hmac-sha256:"+strings.TrimSuffix(replKeyName, ".")+":"+replKeySecret)
	cmd.Stdin = strings.NewReader(full)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nsupdate: %v\n%s", err, out)
	}
}

// noEarlyEnds fails the test when a transfer out was cut short.
func noEarlyEnds(t *testing.T, logs *syncBuffer) {
	t.Helper()
	if strings.Contains(logs.String(), "transfer out ended early") {
		t.Errorf("a transfer out ended early:\n%s", logs.String())
	}
}

// TestPolicyZoneByTransfer: a response policy zone pulled from a Knot primary (as BIND's
// secondary RPZ zones are): its rules apply from the first query, and a change on the primary
// reaches the policy by NOTIFY and IXFR, through the same check as any policy change. The zone is
// not served to queries.
func TestPolicyZoneByTransfer(t *testing.T) {
	const shop = `$ORIGIN shop.example.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
www A 192.0.2.80
blocked A 192.0.2.81
`
	feed := func(serial int, rules string) string {
		return fmt.Sprintf("$ORIGIN rpz.feed.\n$TTL 60\n@ SOA ns hostmaster %d 1 1 3600 60\n@ NS ns\nns A 127.0.0.1\n%s", serial, rules)
	}
	wardenAddr := freePort(t)
	wardenPort := strings.TrimPrefix(wardenAddr, "127.0.0.1:")
	knot := dnstest.StartKnotConfig(t, dnstest.KnotConfig{
		Sections: knotPrimarySections(wardenPort) + `zone:
  - domain: shop.example.
    file: "@DIR@/shop.zone"
  - domain: rpz.feed.
    file: "@DIR@/feed.zone"
    acl: [xfr]
    notify: [warden]
`,
		Files: map[string]string{"shop.zone": shop, "feed.zone": feed(1, "blocked.shop.example CNAME .\n")},
		Ready: "shop.example.",
	})
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "warden.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`listen: [%q]
zones: []
storage: %s
reload: {watch_interval: 100ms}
keys: [{name: %s, algorithm: hmac-sha256, secret: %s}]
resolver:
  forward: [{zone: ".", upstreams: [%q]}]
policy:
  rpz:
    - {origin: rpz.feed., primaries: [%q], key: %s}
control: {socket: %q}
`, wardenAddr, filepath.Join(dir, "storage"), replKeyName, replKeySecret, knot.Addr, knot.Addr, replKeyName, filepath.Join(dir, "control.sock")))
	f := &commonFlags{config: cfgPath}
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	logs, _ := startServer(t, f, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warden log:\n%s", logs.String())
		}
	})

	rcode := func(name string) int {
		m, err := dnstest.Exchange(wardenAddr, dnstest.Query{Name: name, Type: dns.TypeA, RD: true})
		if err != nil {
			return -1
		}
		return int(m.Rcode)
	}
	waitFor(t, "the server to answer", func() bool { return rcode("www.shop.example.") != -1 })
	// In force from the first query: the server waited for the policy zone's first transfer.
	if got := rcode("blocked.shop.example."); got != dns.RcodeNameError {
		t.Fatalf("blocked.shop.example.: rcode %d, want NXDOMAIN by the transferred rule\n%s", got, logs.String())
	}
	if got := rcode("www.shop.example."); got != dns.RcodeSuccess {
		t.Fatalf("www.shop.example.: rcode %d, want NOERROR", got)
	}
	// Not served: the policy zone's own names are not answered from it.
	if _, code, ok := soaSerial(wardenAddr, "rpz.feed."); ok {
		t.Errorf("rpz.feed. SOA answered with authority (rcode %d); a policy zone must not be served", code)
	}

	writeZoneFile(t, filepath.Join(knot.Dir, "feed.zone"), feed(2, "blocked.shop.example CNAME .\nwww.shop.example CNAME .\n"), 2)
	knot.Control(t, "zone-reload", "rpz.feed.")
	// The new rule would change one of the two names asked so far: the safety net holds it back,
	// as it would a file edited by hand, until an operator forces it.
	waitFor(t, "the change to be checked and refused", func() bool { return strings.Contains(logs.String(), "policy change refused") })
	if !strings.Contains(logs.String(), "IXFR (1 changes)") {
		t.Errorf("the change did not arrive by IXFR:\n%s", logs.String())
	}
	if got := rcode("www.shop.example."); got != dns.RcodeSuccess {
		t.Fatalf("www.shop.example. after a refused change: rcode %d, want NOERROR", got)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"policy", "reload", "--force", "--control", filepath.Join(dir, "control.sock")}, &out, &errb); code != 0 {
		t.Fatalf("policy reload --force: exit %d: %s%s", code, out.String(), errb.String())
	}
	waitFor(t, "the new rule in force", func() bool { return rcode("www.shop.example.") == dns.RcodeNameError })
}
