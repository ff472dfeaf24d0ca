package pipeline

import (
	"testing"

	"warden/internal/authority"
	"warden/internal/dnstest"
	"warden/internal/server"
	"warden/internal/wire"
	"warden/internal/zone"
)

// startWarden serves zones on a free loopback port, as `warden serve` would, and returns the address.
func startWarden(t *testing.T, zones []dnstest.Zone) string {
	t.Helper()
	var loaded []*zone.Zone
	for _, zc := range zones {
		z, _, err := zone.LoadFile(zc.Origin, zc.File)
		if err != nil {
			t.Fatal(err)
		}
		loaded = append(loaded, z)
	}
	set, err := authority.New(loaded)
	if err != nil {
		t.Fatal(err)
	}
	pipe := NewPipeline(wire.Limits{UDPPayload: 1232}, &Snapshot{Authority: set})
	l, err := server.Listen(server.ListenerConfig{Addr: "127.0.0.1:0", UDPWorkers: 1}, pipe, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l.UDPAddr().String()
}

// TestDifferentialKnot sends the whole corpus to Knot DNS and to Warden serving the same zones and
// fails on any difference in rcode, flags, OPT or section contents. Differences Warden chooses on
// purpose are listed in docs/differences.md and left out of the corpus.
func TestDifferentialKnot(t *testing.T) {
	zones := dnstest.TestZones()
	knot := dnstest.StartKnot(t, zones)
	warden := startWarden(t, zones)
	dnstest.DiffCorpus(t, knot, warden, dnstest.Corpus())
}
