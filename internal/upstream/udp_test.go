package upstream

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
)

// TestUDP0x20 captures the query names a server receives: they carry mixed case, the same letters,
// and the reply (which echoes the case) is accepted.
func TestUDP0x20(t *testing.T) {
	var mu sync.Mutex
	var seen [][]byte
	addr := udpServer(t, func(q []byte, reply func([]byte)) {
		mu.Lock()
		seen = append(seen, q)
		mu.Unlock()
		reply(answerA(q))
	})
	u := NewUDP(addr, Options{Timeout: slow})
	name := "abcdefghijklmnop.qrstuvwxyz.example."
	wire, _ := nameToWire(name)
	const n = 8
	for range n {
		if _, err := u.Exchange(context.Background(), mustQuery(t, name, dns.TypeA)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	mixed := 0
	ids := map[uint16]bool{}
	for _, q := range seen {
		got := q[headerLen : headerLen+len(wire)]
		if !bytes.EqualFold(got, wire) {
			t.Fatalf("sent name %q, want %q in some case", got, wire)
		}
		if !bytes.Equal(got, wire) && !bytes.Equal(got, bytes.ToUpper(wire)) {
			mixed++
		}
		ids[binary.BigEndian.Uint16(q)] = true
	}
	// 30 letters per name: all lower or all upper case by chance has probability 2^-29 per query.
	if mixed != n {
		t.Errorf("%d of %d names had mixed case", mixed, n)
	}
	if len(ids) < n-1 {
		t.Errorf("only %d distinct IDs in %d queries", len(ids), n)
	}
	mu.Unlock()
	if s := u.Stats(); s.Queries != n || s.Mismatches != 0 {
		t.Errorf("stats %+v", s)
	}

	noMix := NewUDP(addr, Options{No0x20: true})
	if _, err := noMix.Exchange(context.Background(), mustQuery(t, name, dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if last := seen[len(seen)-1]; !bytes.Equal(last[headerLen:headerLen+len(wire)], wire) {
		t.Errorf("No0x20 sent %q, want %q", last[headerLen:headerLen+len(wire)], wire)
	}
}

// TestUDPSpoofed has the server send forged replies before the real one: wrong letter case, wrong
// ID, wrong question type, a query (QR=0) and garbage. Each is dropped and counted; the real reply
// that follows is accepted.
func TestUDPSpoofed(t *testing.T) {
	addr := udpServer(t, func(q []byte, reply func([]byte)) {
		good := answerA(q)
		wrongCase := bytes.Clone(good)
		for i := headerLen + 1; i < len(wrongCase); i++ {
			if c := wrongCase[i] | 0x20; c >= 'a' && c <= 'z' {
				wrongCase[i] ^= 0x20 // flip the case of the first letter only
				break
			}
		}
		wrongID := bytes.Clone(good)
		wrongID[1]++
		end, _ := wire.SkipName(good, headerLen)
		wrongType := bytes.Clone(good)
		wrongType[end+1]++
		notResponse := bytes.Clone(good)
		notResponse[2] &^= 0x80
		for _, b := range [][]byte{wrongCase, wrongID, wrongType, notResponse, {1, 2, 3}} {
			reply(b)
		}
		reply(good)
	})
	u := NewUDP(addr, Options{Timeout: slow})
	r, err := u.Exchange(context.Background(), mustQuery(t, "www.spoof.example.", dns.TypeA))
	if err != nil {
		t.Fatal(err)
	}
	if a := firstA(t, unpack(t, r.Data)); a.String() != "192.0.2.1" {
		t.Errorf("A = %v", a)
	}
	if s := u.Stats(); s.Mismatches != 5 || s.Queries != 1 || s.Errors != 0 {
		t.Errorf("stats %+v, want 5 mismatches", s)
	}
}

// TestUDPOnlyForgeries: when only forged replies come, the exchange times out at the deadline
// rather than accepting one.
func TestUDPOnlyForgeries(t *testing.T) {
	addr := udpServer(t, func(q []byte, reply func([]byte)) {
		b := answerA(q)
		b[0]++
		reply(b)
	})
	u := NewUDP(addr, Options{Timeout: 150 * time.Millisecond})
	start := time.Now()
	_, err := u.Exchange(context.Background(), mustQuery(t, "x.example.", dns.TypeA))
	if !isTimeout(err) {
		t.Fatalf("err %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 140*time.Millisecond || d > bound {
		t.Errorf("returned after %v, want about 150ms", d)
	}
	if s := u.Stats(); s.Timeouts != 1 || s.Mismatches != 1 || s.SRTT < 140*time.Millisecond {
		t.Errorf("stats %+v", s)
	}
}

// TestUDPContext checks that a context deadline and a cancellation end a wait on a silent server.
func TestUDPContext(t *testing.T) {
	addr := udpServer(t, func([]byte, func([]byte)) {})
	u := NewUDP(addr, Options{Timeout: slow})

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := u.Exchange(ctx, mustQuery(t, "x.example.", dns.TypeA))
	if !isTimeout(err) {
		t.Fatalf("deadline: err %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > bound {
		t.Errorf("deadline: returned after %v", d)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start = time.Now()
	_, err = u.Exchange(ctx, mustQuery(t, "x.example.", dns.TypeA))
	if !errors.Is(err, context.Canceled) || isTimeout(err) {
		t.Fatalf("cancel: err %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > bound {
		t.Errorf("cancel: returned after %v", d)
	}
	if s := u.Stats(); s.Queries != 2 || s.Timeouts != 1 || s.Errors != 0 {
		t.Errorf("stats %+v, want 2 queries and 1 timeout", s)
	}
}

// TestUDPRefused: with nothing listening, the kernel reports the ICMP port unreachable on the
// connected socket and the exchange fails fast as an error, not a timeout.
func TestUDPRefused(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	u := NewUDP(addr, Options{Timeout: slow})
	start := time.Now()
	_, err = u.Exchange(context.Background(), mustQuery(t, "x.example.", dns.TypeA))
	if err == nil || isTimeout(err) {
		t.Fatalf("err %v, want a refused error", err)
	}
	if d := time.Since(start); d > bound {
		t.Errorf("took %v", d)
	}
	if s := u.Stats(); s.Errors != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestBadQuery(t *testing.T) {
	u := NewUDP("127.0.0.1:1", Options{})
	for _, q := range []*Query{nil, {Name: nil}, {Name: []byte{3, 'a', 'b'}}, {Name: []byte{1, 'a', 0, 0}}, {Name: []byte{64}}} {
		if _, err := u.Exchange(context.Background(), q); !errors.Is(err, ErrBadQuery) {
			t.Errorf("query %v: err %v, want ErrBadQuery", q, err)
		}
	}
	if s := u.Stats(); s.Queries != 0 {
		t.Errorf("bad queries were counted as sent: %+v", s)
	}
}

// TestUDPOversizeReply has the server ignore the advertised payload and send a reply longer than
// the receive buffer: it must come back as a truncated reply (so Plain asks over TCP), not as a
// reply cut short or a timeout.
func TestUDPOversizeReply(t *testing.T) {
	addr := udpServer(t, func(q []byte, reply func([]byte)) {
		r := answerA(q)
		// Padding after the last record is tolerated by the parser; what matters is the length.
		reply(append(r, make([]byte, 2*udpBufSize)...))
	})
	u := NewUDP(addr, Options{Timeout: slow})
	r, err := u.Exchange(context.Background(), mustQuery(t, "big.example.", dns.TypeA))
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("err %v, want ErrTruncated", err)
	}
	m := unpack(t, r.Data)
	if !m.Truncated || len(m.Answer) != 0 || len(m.Ns) != 0 || len(m.Extra) != 0 {
		t.Errorf("reply %v, want TC=1 and no records", m)
	}
	if s := u.Stats(); s.Truncated != 1 || s.Mismatches != 0 {
		t.Errorf("stats %+v", s)
	}
}
