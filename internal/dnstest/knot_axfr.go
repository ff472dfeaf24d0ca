package dnstest

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/peers"
)

// transferTimeout bounds one AXFR from a local peer.
const transferTimeout = 30 * time.Second

// StartKnotAXFR runs knotd like StartKnot, but lets 127.0.0.1 transfer every zone, so a test can
// read back exactly what Knot made of a zone file. It returns the server's address; the zones
// must all load, or the test fails with Knot's log.
func StartKnotAXFR(t testing.TB, zones []Zone) (addr string) {
	t.Helper()
	return startKnot(t, 0, func(string) peers.Knot {
		return peers.Knot{Zones: zones, Allow: []string{"transfer"}}
	}).Addr
}

// AXFR transfers origin from addr with kdig and returns the zone's records, the closing SOA
// left out. kdig prints every record in the generic form of RFC 3597, which the message library
// reads back into the known type where it has one; that way a record type neither side knows
// keeps its type number (the library's own AXFR client loses it when unpacking).
func AXFR(t testing.TB, addr, origin string) []dns.RR {
	t.Helper()
	bin := peerBin(t, "kdig")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("AXFR: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "@"+host, "-p", port, "+generic", "+nocomments", "+nostats",
		"+noquestion", "AXFR", origin).Output()
	if err != nil {
		t.Fatalf("AXFR %s from %s: %v\n%s", origin, addr, err, out)
	}
	var rrs []dns.RR
	for line := range strings.Lines(string(out)) {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		rr, err := dns.New(line)
		if err != nil {
			t.Fatalf("AXFR %s from %s: %q: %v", origin, addr, line, err)
		}
		rrs = append(rrs, rr)
	}
	if len(rrs) < 2 {
		t.Fatalf("AXFR %s from %s: %d records:\n%s", origin, addr, len(rrs), out)
	}
	if _, ok := rrs[len(rrs)-1].(*dns.SOA); !ok {
		t.Fatalf("AXFR %s from %s: does not end with the SOA:\n%s", origin, addr, out)
	}
	return rrs[:len(rrs)-1]
}
