//go:build !linux

package server

import (
	"log/slog"
	"net/netip"
)

// listenUDP falls back to the standard library where recvmmsg is not available.
func listenUDP(ap netip.AddrPort, workers int, h Handler, log *slog.Logger) (udpServer, error) {
	p, err := listenPlainUDP(ap, workers, h, log)
	if err != nil {
		return nil, err
	}
	return p, nil
}
