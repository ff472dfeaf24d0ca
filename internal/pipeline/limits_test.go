package pipeline

import (
	"fmt"
	"net/netip"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/query"
	"warden/internal/resolver"
	"warden/internal/wire"
)

// TestCachedAnswerLimits: limits.udp_payload bounds a resolved answer, fresh or from the cache, as
// it bounds an authoritative one: the OPT record advertises it, and an answer larger than it is
// cut to fit (here TC, as the answer section cannot be split).
func TestCachedAnswerLimits(t *testing.T) {
	var res resolver.Result
	for i := range 30 {
		rr, err := dns.New(fmt.Sprintf(`big.example. 300 IN TXT "%040d"`, i))
		if err != nil {
			t.Fatal(err)
		}
		res.Answer = append(res.Answer, rr)
	}
	for _, payload := range []uint16{512, 4096} {
		rec := NewRecursor(RecursorConfig{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, MaxConcurrent: 1,
			UDPPayload: payload})
		empty, _ := authority.New(nil)
		pipe := NewPipeline(wire.Limits{UDPPayload: payload}, &Snapshot{Authority: empty, Recursion: rec})
		q := dns.NewMsg("big.example.", dns.TypeTXT)
		q.UDPSize = 4096 // the client takes more than the server offers
		if err := q.Pack(); err != nil {
			t.Fatal(err)
		}
		fresh := &query.Request{Wire: q.Data, Transport: query.UDP, Client: netip.MustParseAddrPort("127.0.0.1:5353")}
		fresh.Parse()
		for _, c := range []struct {
			name string
			out  []byte
		}{
			{"resolved", rec.answer(fresh, res, make([]byte, 0, 65535))},
			{"cached", pipe.ServeDNS(&query.Request{Wire: q.Data, Transport: query.UDP, Client: fresh.Client}, make([]byte, 0, 65535))},
		} {
			m := &dns.Msg{Data: c.out}
			if err := m.Unpack(); err != nil {
				t.Fatalf("payload %d, %s: %v", payload, c.name, err)
			}
			if m.UDPSize != payload {
				t.Errorf("payload %d, %s: OPT advertises %d", payload, c.name, m.UDPSize)
			}
			if len(c.out) > int(payload) {
				t.Errorf("payload %d, %s: %d bytes", payload, c.name, len(c.out))
			}
			wantTC := payload == 512 // 30 TXT records of 50 bytes
			if m.Truncated != wantTC || !wantTC && len(m.Answer) != 30 {
				t.Errorf("payload %d, %s: TC=%v with %d records", payload, c.name, m.Truncated, len(m.Answer))
			}
		}
	}
}
