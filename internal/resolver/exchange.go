package resolver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/upstream"
)

// Upstreams is the Exchanger that asks authoritative servers through the upstream package: a
// random source port and ID per query, 0x20 letter case, replies checked against the question, TCP
// after truncation. Each server address keeps its own upstream, and with it its RTT and counters.
type Upstreams struct {
	port    string
	timeout time.Duration

	mu      sync.Mutex
	servers map[netip.Addr]*upstream.Plain
}

// maxServers bounds the per-server state; past it the table starts afresh rather than grow with
// every address an attacker's delegations name.
const maxServers = 10000

// NewUpstreams returns an Exchanger for servers on port (53 on the Internet), waiting at most
// timeout for each reply.
func NewUpstreams(port uint16, timeout time.Duration) *Upstreams {
	return &Upstreams{port: strconv.Itoa(int(port)), timeout: timeout, servers: make(map[netip.Addr]*upstream.Plain)}
}

func (u *Upstreams) server(a netip.Addr) *upstream.Plain {
	u.mu.Lock()
	defer u.mu.Unlock()
	if p := u.servers[a]; p != nil {
		return p
	}
	if len(u.servers) >= maxServers {
		for _, p := range u.servers {
			_ = p.Close()
		}
		clear(u.servers)
	}
	p := upstream.NewPlain(net.JoinHostPort(a.String(), u.port), upstream.Options{Timeout: u.timeout})
	u.servers[a] = p
	return p
}

// Exchange asks server the question, without recursion desired.
func (u *Upstreams) Exchange(ctx context.Context, q Question, server netip.Addr) (*dns.Msg, error) {
	uq, err := upstream.NewQuery(q.Name, q.Type)
	if err != nil {
		return nil, err
	}
	r, err := u.server(server).Exchange(ctx, uq)
	if err != nil {
		return nil, err
	}
	m := &dns.Msg{Data: r.Data}
	if err := m.Unpack(); err != nil {
		return nil, fmt.Errorf("reply from %s: %w", server, err)
	}
	return m, nil
}

// SRTT returns the smoothed round-trip time measured for server, 0 while it has not been asked.
func (u *Upstreams) SRTT(server netip.Addr) time.Duration {
	u.mu.Lock()
	p := u.servers[server]
	u.mu.Unlock()
	if p == nil {
		return 0
	}
	return p.SRTT()
}

var _ RTTs = (*Upstreams)(nil)

// Close releases idle TCP connections.
func (u *Upstreams) Close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, p := range u.servers {
		_ = p.Close()
	}
	clear(u.servers)
}
