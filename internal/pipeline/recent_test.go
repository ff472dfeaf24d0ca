package pipeline

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/query"
	"warden/internal/wire"
)

func TestRecentNamesSampleByID(t *testing.T) {
	var r RecentNames
	for id := range 1024 {
		w, err := wire.AppendName(nil, fmt.Sprintf("n%d.example.", id%3))
		if err != nil {
			t.Fatal(err)
		}
		if r.wants(uint16(id)) {
			r.add(w)
		}
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
	if none.wants(0) {
		t.Fatal("a pipeline without a sampler wants names")
	}
}

func TestRecentNamesRingWraps(t *testing.T) {
	var r RecentNames
	for i := range recentSize + 10 {
		w, _ := wire.AppendName(nil, fmt.Sprintf("h%d.example.", i))
		r.add(w)
	}
	if n := len(r.Names()); n != recentSize {
		t.Fatalf("%d names kept, want the ring's %d", n, recentSize)
	}
}

// Names asked by clients that may not recurse are not sampled: they could dilute the corpus.
func TestRecentNamesOnlyAllowedClients(t *testing.T) {
	empty, _ := authority.New(nil)
	rec := NewRecursor(RecursorConfig{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Timeout: time.Second, MaxConcurrent: 1})
	p := NewPipeline(wire.Limits{}, &Snapshot{Authority: empty, Recursion: rec})
	for _, c := range []struct{ client, name string }{{"192.0.2.1:53", "outsider.example."}, {"10.0.0.1:53", "insider.example."}} {
		m := dns.NewMsg(c.name, dns.TypeA)
		m.ID = 0 // in the sample
		if err := m.Pack(); err != nil {
			t.Fatal(err)
		}
		p.ServeDNS(&query.Request{Wire: m.Data, Transport: query.TCP, Client: netip.MustParseAddrPort(c.client)}, nil)
	}
	if got := p.Recent.Names(); !slices.Equal(got, []string{"insider.example."}) {
		t.Fatalf("sampled %q, want only the allowed client's name", got)
	}
}
