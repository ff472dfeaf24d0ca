package peers

import (
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePort returns a port on 127.0.0.1 free for both UDP and TCP, for a server that is named
// before it binds (in another process, or in a peer's configuration). It is taken below the
// kernel's range of ephemeral ports (ip_local_port_range), from which the system picks the source
// ports of outgoing connections: a port from that range can be handed to a client between the
// check and the bind, and the server then fails with "address already in use".
func FreePort() (int, error) {
	low, high := belowEphemeral()
	var lastErr error
	for range 100 {
		port := low + mathrand.IntN(high-low)
		if err := CheckFree(net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
			lastErr = err
			continue
		}
		return port, nil
	}
	return 0, fmt.Errorf("free port: no port free for both UDP and TCP: %w", lastErr)
}

// belowEphemeral returns the range ports are chosen from: from 10000 up to the start of the
// ephemeral range (32768 on Linux unless configured otherwise).
func belowEphemeral() (low, high int) {
	low, high = 10000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > low+1000 {
				high = n
			}
		}
	}
	return low, high
}

// CheckFree fails, with syscall.EADDRINUSE in the chain, when something already listens on addr
// over UDP or TCP. Knot and NSD bind with SO_REUSEPORT, which would share a taken address
// silently; this bind without it makes the conflict an error, as Warden's own listeners do.
func CheckFree(addr string) error {
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	u.Close()
	t, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return t.Close()
}
