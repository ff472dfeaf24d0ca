package dnstest

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// StartKnotUpdate runs knotd on 127.0.0.1 and a free port, serving one zone (origin, master-file
// text) that accepts dynamic updates from 127.0.0.1 without TSIG, and returns its address once the
// zone answers. Updates stay in memory: the zone file is never written back and nothing is
// journaled, so every test starts from the text it gave. Knot's serial policy is its default
// (increment). Stopped in t.Cleanup; skipped without knotd, except when CI=true.
func StartKnotUpdate(t testing.TB, origin, zoneText string) string {
	t.Helper()
	bin := peerBin(t, "knotd", "knot")
	dir := knotDir(t)
	zoneFile := filepath.Join(dir, "update.zone")
	if err := os.WriteFile(zoneFile, []byte(zoneText), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n    rundir: %q\n    listen: 127.0.0.1@%d\n", dir, port)
	fmt.Fprintf(&b, "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n")
	fmt.Fprintf(&b, "log:\n  - target: stderr\n    any: info\n")
	fmt.Fprintf(&b, "database:\n    storage: %q\n", dir)
	fmt.Fprintf(&b, "acl:\n  - id: update\n    address: 127.0.0.1\n    action: [update, transfer]\n")
	fmt.Fprintf(&b, "zone:\n  - domain: %q\n    file: %q\n    storage: %q\n", origin, zoneFile, dir)
	fmt.Fprintf(&b, "    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n")
	fmt.Fprintf(&b, "    semantic-checks: off\n    acl: update\n")
	conf := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	runPeer(t, "knotd", exec.Command(bin, "-c", conf), addr, dns.NewMsg(origin, dns.TypeSOA), 10*time.Second)
	if err := waitReady(addr, []Zone{{Origin: origin}}, make(chan struct{})); err != nil {
		t.Fatalf("knotd on %s: %v", addr, err)
	}
	return addr
}

// ExchangeTCP sends the message wire over TCP and returns the parsed response.
func ExchangeTCP(addr string, wire []byte) (*dns.Msg, error) {
	resp, err := exchangeTCP(addr, wire)
	if err != nil {
		return nil, err
	}
	m := &dns.Msg{Data: resp}
	if err := m.Unpack(); err != nil {
		return m, fmt.Errorf("unpack response from %s: %w", addr, err)
	}
	return m, nil
}

// maxAXFRMessages bounds how many messages AXFR reads; the test zones fit in a few.
const maxAXFRMessages = 1000

// AXFRTCP transfers origin from addr over TCP, in Go and returns its records, the closing SOA left out.
func AXFRTCP(addr, origin string) ([]dns.RR, error) {
	conn, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * Timeout)); err != nil {
		return nil, err
	}
	w := NewWire(1, 0)
	if err := w.Question(origin, dns.TypeAXFR, dns.ClassINET); err != nil {
		return nil, err
	}
	q := w.Bytes()
	if _, err := conn.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil {
		return nil, err
	}
	var out []dns.RR
	for range maxAXFRMessages {
		var lenBuf [2]byte
		if _, err := io.ReadFull(conn, lenBuf[:]); err != nil {
			return nil, fmt.Errorf("AXFR %s from %s: %w", origin, addr, err)
		}
		m := &dns.Msg{Data: make([]byte, binary.BigEndian.Uint16(lenBuf[:]))}
		if _, err := io.ReadFull(conn, m.Data); err != nil {
			return nil, fmt.Errorf("AXFR %s from %s: %w", origin, addr, err)
		}
		if err := m.Unpack(); err != nil {
			return nil, fmt.Errorf("AXFR %s from %s: %w", origin, addr, err)
		}
		if m.Rcode != dns.RcodeSuccess {
			return nil, fmt.Errorf("AXFR %s from %s: rcode %d", origin, addr, m.Rcode)
		}
		for _, rr := range m.Answer {
			if _, ok := rr.(*dns.SOA); ok && len(out) > 0 {
				return out, nil
			}
			out = append(out, rr)
		}
	}
	return nil, fmt.Errorf("AXFR %s from %s: no closing SOA in %d messages", origin, addr, maxAXFRMessages)
}
