package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/wire"
)

// TestForwardUnknownTypes: records of a type the DNS library does not know pass through the
// resolver with their type, whether the answer is cached (TTL 300) or passed on as it came
// (TTL 0, which is not cached).
func TestForwardUnknownTypes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "unknown.test.zone")
	writeFile(t, file, `$ORIGIN unknown.example.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
cached 300 TYPE65280 \# 3 010203
passed 0 TYPE65281 \# 2 abcd
`)
	upstream := dnstest.StartKnot(t, []dnstest.Zone{{Origin: "unknown.example.", File: file}})
	addr := freePort(t)
	cfgPath := filepath.Join(dir, "warden.yaml")
	writeFile(t, cfgPath, fmt.Sprintf("listen: [%q]\nzones: []\nresolver:\n  forward: [{zone: \".\", upstreams: [%q]}]\ncontrol: {socket: \"\"}\n", addr, upstream))
	f := &commonFlags{config: cfgPath}
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, f, cfg)
	for _, c := range []struct {
		name string
		typ  uint16
	}{{"cached.unknown.example.", 65280}, {"passed.unknown.example.", 65281}} {
		var got []uint16
		waitFor(t, "an answer for "+c.name, func() bool {
			m, err := dnstest.Exchange(addr, dnstest.Query{Name: c.name, Type: c.typ, RD: true})
			if err != nil {
				return false
			}
			full, err := wire.Unpack(m.Data)
			if err != nil || full.Rcode != dns.RcodeSuccess || len(full.Answer) == 0 {
				return false
			}
			got = got[:0]
			for _, rr := range full.Answer {
				got = append(got, dns.RRToType(rr))
			}
			return true
		})
		if len(got) != 1 || got[0] != c.typ {
			t.Errorf("%s: answer types %v, want [%d]", c.name, got, c.typ)
		}
	}
}
