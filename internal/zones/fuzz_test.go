package zones

import (
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/query"
	"warden/internal/tsig"
)

// fuzzNow is the manager's clock in the fuzz target, so that the signed seeds stay in their
// time window however long after they were made the corpus runs.
var fuzzNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// FuzzServeZoneOp sends arbitrary bytes as a TCP request to a manager serving a small zone with a
// key, a transfer list and an update list: it must never panic, and every message it sends
// (streamed or returned) must parse.
func FuzzServeZoneOp(f *testing.F) {
	const origin = "fuzz.test."
	cfg, _ := primaryConfig(f, origin, zoneText(origin, 3, 3600, 600, 86400, "mail MX 10 www", "txt TXT \"a\" \"b\""))
	m := New(slog.New(slog.DiscardHandler), func(*authority.Set) {})
	m.now = func() time.Time { return fuzzNow }
	if err := m.Start(cfg); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(m.Close)

	key := testKey(f)
	sign := func(msg []byte) []byte {
		out, _, err := tsig.Sign(msg, *key, nil, false, fuzzNow)
		if err != nil {
			f.Fatal(err)
		}
		return out
	}
	axfr := request(f, origin, dns.TypeAXFR, 0)
	ixfr := request(f, origin, dns.TypeIXFR, 1)
	notify := dns.NewMsg(origin, dns.TypeSOA)
	notify.Opcode = dns.OpcodeNotify
	if err := notify.Pack(); err != nil {
		f.Fatal(err)
	}
	upd := updateMsg(f, "zone fuzz.test.\norigin fuzz.test.\nprereq www 0 ANY ANY\nupdate new 300 IN A 198.51.100.1\nupdate txt 0 ANY TXT\n", nil)
	for _, seed := range [][]byte{axfr, sign(axfr), ixfr, sign(ixfr), notify.Data, sign(notify.Data), upd, sign(upd),
		sign(request(f, "other.test.", dns.TypeAXFR, 0)), sign(axfr)[:len(sign(axfr))-5]} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		var out [][]byte
		req := &query.Request{
			Wire:      data,
			Client:    netip.MustParseAddrPort("127.0.0.1:40000"),
			Transport: query.TCP,
			Stream: func(msg []byte) error {
				out = append(out, append([]byte(nil), msg...))
				return nil
			},
		}
		if req.Parse() != query.Accept {
			return // the pipeline answers these before the manager sees them
		}
		if last := m.ServeZoneOp(req, nil); last != nil {
			out = append(out, last)
		}
		for i, msg := range out {
			if err := (&dns.Msg{Data: msg}).Unpack(); err != nil {
				t.Fatalf("message %d of the answer does not parse: %v\n%s", i, err, fmt.Sprintf("% x", msg))
			}
		}
	})
}
