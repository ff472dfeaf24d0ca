package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"warden/internal/dnstest"
	"warden/internal/wire"

	"codeberg.org/miekg/dns"
)

// answerA builds a reply to the query q the way a server does: header copied with QR and RA set,
// the question echoed byte for byte, and one A record 192.0.2.1 for the question's name. It returns
// nil for input that is not a query with one question.
func answerA(q []byte) []byte {
	if len(q) < headerLen || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	end, err := wire.SkipName(q, headerLen)
	if err != nil || end+4 > len(q) {
		return nil
	}
	end += 4
	r := append([]byte(nil), q[:end]...)
	r[2] |= 0x80 // QR
	r[3] = 0x80  // RA, rcode 0
	binary.BigEndian.PutUint16(r[6:], 1)
	binary.BigEndian.PutUint16(r[8:], 0)
	binary.BigEndian.PutUint16(r[10:], 0)
	r = append(r, 0xc0, headerLen, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1)
	return r
}

// udpServer runs handle for every datagram that arrives on a loopback UDP socket until the test
// ends; handle may send any number of datagrams back through reply (from the same socket, so they
// pass the client's connected-socket filter).
func udpServer(t testing.TB, handle func(q []byte, reply func([]byte))) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, maxMsgLen)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			handle(q, func(b []byte) { pc.WriteTo(b, from) })
		}
	})
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return pc.LocalAddr().String()
}

// streamServer serves framed DNS over l: for every query, handle returns the messages to write
// back (in order). With hangUp it closes each connection after its first query's answer, as a
// server does that times idle connections out. It stops when the test ends and counts the
// connections it accepted in accepts.
func streamServer(t *testing.T, l net.Listener, hangUp bool, handle func(q []byte) [][]byte) (addr string, accepts *atomic.Int32) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	accepts = new(atomic.Int32)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				for {
					var lb [2]byte
					if _, err := io.ReadFull(c, lb[:]); err != nil {
						return
					}
					q := make([]byte, binary.BigEndian.Uint16(lb[:]))
					if _, err := io.ReadFull(c, q); err != nil {
						return
					}
					for _, m := range handle(q) {
						f := binary.BigEndian.AppendUint16(nil, uint16(len(m)))
						if _, err := c.Write(append(f, m...)); err != nil {
							return
						}
					}
					if hangUp {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String(), accepts
}

// selfSigned returns a certificate for dns.example and 127.0.0.1, and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	c := dnstest.SelfSigned(t)
	return c.Cert, c.Pool
}

// unpack parses a reply with the DNS library, as an independent check of what was accepted.
func unpack(t *testing.T, b []byte) *dns.Msg {
	t.Helper()
	m := &dns.Msg{Data: b}
	if err := m.Unpack(); err != nil {
		t.Fatalf("unpack reply: %v", err)
	}
	return m
}

// firstA returns the address of the first A record in the answer section.
func firstA(t *testing.T, m *dns.Msg) netip.Addr {
	t.Helper()
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.Addr
		}
	}
	t.Fatalf("no A record in %v", m.Answer)
	return netip.Addr{}
}

func mustQuery(t testing.TB, name string, qtype uint16) *Query {
	t.Helper()
	q, err := NewQuery(name, qtype)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// isTimeout reports an ErrTimeout error.
func isTimeout(err error) bool { return errors.Is(err, ErrTimeout) }

const (
	// slow is the timeout for exchanges that should end long before it: generous, so that a
	// loaded machine (race detector, parallel packages) does not turn a success into a timeout.
	slow = 10 * time.Second
	// bound is how long an exchange that must fail fast (refused, closed, cancelled) may take,
	// again with room for a loaded machine; it only has to be clearly below slow.
	bound = 5 * time.Second
)
