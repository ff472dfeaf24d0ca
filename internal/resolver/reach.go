package resolver

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"warden/internal/health"
)

// An iterating resolver asks thousands of servers, and some of the internet's are always lame
// or gone: one of them failing is not news for an operator. What is news is that none answers
// at all, the usual sign that the server's own network is down. reach watches for that: it
// calls it an outage when every exchange for outageAfter (and at least outageFails of them)
// failed, and the end of the outage the next answer from any server.
const (
	outageAfter = 10 * time.Second
	outageFails = 20
)

// reach is the resolver's view of whether authoritative servers answer at all.
type reach struct {
	// silentSince is when the first failure after the last answer came (Unix nanoseconds), 0
	// after an answer; fails counts the failures since.
	silentSince atomic.Int64
	fails       atomic.Int64
}

// report records how one exchange went, and tells trouble of an outage's start and end. A
// success reads the state and writes it only when a failure came before it.
func (r *reach) report(ctx context.Context, err error, trouble *health.Condition) {
	r.reportAt(ctx, err, trouble, time.Now().UnixNano())
}

// reportAt is report at now (Unix nanoseconds).
func (r *reach) reportAt(ctx context.Context, err error, trouble *health.Condition, now int64) {
	if err == nil {
		if r.silentSince.Load() != 0 {
			r.silentSince.Store(0)
			r.fails.Store(0)
		}
		trouble.Recover()
		return
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return // the question was given up on: not the servers' silence
	}
	r.silentSince.CompareAndSwap(0, now)
	n := r.fails.Add(1)
	if since := r.silentSince.Load(); n >= outageFails && since != 0 && now-since >= int64(outageAfter) {
		trouble.Fail(err)
	}
}
