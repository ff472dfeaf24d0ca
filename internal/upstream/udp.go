package upstream

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"warden/internal/query"
)

// UDP sends each query from a fresh socket. The socket is connected to the server, so the kernel
// drops datagrams from any other address, and bound by the kernel to a random ephemeral port, so
// an off-path forger must guess the port as well as the ID and the 0x20 case pattern.
type UDP struct {
	counters
	addr string
	// server is addr parsed; serverErr says why addr is not an IP address and port.
	server    netip.AddrPort
	serverErr error
	opts      Options
	// hist is the round trips and IP TTLs of the server's replies, for Options.HoldOn.
	hist history
}

var _ Upstream = (*UDP)(nil)

// NewUDP returns an Upstream for the server at addr ("127.0.0.1:53", "[::1]:53").
func NewUDP(addr string, opts Options) *UDP {
	u := &UDP{addr: addr, opts: opts}
	u.server, u.serverErr = netip.ParseAddrPort(addr)
	return u
}

// Addr returns the server address.
func (u *UDP) Addr() string { return u.addr }

// Stats returns the counters and SRTT.
func (u *UDP) Stats() Stats { return u.snapshot() }

// udpBufSize is the receive buffer of one query in flight. It holds any reply within the payload
// Warden advertises (at most 4096) and is a sixteenth of the largest datagram: under a flood every
// query in flight holds one. A longer datagram, from a server that ignores the advertised size, is
// noticed by the kernel's MSG_TRUNC and taken as a truncated reply, so the question goes to TCP.
const udpBufSize = 4096

// oobSize holds the control message of one IP TTL or IPv6 hop limit (an int), with room to spare.
const oobSize = 64

var udpBufs = sync.Pool{New: func() any { b := make([]byte, udpBufSize+oobSize); return &b }}

// Exchange sends q and waits for a matching reply until the deadline. A reply with TC=1 is
// returned together with ErrTruncated. With Options.HoldOn, a first reply that looks unlike the
// server's may be held for a second, different one (holdon.go); two different replies without a
// validated winner come back as the likelier one with ErrInjected.
func (u *UDP) Exchange(ctx context.Context, q *Query) (*Reply, error) {
	out, err := q.pack(randomID(), !u.opts.No0x20)
	if err != nil {
		return nil, err
	}
	u.queries.Add(1)
	start := time.Now()
	if u.serverErr != nil {
		return nil, u.fail(ctx, start, fmt.Errorf("udp %s: %w", u.addr, u.serverErr))
	}
	deadline := u.opts.deadline(ctx, start)
	sock, err := openDgram(u.server, u.opts.HoldOn != nil)
	if err != nil {
		return nil, u.fail(ctx, start, fmt.Errorf("udp %s: %w", u.addr, err))
	}
	defer sock.close()
	if err := sock.send(out.msg, deadline); err != nil {
		return nil, u.fail(ctx, start, fmt.Errorf("udp %s: %w", u.addr, err))
	}
	bp := udpBufs.Get().(*[]byte)
	defer udpBufs.Put(bp)
	buf, oob := (*bp)[:udpBufSize], (*bp)[udpBufSize:]
	if u.opts.HoldOn == nil {
		oob = nil
	}
	// held is the first reply while the window is open for a second one; until is the end of the
	// wait: the deadline, or the window's end while a reply is held.
	var held *candidate
	var usual usual
	until := deadline
	for {
		n, oobn, truncated, err := sock.read(ctx, until, buf, oob)
		if err != nil {
			if held != nil && ctx.Err() == nil {
				// The window closed without a second reply: the first stands.
				return u.acceptHeld(sock, out, held, usual, start)
			}
			if u.opts.Tap != nil {
				u.opts.tap(query.UDP, sock.local(), u.server, &out, nil, start)
			}
			return nil, u.fail(ctx, start, fmt.Errorf("udp %s: %w", u.addr, err))
		}
		if truncated {
			r, err := validateHead(buf[:n], out)
			if err != nil {
				u.mismatches.Add(1)
				continue
			}
			if held != nil {
				// A truncated datagram cannot be compared with the held reply; the held one
				// stands, and the truncated one is not evidence either way.
				continue
			}
			r.Flags |= query.FlagTC
			head := truncateInPlace(buf[:out.qend])
			if u.opts.Tap != nil {
				u.opts.tap(query.UDP, sock.local(), u.server, &out, head, start)
			}
			return u.accept(r, head, start)
		}
		r, err := validate(buf[:n], out)
		if err != nil {
			// Keep listening: a forged or stale datagram must not end the wait for the real one.
			u.mismatches.Add(1)
			continue
		}
		if u.opts.HoldOn == nil || r.Truncated() {
			if u.opts.Tap != nil {
				u.opts.tap(query.UDP, sock.local(), u.server, &out, buf[:n], start)
			}
			return u.accept(r, buf[:n], start)
		}
		c := candidate{data: buf[:n], rtt: time.Since(start), ttl: ipTTL(oob[:oobn])}
		if held == nil {
			usual = u.usual()
			if !u.shouldHold(c, usual) {
				u.remember(c)
				return u.acceptCandidate(sock, out, c, start)
			}
			c.data = append([]byte(nil), c.data...)
			held = &c
			if end := start.Add(u.window(usual, deadline.Sub(start))); end.Before(deadline) {
				until = end
			}
			continue
		}
		if bytes.Equal(c.data, held.data) {
			continue // the same reply twice: a duplicate, not a rival
		}
		return u.rivals(sock, out, q, *held, c, usual, start)
	}
}

