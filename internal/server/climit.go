package server

import (
	"net/netip"
	"sync"
)

// clientLimiter counts the open connections of each client and in total, so that the encrypted
// listeners can refuse one more from a client (or anyone) at its cap. A client is an IPv4 address
// or an IPv6 /64: one host usually holds a whole /64, and a cap per IPv6 address would be no cap.
// Its map holds only clients with a connection open, so it is bounded by the total cap.
//
// A nil *clientLimiter admits everything.
type clientLimiter struct {
	perClient int // 0: no cap per client
	total     int // 0: no cap in total

	mu    sync.Mutex
	open  int
	count map[netip.Addr]int
}

func newClientLimiter(perClient, total int) *clientLimiter {
	return &clientLimiter{perClient: perClient, total: total, count: make(map[netip.Addr]int)}
}

// clientKey is the address a client's connections are counted under.
func clientKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

// acquire counts one more connection of a, or returns false when a cap is reached.
func (l *clientLimiter) acquire(a netip.Addr) bool {
	if l == nil {
		return true
	}
	k := clientKey(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.total > 0 && l.open >= l.total) || (l.perClient > 0 && l.count[k] >= l.perClient) {
		return false
	}
	l.open++
	l.count[k]++
	return true
}

// release forgets one connection of a, counted by acquire.
func (l *clientLimiter) release(a netip.Addr) {
	if l == nil {
		return
	}
	k := clientKey(a)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.count[k]--; l.count[k] <= 0 {
		delete(l.count, k)
	}
}

// load is the number of open connections, in total.
func (l *clientLimiter) load() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

func (l *clientLimiter) limit() int {
	if l == nil {
		return 0
	}
	return l.perClient
}
