package transfer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"codeberg.org/miekg/dns"
)

// notifyTries and notifyFirstWait pace NOTIFY retransmission (RFC 1996 §3.6 leaves the numbers to
// the implementation): five tries, waiting 1 s and then twice as long each time, within the
// context's deadline.
const (
	notifyTries     = 5
	notifyFirstWait = time.Second
)

// Notify tells p that origin changed to soa (RFC 1996), over UDP, retransmitting until a response
// with the query's ID arrives. It succeeds when the response says NOTIFY and NOERROR; any other
// rcode (NOTAUTH, REFUSED) is returned as an error naming it.
func Notify(ctx context.Context, p Peer, origin string, soa *dns.SOA) error {
	origin = fqdnLower(origin)
	if soa == nil {
		return fmt.Errorf("NOTIFY %s to %s: no SOA", origin, p.Addr)
	}
	ctx, cancel := withTimeout(ctx, p.Timeout, 5*time.Second)
	defer cancel()
	q, err := newQuery(origin, dns.TypeSOA, soa, p.Key, dns.OpcodeNotify)
	if err != nil {
		return fmt.Errorf("NOTIFY %s to %s: %w", origin, p.Addr, err)
	}
	if err := notify(ctx, p, q); err != nil {
		return fmt.Errorf("NOTIFY %s to %s: %w", origin, p.Addr, err)
	}
	return nil
}

func notify(ctx context.Context, p Peer, q *query) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", p.Addr.String())
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 65535)
	wait := notifyFirstWait
	for try := 1; try <= notifyTries; try++ {
		if _, err := conn.Write(q.wire); err != nil {
			return err
		}
		until := time.Now().Add(wait)
		last := try == notifyTries
		if dl, ok := ctx.Deadline(); ok && !dl.After(until) {
			// The exchange's deadline comes first: this is the last try, whether or not the
			// context has noticed its deadline by the time the read gives up.
			until, last = dl, true
		}
		_ = conn.SetReadDeadline(until)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("no answer after %d tries: %w", try, ctx.Err())
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					if last {
						return fmt.Errorf("no answer after %d tries", try)
					}
					break
				}
				return err
			}
			if n < 12 || binary.BigEndian.Uint16(buf) != q.id || buf[2]&0x80 == 0 {
				continue
			}
			_, err = q.checkResponse(append([]byte(nil), buf[:n]...))
			return err
		}
		wait *= 2
	}
	return fmt.Errorf("no answer after %d tries", notifyTries)
}
