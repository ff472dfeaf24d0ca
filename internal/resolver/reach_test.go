package resolver

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"warden/internal/health"
)

// TestReachOutage: failures alone are not an outage until every exchange for outageAfter (and
// outageFails of them) failed; one answer ends it; a given-up question counts for nothing.
func TestReachOutage(t *testing.T) {
	var logs bytes.Buffer
	cond := health.New(slog.New(slog.NewTextHandler(&logs, nil))).Watch(health.Resolution, "authoritative servers")
	var r reach
	ctx := context.Background()
	timeout := errors.New("upstream: timeout")
	start := time.Now().UnixNano()
	step := int64(outageAfter) / (2 * outageFails)
	now := start
	for range 2 * outageFails {
		r.reportAt(ctx, timeout, cond, now)
		if cond.Failing() {
			t.Fatalf("an outage after %v", time.Duration(now-start))
		}
		now += step
		r.reportAt(ctx, nil, cond, now) // an answer among the failures
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for i := range 4 * outageFails {
		r.reportAt(cancelled, context.Canceled, cond, start+int64(i)*step*10)
	}
	if cond.Failing() {
		t.Fatal("given-up questions made an outage")
	}
	for i := range 4 * outageFails {
		r.reportAt(ctx, timeout, cond, now)
		now += step
		if want := i+1 >= outageFails && i*int(step) >= int(outageAfter); cond.Failing() != want {
			t.Fatalf("after %d failures over %v: failing %v", i+1, time.Duration(int64(i)*step), cond.Failing())
		}
	}
	r.reportAt(ctx, nil, cond, now)
	if cond.Failing() {
		t.Error("an answer did not end the outage")
	}
	if n := strings.Count(logs.String(), health.Resolution.Started); n != 1 {
		t.Errorf("%d outage lines:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), health.Resolution.Ended); n != 1 {
		t.Errorf("%d end lines:\n%s", n, logs.String())
	}
}
