package server

import (
	"testing"

	"warden/internal/query"
)

type countingObserver struct{ n *int }

func (o countingObserver) Recorder(query.Transport, bool) Recorder { return o }
func (o countingObserver) Record(recs []query.Record)              { *o.n += len(recs) }

type silentObserver struct{}

func (silentObserver) Recorder(query.Transport, bool) Recorder { return nil }

// TestObserversFanOut: every observer that wants records sees each batch; none, or only silent
// ones, give no Recorder at all, so the listeners skip filling records.
func TestObserversFanOut(t *testing.T) {
	if r := recorderFor(Observers(nil), query.UDP, true); r != nil {
		t.Errorf("no observers gave Recorder %v", r)
	}
	if r := (Observers{silentObserver{}}).Recorder(query.TCP, false); r != nil {
		t.Errorf("a silent observer gave Recorder %v", r)
	}
	var a, b int
	r := Observers{countingObserver{&a}, silentObserver{}, countingObserver{&b}}.Recorder(query.UDP, true)
	r.Record(make([]query.Record, 3))
	if a != 3 || b != 3 {
		t.Errorf("observers saw %d and %d records, want 3 each", a, b)
	}
}