// shouldHold says whether the first reply waits for a rival: it came early or with an IP TTL
// the server's replies do not carry, and it did not validate. Validation is asked last, only of
// a reply that would otherwise be held: a reply at the usual time and TTL, the common case, pays
// nothing for it.
func (u *UDP) shouldHold(c candidate, us usual) bool {
	// With too few replies from any server to say what is early, every reply would be held,
	// for unknownWindow.
	suspect := !us.ok || us.early(c.rtt) || us.oddTTL(c.ttl)
	if !suspect {
		return false
	}
	return u.opts.Validates == nil || !u.opts.Validates(c.data)
}

// usual is this server's history, or every server's while it has too little of its own; the
// TTL is always this server's own (another server's says nothing of this one's path).
func (u *UDP) usual() usual {
	own := u.hist.usual()
	if own.ok {
		return own
	}
	us := u.opts.HoldOn.everyServer.usual()
	us.ttl = own.ttl
	us.stranger = own.ttl < 0 && u.hist.len() == 0
	return us
}

// window is how long a held reply waits from the moment the query went out, of the budget the
// exchange has before its deadline.
func (u *UDP) window(us usual, budget time.Duration) time.Duration {
	// Where the window is a guess (no history of the server, or of any), it takes at most a
	// quarter of the budget: a caller that allows 400 ms for a whole question must not lose 250
	// of them to every first exchange.
	switch {
	case !us.ok:
		return min(unknownWindow, budget/4)
	case us.stranger:
		// How far this server is cannot be known yet: twice what is usual for servers, so that
		// a rival slower than the rest still comes in time.
		return min(2*us.window(), unknownWindow, budget/4)
	}
	return us.window()
}

// remember adds an accepted reply to this server's history and to every server's.
func (u *UDP) remember(c candidate) {
	u.hist.add(c.rtt, c.ttl)
	u.opts.HoldOn.everyServer.add(c.rtt, -1)
}

// acceptHeld accepts the held reply when no rival came within the window. A reply held for its
// TTL is not taken for the server's yet: the caller confirms it over TCP.
func (u *UDP) acceptHeld(sock *dgram, out outgoing, held *candidate, us usual, start time.Time) (*Reply, error) {
	r, err := u.acceptCandidate(sock, out, *held, start)
	if err == nil && us.oddTTL(held.ttl) {
		return r, ErrUnconfirmed
	}
	u.remember(*held)
	return r, err
}

// acceptCandidate returns c as the reply, its RTT the one it arrived with rather than the time of
// the end of a window.
func (u *UDP) acceptCandidate(sock *dgram, out outgoing, c candidate, start time.Time) (*Reply, error) {
	r, err := validate(c.data, out)
	if err != nil {
		return nil, err // cannot happen: c was validated when it arrived
	}
	if u.opts.Tap != nil {
		u.opts.tap(query.UDP, sock.local(), u.server, &out, c.data, start)
	}
	r.RTT = c.rtt
	r.ttl = c.ttl
	r.Data = append([]byte(nil), c.data...)
	u.observe(r.RTT)
	return &r, nil
}

// rivals decides between two different replies to one query and counts the injection. The loser
// is dropped here, so nothing after the exchange can cache it, and neither goes into the history
// unless validation picked it: a forgery must not teach the detector what the server looks like.
func (u *UDP) rivals(sock *dgram, out outgoing, q *Query, first, second candidate, us usual, start time.Time) (*Reply, error) {
	second.data = append([]byte(nil), second.data...)
	winner, confirmed := choose(first, second, us, u.opts.Validates)
	why := "two different replies; the one matching the server's TTL and timing kept, TCP asked"
	if confirmed {
		why = "two different replies; the one that validates kept"
		u.remember(winner)
	}
	u.opts.HoldOn.detected(u.addr, q.Name, why)
	r, err := u.acceptCandidate(sock, out, winner, start)
	if err != nil || confirmed {
		return r, err
	}
	return r, ErrInjected
}

// accept finishes an accepted reply: copy the bytes for the caller, measure, count truncation.
func (c *counters) accept(r Reply, b []byte, start time.Time) (*Reply, error) {
	r.RTT = time.Since(start)
	r.Data = append([]byte(nil), b...)
	c.observe(r.RTT)
	if r.Truncated() {
		c.truncated.Add(1)
		return &r, ErrTruncated
	}
	return &r, nil
}

// truncateInPlace turns the header and question of a reply too long for the buffer into the
// reply a server would have sent had it respected the payload: no records and TC=1.
func truncateInPlace(head []byte) []byte {
	binary.BigEndian.PutUint16(head[2:], binary.BigEndian.Uint16(head[2:])|query.FlagTC)
	clear(head[6:headerLen])
	return head
}

// confirmed is told what TCP said of a reply that came back with ErrUnconfirmed: the same answer
// makes it the server's (its TTL goes into the history, so that a changed route is learnt);
// another answer is an injection.
func (u *UDP) confirmed(q *Query, r *Reply, same bool) {
	if same {
		u.remember(candidate{rtt: r.RTT, ttl: r.ttl})
		return
	}
	u.opts.HoldOn.detected(u.addr, q.Name, "a lone reply with an IP TTL unlike the server's, and TCP answered otherwise")
}
