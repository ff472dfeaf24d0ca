package server

import (
	"fmt"
	"slices"
	"testing"

	"warden/internal/wire"
)

func TestRecentNamesSampleByID(t *testing.T) {
	var r RecentNames
	for id := range 1024 {
		w, err := wire.AppendName(nil, fmt.Sprintf("n%d.example.", id%3))
		if err != nil {
			t.Fatal(err)
		}
		r.sample(uint16(id), w)
	}
	got := r.Names()
	slices.Sort(got)
	// IDs 0, 64, ..., 960 are sampled: 16 questions, for n0, n1 and n2 in turn.
	if want := []string{"n0.example.", "n1.example.", "n2.example."}; !slices.Equal(got, want) {
		t.Fatalf("names %q, want %q", got, want)
	}
	if r.next != 1024/sampleEvery {
		t.Fatalf("%d sampled, want %d", r.next, 1024/sampleEvery)
	}
	var none *RecentNames
	none.sample(0, []byte{0}) // a pipeline without a sampler
}

func TestRecentNamesRingWraps(t *testing.T) {
	var r RecentNames
	for i := range recentSize + 10 {
		w, _ := wire.AppendName(nil, fmt.Sprintf("h%d.example.", i))
		r.sample(0, w)
	}
	if n := len(r.Names()); n != recentSize {
		t.Fatalf("%d names kept, want the ring's %d", n, recentSize)
	}
}
