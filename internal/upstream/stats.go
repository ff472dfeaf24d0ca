package upstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of one upstream's counters. Counters only grow; a caller that wants rates
// takes differences between snapshots.
type Stats struct {
	Queries uint64 // Exchange calls that sent (or tried to send) a query
	// Timeouts are exchanges that ended at the deadline without a matching reply; cancelled
	// contexts are not counted here, since the server was not at fault.
	Timeouts uint64
	// Mismatches are replies dropped because they did not match the query: wrong ID, question,
	// letter case, opcode, or malformed. On plain UDP a rise means forgery attempts or a broken
	// server.
	Mismatches uint64
	Truncated  uint64 // accepted replies with TC=1
	Errors     uint64 // other failures: connect, write, TLS, HTTP status, closed connection
	// SRTT is the smoothed round-trip time; 0 until the first reply.
	SRTT time.Duration
}

const (
	// maxSRTT caps the backed-off SRTT so that a server that was down can be tried again.
	maxSRTT = 10 * time.Second
)

// counters are the live values behind Stats; each transport embeds one.
type counters struct {
	queries, timeouts, mismatches, truncated, errors atomic.Uint64
	srtt                                             atomic.Int64 // nanoseconds
}

func (c *counters) snapshot() Stats {
	return Stats{
		Queries:    c.queries.Load(),
		Timeouts:   c.timeouts.Load(),
		Mismatches: c.mismatches.Load(),
		Truncated:  c.truncated.Load(),
		Errors:     c.errors.Load(),
		SRTT:       time.Duration(c.srtt.Load()),
	}
}

// SRTT returns the smoothed round-trip time, 0 before the first reply.
func (c *counters) SRTT() time.Duration { return time.Duration(c.srtt.Load()) }

// observe folds one measured RTT into the SRTT as RFC 6298 does (gain 1/8); the first sample is
// taken as is. A lock-free update keeps Exchange free of contention between concurrent queries.
func (c *counters) observe(rtt time.Duration) {
	for {
		old := c.srtt.Load()
		next := int64(rtt)
		if old > 0 {
			next = old + (int64(rtt)-old)/8
		}
		if next <= 0 {
			next = 1
		}
		if c.srtt.CompareAndSwap(old, next) {
			return
		}
	}
}

// penalise doubles the SRTT after a timeout, as a retransmission timer backs off, so that server
// selection moves away from a silent server quickly; timeout is the floor, since the server took at
// least that long not to answer.
func (c *counters) penalise(timeout time.Duration) {
	for {
		old := c.srtt.Load()
		next := max(2*old, int64(timeout))
		next = min(next, int64(maxSRTT))
		if c.srtt.CompareAndSwap(old, next) {
			return
		}
	}
}

// fail counts a failed exchange and gives it its error: a passed deadline becomes ErrTimeout
// (counted, and the SRTT backs off), a cancelled ctx is returned as is (not the server's fault),
// anything else is counted as an error.
func (c *counters) fail(ctx context.Context, start time.Time, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		c.timeouts.Add(1)
		c.penalise(time.Since(start))
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	c.errors.Add(1)
	return err
}
