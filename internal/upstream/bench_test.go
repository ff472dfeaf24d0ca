package upstream

import (
	"context"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/validator"
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

// BenchmarkUDPExchangeHoldOnValidating is BenchmarkUDPExchangeHoldOn with a signed answer and
// Hold-On's validation wired to a chain that knows the zone's keys: the replies at the usual
// time pay nothing for it, the early ones a check of the reply against the signature memo.
func BenchmarkUDPExchangeHoldOnValidating(b *testing.B) {
	z := newSignedZone(b, "signed.test.")
	addr := udpServer(b, func(q []byte, reply func([]byte)) { reply(z.answer(q, realAddr)) })
	f := &tcpFetcher{up: NewUDP(addr, Options{Timeout: slow})}
	chain := validator.NewChain(validator.Options{}, z.anchors(b), f)
	if r, _, _ := chain.Keys(context.Background(), z.origin); r.State != validator.Secure {
		b.Fatalf("keys of %s: %v", z.origin, r)
	}
	check := new(validator.ReplyCheck)
	check.Use(chain)
	u := NewUDP(addr, Options{Timeout: slow, HoldOn: NewHoldOn(nil), Validates: check.Validates})
	q := mustQuery(b, "www.signed.test.", dns.TypeA)
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
