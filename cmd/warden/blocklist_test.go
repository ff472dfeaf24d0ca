package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
)

// freeUDPTCPPort returns a loopback address whose port is free for both TCP and UDP, which a
// server's listener needs: a port free for UDP alone is sometimes held by a TCP socket.
func freeUDPTCPPort(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		c, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			c.Close()
			return addr
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return ""
}

// askRcode sends an A query for name and sums up the answer as "RCODE [address] [ede=N]".
func askRcode(addr, name string) string {
	m := dns.NewMsg(name, dns.TypeA)
	m.UDPSize = 1232
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r, err := dns.Exchange(ctx, m, "udp", addr)
	if err != nil {
		return err.Error()
	}
	s := dns.RcodeToString[r.Rcode]
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			s += " " + a.A.Addr.String()
		}
	}
	for _, o := range r.Pseudo {
		if e, ok := o.(*dns.EDE); ok {
			s += fmt.Sprintf(" ede=%d", e.InfoCode)
		}
	}
	return s
}

// TestServeBlocklists: `warden serve --forward ZONE=knotd --blocklist ...` answers the listed names
// itself with NXDOMAIN and EDE 17, and forwards the rest, exceptions included, to Knot DNS; on
// shutdown the fetching stops with the server.
func TestServeBlocklists(t *testing.T) {
	dir := t.TempDir()
	zone := filepath.Join(dir, "shop.test.zone")
	os.WriteFile(zone, []byte(`$ORIGIN shop.test.
$TTL 60
@ SOA ns1 hostmaster 1 3600 600 86400 60
@ NS ns1
ns1 A 192.0.2.1
www A 192.0.2.10
ads A 192.0.2.66
track A 192.0.2.67
ok.track A 192.0.2.68
`), 0o644)
	knot := dnstest.StartKnot(t, []dnstest.Zone{{Origin: "shop.test.", File: zone}})
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("0.0.0.0 ads.shop.test\n"), 0o644)
	filters := filepath.Join(dir, "filters.txt")
	os.WriteFile(filters, []byte("||track.shop.test^\n@@||ok.track.shop.test^\n"), 0o644)

	addr := freeUDPTCPPort(t)
	f := &commonFlags{listen: []string{addr}, forwards: []string{"shop.test.=" + knot},
		blocklists: []string{hosts, "filters=" + filters}}
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.Policy.Blocklists; len(b) != 2 || b[0].Name != "hosts" || b[1].Name != "filters" {
		t.Fatalf("blocklists %+v", b)
	}
	logs, _ := startServer(t, f, cfg)
	waitFor(t, "the first answer", func() bool { return askRcode(addr, "www.shop.test.") == "NOERROR 192.0.2.10" })
	for name, want := range map[string]string{
		"ads.shop.test.":        "NXDOMAIN ede=17",
		"track.shop.test.":      "NXDOMAIN ede=17",
		"a.track.shop.test.":    "NXDOMAIN ede=17",
		"ok.track.shop.test.":   "NOERROR 192.0.2.68",
		"www.shop.test.":        "NOERROR 192.0.2.10",
		"nothing.shop.test.":    "NXDOMAIN",
		"x.ok.track.shop.test.": "NXDOMAIN", // not in the zone; the exception covers it
	} {
		if got := askRcode(addr, name); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	if text := logs.String(); !strings.Contains(text, `msg="blocklist in force" name=hosts`) || !strings.Contains(text, "name=filters") {
		t.Errorf("log:\n%s", text)
	}
}

func TestCheckBlocklists(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	var lines strings.Builder
	lines.WriteString("0.0.0.0 ads.example\n192.0.2.1 real.example\n")
	for i := range 7 {
		fmt.Fprintf(&lines, "0.0.0.0 bad%d..example\n", i)
	}
	os.WriteFile(hosts, []byte(lines.String()), 0o644)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/list" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "||a.example^\n@@||b.a.example^\n")
	}))
	defer srv.Close()

	var out, errb bytes.Buffer
	code := run([]string{"check", "--blocklist", hosts, "--blocklist", "remote=" + srv.URL + "/list"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"blocklist hosts: hosts, 1 entries, 1 names, 8 lines skipped", "blocklist remote: adblock, 2 entries, 2 names, 0 lines skipped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	for _, want := range []string{hosts + ":2: address 192.0.2.1 is not a blocking address", hosts + ":3: ", "blocklist hosts: 3 more lines skipped"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}

	out.Reset()
	errb.Reset()
	if code := run([]string{"check", "--blocklist", srv.URL + "/gone"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "blocklist gone: GET "+srv.URL+"/gone: 404") {
		t.Errorf("a list that does not load: exit %d: %s", code, errb.String())
	}
}
