package dnstest

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/peers"
)

// StartKnotUpdate runs knotd on 127.0.0.1 and a free port, serving one zone (origin, master-file
// text) that accepts dynamic updates from 127.0.0.1 without TSIG, and returns its address once the
// zone answers. Updates stay in memory: the zone file is never written back and nothing is
// journaled, so every test starts from the text it gave. Knot's serial policy is its default
// (increment). Stopped in t.Cleanup; skipped without knotd, except when CI=true.
func StartKnotUpdate(t testing.TB, origin, zoneText string) string {
	t.Helper()
	return startKnot(t, 0, func(dir string) peers.Knot {
		file := filepath.Join(dir, "update.zone")
		if err := os.WriteFile(file, []byte(zoneText), 0o644); err != nil {
			t.Fatal(err)
		}
		return peers.Knot{Zones: []Zone{{Origin: origin, File: file}}, Allow: []string{"update", "transfer"}}
	}).Addr
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
