package resolver

import (
	"context"
	"net/netip"

	"codeberg.org/miekg/dns"
)

// Exchanger sends one query to one server and returns its reply; transports (UDP with TCP on
// truncation, and the rest) live behind it.
type Exchanger interface {
	Exchange(ctx context.Context, q Question, server netip.Addr) (*dns.Msg, error)
}

// Resolve runs a Resolution to its end, one query at a time, within ctx. It is the whole I/O loop:
// every decision is the Resolution's. An Exchanger that also reports RTTs lets it prefer the
// fastest server of each zone.
func Resolve(ctx context.Context, x Exchanger, q Question, hints []NameServer, limits Limits) Result {
	r := New(q, hints, limits)
	if rtt, ok := x.(RTTs); ok {
		r.rtt = rtt
	}
	for {
		step := r.Next()
		if step.Done {
			return r.Result()
		}
		if ctx.Err() != nil {
			r.Feed(nil, ctx.Err())
			return Result{Rcode: dns.RcodeServerFailure}
		}
		reply, err := x.Exchange(ctx, step.Query, step.Server)
		r.Feed(reply, err)
	}
}
