package pipeline

import (
	"net/netip"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
)

// Resolution answers after the query's arrival: the work of async never sees the listener's
// stamp, so the cache counts the answer's TTLs from a reading of the clock, whether the answer
// comes now (TCP) or later (UDP).
func TestAsyncWorkHasNoStamp(t *testing.T) {
	rec := NewRecursor(RecursorConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, MaxConcurrent: 1})
	q := dns.NewMsg("www.example.org.", dns.TypeA)
	if err := q.Pack(); err != nil {
		t.Fatal(err)
	}
	for _, later := range []bool{false, true} {
		req := &query.Request{Wire: q.Data, Transport: query.TCP, Client: netip.MustParseAddrPort("127.0.0.1:5353"),
			Received: time.Now().Add(-time.Hour)}
		var replies [][]byte
		if later {
			req.Transport, req.Later = query.UDP, fakeDeferrer{&replies}
		}
		req.Parse()
		seen := make(chan time.Time, 1)
		rec.async(req, nil, func(req *query.Request, buf []byte) []byte {
			seen <- req.Received
			return nil
		})
		if s := <-seen; !s.IsZero() {
			t.Errorf("later %v: the work sees the stamp %v", later, s)
		}
	}
}
