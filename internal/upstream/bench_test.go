package upstream

import (
	"context"
	"testing"

	"codeberg.org/miekg/dns"
)

// BenchmarkPackValidate measures building a query with 0x20 and checking its reply: the CPU cost
// an Exchange adds to the network round trip.
func BenchmarkPackValidate(b *testing.B) {
	q := mustQuery(b, "www.example.", dns.TypeA)
	out, err := q.pack(1, true)
	if err != nil {
		b.Fatal(err)
	}
	reply := answerA(out.msg)
	b.ReportAllocs()
	for b.Loop() {
		out, _ := q.pack(1, true)
		copy(reply[headerLen:out.qend], out.msg[headerLen:out.qend])
		if _, err := validate(reply, out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUDPExchange measures a whole exchange over loopback: socket, send, receive, validate.
func BenchmarkUDPExchange(b *testing.B) {
	addr := udpServer(b, func(q []byte, reply func([]byte)) { reply(answerA(q)) })
	u := NewUDP(addr, Options{Timeout: slow})
	q := mustQuery(b, "www.example.", dns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := u.Exchange(context.Background(), q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUDPExchangeHoldOn is BenchmarkUDPExchange with Hold-On: the TTL socket option, its
// control message, the history, and the holds of replies that come sooner than half the usual
// loopback round trip.
func BenchmarkUDPExchangeHoldOn(b *testing.B) {
	addr := udpServer(b, func(q []byte, reply func([]byte)) { reply(answerA(q)) })
	u := NewUDP(addr, Options{Timeout: slow, HoldOn: NewHoldOn(nil)})
	q := mustQuery(b, "www.example.", dns.TypeA)
	// The first exchanges, with no history yet, are held for the unknown server's window: they
	// are the start of a server's life, not its steady state.
	for range historyLen {
		if _, err := u.Exchange(context.Background(), q); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := u.Exchange(context.Background(), q); err != nil {
			b.Fatal(err)
		}
	}
}
