package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"warden/internal/dnstest"
)

// TestProbeDeclaredFiltering: a real resolver that filters and says so is not tampering. Warden
// forwards shop.test. to Knot DNS and filters two of its names, one by an RPZ rule of its
// operator (Extended DNS Error 15, Blocked) and one by a blocklist (17, Filtered); `warden
// probe` gives both the verdict filtered with the code and text as evidence, counts them apart,
// and exits 0. With an injector's resolver among the resolvers the run still exits 1.
func TestProbeDeclaredFiltering(t *testing.T) {
	dir := t.TempDir()
	zone := filepath.Join(dir, "shop.test.zone")
	writeFile(t, zone, `$ORIGIN shop.test.
$TTL 60
@ SOA ns1 hostmaster 1 3600 600 86400 60
@ NS ns1
ns1 A 192.0.2.1
www A 192.0.2.10
blocked A 192.0.2.11
ads A 192.0.2.66
`)
	knot := dnstest.StartKnot(t, []dnstest.Zone{{Origin: "shop.test.", File: zone}})
	rpz := filepath.Join(dir, "local.rpz")
	writeFile(t, rpz, `$TTL 60
@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60
@ NS localhost.
blocked.shop.test CNAME .
`)
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("0.0.0.0 ads.shop.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeUDPTCPPort(t)
	f := &commonFlags{listen: []string{addr}, forwards: []string{"shop.test.=" + knot},
		rpz: []string{"local.rpz.=" + rpz}, blocklists: []string{hosts}}
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, f, cfg)
	waitFor(t, "the first answer", func() bool { return askRcode(addr, "www.shop.test.") == "NOERROR 192.0.2.10" })
	for name, want := range map[string]string{"blocked.shop.test.": "NXDOMAIN ede=15", "ads.shop.test.": "NXDOMAIN ede=17"} {
		if got := askRcode(addr, name); got != want {
			t.Fatalf("%s: Warden answers %s, want %s", name, got, want)
		}
	}

	code, out, errOut := probeRun(t, probeEnv{}, "--resolver", addr, "--wait", "200ms", "--timeout", "2s",
		"www.shop.test", "blocked.shop.test", "ads.shop.test")
	if code != 0 {
		t.Errorf("exit %d, want 0: declared filtering is not tampering; stderr %s", code, errOut)
	}
	for _, want := range []string{
		"www.shop.test.      A     " + addr + "  consistent",
		"blocked.shop.test.  A     " + addr + "  filtered    -    resolver declares filtering: EDE 15 (Blocked)",
		"ads.shop.test.      A     " + addr + "  filtered    -    resolver declares filtering: EDE 17 (Filtered)",
		"3 pairs: 1 consistent, 2 filtered, 0 tampered, 0 timeout, 0 servfail",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = probeRun(t, probeEnv{}, "--json", "--resolver", addr, "--wait", "200ms", "--timeout", "2s", "blocked.shop.test")
	if code != 0 || !strings.Contains(out, `"verdict":"filtered"`) || !strings.Contains(out, `EDE 15 (Blocked)`) {
		t.Errorf("--json: exit %d, %s", code, out)
	}

	// Filtering beside injection: the injection decides the exit status.
	injector := probeResolver(t, "127.0.35.40", probeReal, probeForged)
	code, out, errOut = probeRun(t, probeEnv{}, "--resolver", addr, "--resolver", injector, "--wait", "200ms",
		"--timeout", "2s", "--max-hops", "0", "blocked.shop.test", "www.blocked.test")
	if code != 1 {
		t.Errorf("exit %d, want 1 (injection found beside filtering); stderr %s", code, errOut)
	}
	if !strings.Contains(out, "4 pairs: 2 consistent, 1 filtered, 1 tampered (1 injected)") {
		t.Errorf("summary:\n%s", out)
	}
}
