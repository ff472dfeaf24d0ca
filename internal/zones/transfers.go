package zones

import (
	"maps"
	"sync"
)

// Transfer kinds and results, as warden_transfers_total labels them.
const (
	TransferAXFRIn  = "axfr_in"
	TransferIXFRIn  = "ixfr_in"
	TransferAXFROut = "axfr_out"
	TransferIXFROut = "ixfr_out"

	TransferSuccess = "success"
	TransferFailure = "failure"
)

// TransferKey names one counter of transfers.
type TransferKey struct {
	Zone, Kind, Result string
}

// transferCounts counts zone transfers in and out. Transfers are rare and slow, so a mutex around
// a map is cheap enough; the map grows only with zones served and the few kinds above.
type transferCounts struct {
	mu sync.Mutex
	n  map[TransferKey]uint64
}

func (c *transferCounts) count(zone, kind string, err error) {
	result := TransferSuccess
	if err != nil {
		result = TransferFailure
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[TransferKey]uint64)
	}
	c.n[TransferKey{zone, kind, result}]++
}

// Transfers returns the transfers counted since the start, by zone, kind and result.
func (m *Manager) Transfers() map[TransferKey]uint64 {
	m.transfers.mu.Lock()
	defer m.transfers.mu.Unlock()
	return maps.Clone(m.transfers.n)
}
