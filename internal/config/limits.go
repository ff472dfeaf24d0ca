package config

import "time"

// LimitsConfig bounds what the listeners accept, so that no client can make the server hold
// unbounded memory, sockets or goroutines.
type LimitsConfig struct {
	// UDPPayload is the largest EDNS UDP payload the server offers and sends (512..4096). 1232
	// avoids IP fragmentation on almost every path (DNS Flag Day 2020).
	UDPPayload int `yaml:"udp_payload"`
	// UDPWorkers is the number of UDP sockets (and reader goroutines) per listener; 0 means one per
	// CPU.
	UDPWorkers int `yaml:"udp_workers"`
	// TCPIdleTimeout closes a TCP connection that sends nothing for this long. It must be positive:
	// a connection allowed to idle forever is a slot an idle client keeps from everyone else.
	TCPIdleTimeout time.Duration `yaml:"tcp_idle_timeout"`
	// TCPMaxConnections is the most TCP connections open at once over all listeners; at least 1.
	TCPMaxConnections int `yaml:"tcp_max_connections"`
	// TCPMaxPipelined is the most queries of one TCP connection in progress at once; at least 1.
	TCPMaxPipelined int `yaml:"tcp_max_pipelined"`

	// The encrypted listeners (DoT, DoH, DoQ), each on its own.
	//
	// TLSHandshakeTimeout bounds a TLS handshake, the headers of a DoH request (its whole request
	// gets twice this) and the arrival of a DoQ query on its stream.
	TLSHandshakeTimeout time.Duration `yaml:"tls_handshake_timeout"`
	// TLSIdleTimeout closes a connection with nothing in progress for this long, and bounds the
	// sending of one answer.
	TLSIdleTimeout time.Duration `yaml:"tls_idle_timeout"`
	// TLSMaxConnections is the most connections one encrypted listener holds, handshakes included.
	TLSMaxConnections int `yaml:"tls_max_connections"`
	// TLSMaxConnectionsPerClient is the most of them one client holds: an IPv4 address or an IPv6 /64.
	TLSMaxConnectionsPerClient int `yaml:"tls_max_connections_per_client"`
	// TLSMaxStreams is the most queries in progress on one connection: DoT pipelining, HTTP/2
	// streams, QUIC streams.
	TLSMaxStreams int `yaml:"tls_max_streams"`
}

// maxUDPWorkers caps udp_workers: each worker is a socket and a goroutine, and a number far above
// the CPU count only adds contention.
const maxUDPWorkers = 1024

// Validate checks each limit's range.
func (l LimitsConfig) Validate() error {
	var p problems
	if l.UDPPayload < 512 || l.UDPPayload > 4096 {
		p.add("udp_payload", "%d is outside 512..4096", l.UDPPayload)
	}
	if l.UDPWorkers < 0 || l.UDPWorkers > maxUDPWorkers {
		p.add("udp_workers", "%d is outside 0..%d (0 means one per CPU)", l.UDPWorkers, maxUDPWorkers)
	}
	if l.TCPIdleTimeout <= 0 {
		p.add("tcp_idle_timeout", "%s is not positive", l.TCPIdleTimeout)
	}
	if l.TCPMaxConnections < 1 {
		p.add("tcp_max_connections", "%d is less than 1", l.TCPMaxConnections)
	}
	if l.TCPMaxPipelined < 1 {
		p.add("tcp_max_pipelined", "%d is less than 1", l.TCPMaxPipelined)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"tls_handshake_timeout", l.TLSHandshakeTimeout}, {"tls_idle_timeout", l.TLSIdleTimeout}} {
		if d.v <= 0 {
			p.add(d.key, "%s is not positive", d.v)
		}
	}
	if l.TLSMaxConnections < 1 {
		p.add("tls_max_connections", "%d is less than 1", l.TLSMaxConnections)
	}
	if l.TLSMaxConnectionsPerClient < 1 || l.TLSMaxConnectionsPerClient > l.TLSMaxConnections {
		p.add("tls_max_connections_per_client", "%d is outside 1..tls_max_connections (%d)", l.TLSMaxConnectionsPerClient, l.TLSMaxConnections)
	}
	// More streams than HTTP/2 and QUIC clients ever open only adds goroutines a client can hold.
	if l.TLSMaxStreams < 1 || l.TLSMaxStreams > 1000 {
		p.add("tls_max_streams", "%d is outside 1..1000", l.TLSMaxStreams)
	}
	return p.err()
}
