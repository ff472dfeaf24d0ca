//go:build !linux

package probe

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// probeTTL needs Linux's IP_RECVERR error queue to read ICMP without a raw socket.
func probeTTL(context.Context, netip.AddrPort, []byte, int, time.Duration) (HopReport, error) {
	return HopReport{}, errors.New("hop localisation needs Linux (IP_RECVERR)")
}
