package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"warden/internal/dnstest"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
)

// probeResolver answers A queries on a loopback address from zone-file text; for names in forged
// it first sends the forged answer and the real one 50 ms later, standing in for an on-path
// injector in front of an honest resolver.
func probeResolver(t *testing.T, ip, real, forged string) string {
	t.Helper()
	realRRs, forgedRRs := probeRecords(t, real), probeRecords(t, forged)
	return dnstest.ServeUDP(t, ip, func(q *dns.Msg, send func(*dns.Msg)) {
		name, _ := dnsutil.Question(q)
		if rrs := forgedRRs[strings.ToLower(name)]; rrs != nil {
			send(probeReply(q, rrs))
			time.Sleep(50 * time.Millisecond)
		}
		send(probeReply(q, realRRs[strings.ToLower(name)]))
	}).String()
}

func probeRecords(t *testing.T, text string) map[string][]dns.RR {
	t.Helper()
	out := map[string][]dns.RR{}
	for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		rr, err := dns.New(line)
		if err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		name := strings.ToLower(rr.Header().Name)
		out[name] = append(out[name], rr)
	}
	return out
}

// probeReply answers q with rrs, or NXDOMAIN when there are none.
func probeReply(q *dns.Msg, rrs []dns.RR) *dns.Msg {
	m := dnsutil.SetReply(new(dns.Msg), q)
	m.RecursionAvailable = true
	for _, rr := range rrs {
		m.Answer = append(m.Answer, rr.Clone())
	}
	if len(rrs) == 0 {
		m.Rcode = dns.RcodeNameError
	}
	return m
}

const probeReal = `
www.open.test.    60 IN A 192.0.2.1
www.blocked.test. 60 IN A 192.0.2.2
www.moved.test.   60 IN A 198.51.100.4
`

const probeForged = `
www.blocked.test. 60 IN A 10.10.34.34
`

const probeKnown = `# known good answers
www.open.test.    A 192.0.2.1
www.blocked.test. A 192.0.2.2
www.moved.test.   A 192.0.2.4
gone.test.        NXDOMAIN
`

func probeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// probeRun runs `warden probe` with args and returns its exit code, stdout and stderr.
func probeRun(t *testing.T, env probeEnv, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if env.resolvConf == "" {
		env.resolvConf = probeFile(t, "resolv.conf", "search test\n")
	}
	code := runProbe(context.Background(), env, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestProbeTable(t *testing.T) {
	res := probeResolver(t, "127.0.0.31", probeReal, probeForged)
	dark := probeDarkAddr(t, "127.0.0.32")
	known := probeFile(t, "known.txt", probeKnown)
	code, out, errOut := probeRun(t, probeEnv{}, "--resolver", res, "--trusted", known, "--dark", dark,
		"--wait", "400ms", "--timeout", "300ms", "www.open.test", "www.blocked.test", "www.moved.test", "gone.test")
	if code != 1 {
		t.Errorf("exit %d, want 1 (tampering found); stderr %s", code, errOut)
	}
	for _, want := range []string{
		"NAME ", "VERDICT",
		"www.open.test.     A     " + res + "  consistent",
		"www.blocked.test.  A     " + res + "  injected",
		"www.moved.test.    A     " + res + "  redirected",
		"gone.test.         A     " + res + "  consistent",
		"www.open.test.     A     " + dark + "  consistent",
		"8 pairs: 6 consistent, 0 filtered, 2 tampered (1 injected, 1 redirected), 0 timeout, 0 servfail",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if errOut != "" {
		t.Errorf("stderr for a short run: %q", errOut)
	}
}

func TestProbeJSON(t *testing.T) {
	res := probeResolver(t, "127.0.0.33", probeReal, probeForged)
	forged := probeFile(t, "forged.txt", "10.10.34.0/24\n")
	names := probeFile(t, "names.txt", "# names\nwww.blocked.test\n")
	loc := &probeLocator{}
	code, out, errOut := probeRun(t, probeEnv{locator: loc}, "www.open.test", "--json", "--resolver", res,
		"--forged", forged, "--names", names, "--wait", "400ms")
	if code != 1 {
		t.Errorf("exit %d, want 1; stderr %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want one per pair:\n%s", len(lines), out)
	}
	var got []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, m)
	}
	if g := got[0]; g["name"] != "www.open.test." || g["verdict"] != "consistent" || g["resolver"] != res || g["hop"] != nil {
		t.Errorf("first line %v", g)
	}
	g := got[1]
	if g["name"] != "www.blocked.test." || g["verdict"] != "injected" || g["hop"] != float64(2) || g["hop_addr"] != "198.18.1.2" {
		t.Errorf("second line %v, want injected at hop 2", g)
	}
	if ev, _ := g["evidence"].(string); !strings.Contains(ev, "10.10.34.34") || !strings.Contains(ev, "192.0.2.2") {
		t.Errorf("evidence %q should list both replies", ev)
	}

	// Without the injected name the run is clean.
	code, out, _ = probeRun(t, probeEnv{}, "--json", "--resolver", res, "www.open.test")
	if code != 0 || !strings.Contains(out, `"verdict":"consistent"`) {
		t.Errorf("clean run: exit %d, %s", code, out)
	}
}

func TestProbeProgress(t *testing.T) {
	res := probeResolver(t, "127.0.0.34", probeReal, "")
	args := []string{"--resolver", res, "--wait", "50ms"}
	for i := range 21 {
		args = append(args, fmt.Sprintf("n%d.test", i))
	}
	code, out, errOut := probeRun(t, probeEnv{}, args...)
	if code != 0 {
		t.Errorf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "probed 21/21\n") || !strings.Contains(errOut, "probed 1/21\n") {
		t.Errorf("progress %q, want probed N/21 lines", errOut)
	}
	if !strings.Contains(out, "21 pairs: 21 consistent") {
		t.Errorf("summary missing:\n%s", out)
	}
}

// TestProbeSystemResolver checks that without --resolver the first nameserver of resolv.conf is
// probed. resolv.conf has no port and a resolver on port 53 would need root, so the probe times
// out; the point is which resolver it asked.
func TestProbeSystemResolver(t *testing.T) {
	conf := probeFile(t, "resolv.conf", "nameserver 127.0.0.35\nnameserver 192.0.2.53\n")
	code, out, _ := probeRun(t, probeEnv{resolvConf: conf}, "--json", "--timeout", "200ms", "www.open.test")
	if code != 0 || !strings.Contains(out, `"resolver":"127.0.0.35:53"`) {
		t.Errorf("exit %d, %s; want the first nameserver on port 53", code, out)
	}
}

func TestProbeBadInput(t *testing.T) {
	known := probeFile(t, "known.txt", "www.example. A 192.0.2.1\nwww.example. MX 10 mail\n")
	forged := probeFile(t, "forged.txt", "10.10.34.34/99\n")
	missing := filepath.Join(t.TempDir(), "missing.txt")
	noNS := probeFile(t, "resolv.conf", "search example\n")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--nonsense", "x.test"}, "warden probe: unknown flag --nonsense\nRun 'warden probe --help' for usage.\n"},
		{[]string{"--resolver", "127.0.0.1"}, "no names to probe"},
		{[]string{"--resolver", "dns.example", "x.test"}, `--resolver: resolver "dns.example": want IP or IP:port`},
		{[]string{"--resolver", "127.0.0.1", "--dark", "127.0.0.1:0", "x.test"}, "--dark: resolver \"127.0.0.1:0\": port 0"},
		{[]string{"--resolver", "127.0.0.1", "--type", "MX", "x.test"}, `--type: type "MX"`},
		{[]string{"--resolver", "127.0.0.1", "--wait", "0s", "x.test"}, "--wait and --timeout must be positive"},
		{[]string{"--resolver", "127.0.0.1", "--timeout", "soon", "x.test"}, `--timeout "soon": want a duration`},
		{[]string{"--resolver", "127.0.0.1", "x..test"}, `argument: name "x..test": empty label`},
		{[]string{"--resolver", "127.0.0.1", "--names", missing}, "names: open " + missing},
		{[]string{"--resolver", "127.0.0.1", "--trusted", known, "x.test"}, known + `:2: want NAME A ADDR`},
		{[]string{"--resolver", "127.0.0.1", "--trusted", missing, "x.test"}, "--trusted: trusted channel"},
		{[]string{"--resolver", "127.0.0.1", "--trusted", "tls://dns.example#x", "x.test"}, `host "dns.example" is not an IP address`},
		{[]string{"--resolver", "127.0.0.1", "--forged", forged, "x.test"}, forged + `:1: prefix "10.10.34.34/99"`},
		{[]string{"--resolver", "127.0.0.1", "--forged", missing, "x.test"}, "forged addresses: open " + missing},
		{[]string{"x.test"}, "no nameserver line in " + noNS},
	}
	for _, tc := range tests {
		code, out, errOut := probeRun(t, probeEnv{resolvConf: noNS}, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want 2 and %q", tc.args, code, errOut, out, tc.want)
		}
	}
	if code, out, _ := probeRun(t, probeEnv{}, "--help"); code != 0 || !strings.Contains(out, "Usage: warden probe") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"probe", "--resolver", "1.2.3.4:0", "x.test"}, &out, &errOut); code != 2 {
		t.Errorf("through run: exit %d, %s", code, errOut.String())
	}
}

// probeLocator stands in for hop localisation, which the netns test bed tests for real.
type probeLocator struct{}

func (probeLocator) Locate(context.Context, netip.AddrPort, string, uint16) (int, netip.Addr, error) {
	return 2, netip.MustParseAddr("198.18.1.2"), nil
}

// probeDarkAddr returns a loopback address and port where nothing listens.
func probeDarkAddr(t *testing.T, ip string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}
