package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
)

// maxStrays bounds how many datagrams from the wrong address or for another query one probe reads
// before it stops listening: a flood must not keep a probe busy beyond its deadline's worth.
const maxStrays = 256

// seen is one distinct reply, in the order the replies arrived.
type seen struct {
	answer Answer
	after  time.Duration // from sending the query
	copies int           // identical replies, counted once in the verdict
}

// raceOutcome is everything that came back for one query on one socket.
type raceOutcome struct {
	replies []seen
	// strays counts datagrams ignored: from an address other than the one asked, or not a reply
	// to this query (ID or question differ), or unparseable.
	strays int
}

// race sends one query for name and qtype to target from an ordinary unconnected UDP socket, waits
// up to timeout for the first reply that matches it, then keeps listening for hold more, because
// an on-path injector's forged reply and the resolver's real one both arrive, usually the forged
// one first. Replies are matched on ID and question; the question's case is compared loosely, as
// some injectors lowercase it.
func race(ctx context.Context, target netip.AddrPort, name string, qtype uint16, timeout, hold time.Duration) (raceOutcome, error) {
	q := dns.NewMsg(name, qtype)
	if q == nil {
		return raceOutcome{}, fmt.Errorf("query type %d is not supported", qtype)
	}
	q.UDPSize = 1232
	if err := q.Pack(); err != nil {
		return raceOutcome{}, fmt.Errorf("pack query for %q: %w", name, err)
	}
	qend, err := questionEnd(q.Data)
	if err != nil {
		return raceOutcome{}, err
	}
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return raceOutcome{}, fmt.Errorf("open UDP socket: %w", err)
	}
	defer conn.Close()
	// Closing the socket is what wakes a blocked read when ctx ends early.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	start := time.Now()
	if _, err := conn.WriteToUDPAddrPort(q.Data, target); err != nil {
		return raceOutcome{}, fmt.Errorf("send to %s: %w", target, err)
	}
	var out raceOutcome
	deadline := start.Add(timeout)
	buf := make([]byte, 65535)
	want := netip.AddrPortFrom(target.Addr().Unmap(), target.Port())
	for out.strays < maxStrays {
		if err := conn.SetReadDeadline(deadline); err != nil {
			return out, err
		}
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return out, nil
			}
			return out, fmt.Errorf("read from %s: %w", target, err)
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		msg := buf[:n]
		if from != want || !matches(msg, q.Data, qend) {
			out.strays++
			continue
		}
		a, err := parseAnswer(msg, qtype)
		if err != nil {
			out.strays++
			continue
		}
		out.add(a, time.Since(start))
		if len(out.replies) == 1 && out.replies[0].copies == 1 {
			deadline = time.Now().Add(hold)
		}
	}
	return out, nil
}

func (o *raceOutcome) add(a Answer, after time.Duration) {
	for i := range o.replies {
		if o.replies[i].answer.Equal(a) {
			o.replies[i].copies++
			return
		}
	}
	o.replies = append(o.replies, seen{answer: a, after: after, copies: 1})
}

// matches reports whether msg is a reply to the query sent as sent: QR set, same ID, one question
// equal to ours up to letter case.
func matches(msg, sent []byte, qend int) bool {
	if len(msg) < qend || msg[2]&0x80 == 0 || msg[0] != sent[0] || msg[1] != sent[1] {
		return false
	}
	if msg[4] != 0 || msg[5] != 1 {
		return false
	}
	return bytes.EqualFold(msg[12:qend], sent[12:qend])
}

// questionEnd returns the offset after the single question of a packed query.
func questionEnd(b []byte) (int, error) {
	if len(b) < 12 {
		return 0, errors.New("packed query has no header")
	}
	n := wire.NameLen(b[12:])
	if n < 0 || 12+n+4 > len(b) {
		return 0, errors.New("packed query has no complete question")
	}
	return 12 + n + 4, nil
}
