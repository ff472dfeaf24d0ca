package health

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// logLines decodes the JSON lines a Board wrote.
func logLines(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range bytes.Lines(data) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

func newBoard(t *testing.T) (*Board, *lockedBuffer, *time.Time) {
	var buf lockedBuffer
	b := New(slog.New(slog.NewJSONHandler(&buf, nil)))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b.now = func() time.Time { return now }
	return b, &buf, &now
}

// TestConditionLogsTransitionsOnly: many failures log one line, a success after them logs one
// line with their count and how long they lasted, and successes while healthy log nothing.
func TestConditionLogsTransitionsOnly(t *testing.T) {
	b, buf, now := newBoard(t)
	c := b.Watch(Upstream, "192.0.2.1:53")
	c.Recover()
	start := *now
	for i := range 50 {
		c.Fail(fmt.Errorf("timeout %d", i))
		*now = now.Add(time.Second)
	}
	ps := b.Problems()
	if len(ps) != 1 || ps[0].Failures != 50 || !ps[0].Since.Equal(start) || ps[0].LastError != "timeout 49" || ps[0].Subject != "192.0.2.1:53" || ps[0].Kind != "upstream" {
		t.Fatalf("problems while failing: %+v", ps)
	}
	if !c.Failing() {
		t.Error("Failing() is false while failing")
	}
	*now = now.Add(80 * time.Second)
	c.Recover()
	c.Recover()
	if ps := b.Problems(); len(ps) != 0 {
		t.Errorf("problems after recovery: %+v", ps)
	}
	lines := logLines(t, buf.Bytes())
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2: %s", len(lines), buf.Bytes())
	}
	if lines[0]["msg"] != Upstream.Started || lines[0]["level"] != "ERROR" || lines[0]["upstream"] != "192.0.2.1:53" || lines[0]["err"] != "timeout 0" {
		t.Errorf("start line: %v", lines[0])
	}
	if lines[1]["msg"] != Upstream.Ended || lines[1]["failures"] != 50.0 || lines[1]["lasted"] != "2m10s" || lines[1]["last_err"] != "timeout 49" {
		t.Errorf("end line: %v", lines[1])
	}

	// A second run starts its count afresh.
	c.Fail(errors.New("refused"))
	if ps := b.Problems(); len(ps) != 1 || ps[0].Failures != 1 || ps[0].LastError != "refused" {
		t.Errorf("second run: %+v", ps)
	}
	if n := len(logLines(t, buf.Bytes())); n != 3 {
		t.Errorf("%d lines after a second failure, want 3", n)
	}
}

// TestWatchSharesState: the same kind and subject give the same Condition (a part rebuilt by a
// reload carries the trouble on); Forget ends the trouble of a subject no longer configured.
func TestWatchSharesState(t *testing.T) {
	b, buf, _ := newBoard(t)
	b.Watch(ZoneFile, "a.test.").Fail(errors.New("a.test.zone:3: bad TTL"))
	b.Watch(ZoneTransfer, "a.test.").Fail(errors.New("connection refused"))
	if !b.Watch(ZoneFile, "a.test.").Failing() {
		t.Error("a second Watch does not see the first's failure")
	}
	if ps := b.Problems(); len(ps) != 2 {
		t.Fatalf("problems: %+v", ps)
	}
	b.Forget(ZoneFile, func(s string) bool { return s != "a.test." })
	ps := b.Problems()
	if len(ps) != 1 || ps[0].Kind != "zone transfer" {
		t.Errorf("after Forget: %+v", ps)
	}
	lines := logLines(t, buf.Bytes())
	if len(lines) != 3 || lines[2]["zone"] != "a.test." || lines[2]["failures"] != 1.0 {
		t.Errorf("lines: %s", buf.Bytes())
	}
	if b.Watch(ZoneFile, "a.test.").Failing() {
		t.Error("a forgotten subject is watched afresh in trouble")
	}
}

// TestNilBoard: parts built without a Board report into nothing, without panicking.
func TestNilBoard(t *testing.T) {
	var b *Board
	c := b.Watch(Upstream, "x")
	c.Fail(errors.New("x"))
	c.Recover()
	if c.Failing() || b.Problems() != nil {
		t.Error("a nil Board holds a problem")
	}
	b.Forget(Upstream, func(string) bool { return false })
}

// TestConcurrentFailures: failures and recoveries from many goroutines leave a consistent count
// and as many end lines as start lines (run with -race).
func TestConcurrentFailures(t *testing.T) {
	var buf lockedBuffer
	b := New(slog.New(slog.NewJSONHandler(&buf, nil)))
	c := b.Watch(Upstream, "u")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if (i+g)%50 == 0 {
					c.Recover()
				} else {
					c.Fail(errors.New("e"))
				}
			}
		})
	}
	wg.Wait()
	c.Recover()
	starts, ends := 0, 0
	for _, l := range logLines(t, buf.Bytes()) {
		switch l["msg"] {
		case Upstream.Started:
			starts++
		case Upstream.Ended:
			ends++
		}
	}
	if starts == 0 || starts != ends {
		t.Errorf("%d start lines, %d end lines", starts, ends)
	}
}

// BenchmarkRecoverHealthy is the cost a part pays after every success.
func BenchmarkRecoverHealthy(b *testing.B) {
	c := New(slog.New(slog.DiscardHandler)).Watch(Upstream, "u")
	b.ReportAllocs()
	for b.Loop() {
		c.Recover()
	}
}
