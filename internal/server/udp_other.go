//go:build !linux

package server

import (
	"log/slog"
	"net/netip"
)

// listenUDP falls back to the standard library where recvmmsg is not available.
func listenUDP(ap netip.AddrPort, workers int, _ bool, h Handler, obs Observer, log *slog.Logger) (udpServer, error) {
	p, err := listenPlainUDP(ap, workers, h, obs, log)
	if err != nil {
		return nil, err
	}
	return p, nil
}
