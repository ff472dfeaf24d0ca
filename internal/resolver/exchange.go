package resolver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/health"
	"warden/internal/upstream"
	"warden/internal/wire"
)

// Upstreams is the Exchanger that asks authoritative servers through the upstream package: a
// random source port and ID per query, 0x20 letter case, replies checked against the question, TCP
// after truncation. Each server address keeps its own upstream, and with it its RTT and counters.
type Upstreams struct {
	port    string
	timeout time.Duration
	// Tap, set before the first Exchange and nil when dnstap is off, is shown every query sent to
	// an authoritative server and its reply (dnstap's RESOLVER_ messages).
	Tap upstream.Tap
	// DNSSEC, set before the first Exchange, asks every server for DNSSEC records (DO=1): a
	// validating resolver needs the signatures and the proofs of denial.
	DNSSEC bool
	// HoldOn, set before the first Exchange, watches the UDP exchanges for injected replies
	// (upstream.HoldOn); nil turns that off.
	HoldOn *upstream.HoldOn
	// Validates, set before the first Exchange, says whether a reply passes DNSSEC validation,
	// so that Hold-On takes a reply that validates at once and prefers it over a rival; nil means
	// validation cannot tell.
	Validates func(reply []byte) bool
	// Outage, set before the first Exchange, is told when no server answers at all and when one
	// does again (reach.go); nil tells nobody.
	Outage *health.Condition
	reach  reach

	mu      sync.Mutex
	servers map[netip.Addr]*authServer
}

// authServer is what is known of one authoritative server.
type authServer struct {
	*upstream.Plain
	// noEDNSUntil (Unix nanoseconds) is set when the server answered an EDNS query with FORMERR,
	// NOTIMP or BADVERS and the same query without EDNS with something useful: until then it is
	// asked without EDNS (RFC 6891 §7), after which EDNS is tried again.
	noEDNSUntil atomic.Int64
}

// noEDNSFor is how long a server that failed EDNS is asked without it, as Unbound keeps its
// infrastructure entries.
const noEDNSFor = 15 * time.Minute

// maxServers bounds the per-server state; past it the table starts afresh rather than grow with
// every address an attacker's delegations name.
const maxServers = 10000

// NewUpstreams returns an Exchanger for servers on port (53 on the Internet), waiting at most
// timeout for each reply.
func NewUpstreams(port uint16, timeout time.Duration) *Upstreams {
	return &Upstreams{port: strconv.Itoa(int(port)), timeout: timeout, servers: make(map[netip.Addr]*authServer)}
}

func (u *Upstreams) server(a netip.Addr) *authServer {
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
	p := &authServer{Plain: upstream.NewPlain(net.JoinHostPort(a.String(), u.port), upstream.Options{Timeout: u.timeout, Tap: u.Tap, HoldOn: u.HoldOn, Validates: u.Validates})}
	u.servers[a] = p
	return p
}

// Exchange asks server the question, without recursion desired.
func (u *Upstreams) Exchange(ctx context.Context, q Question, zone string, server netip.Addr) (*dns.Msg, error) {
	uq, err := upstream.NewQuery(q.Name, q.Type)
	if err != nil {
		return nil, err
	}
	if u.Tap != nil && zone != "" {
		// Only dnstap reads the zone: without it the name is not worth converting.
		uq.Zone, _ = upstream.WireName(zone)
	}
	s := u.server(server)
	now := time.Now().UnixNano()
	uq.NoEDNS = now < s.noEDNSUntil.Load()
	uq.DO = u.DNSSEC
	r, err := s.Exchange(ctx, uq)
	if err == nil && !uq.NoEDNS && !r.EDNS && ednsRejected(r.Rcode) {
		// A server from before EDNS: ask again without the OPT record.
		uq.NoEDNS = true
		if plain, perr := s.Exchange(ctx, uq); perr == nil && !ednsRejected(plain.Rcode) {
			s.noEDNSUntil.Store(now + int64(noEDNSFor))
			r = plain
		}
	}
	u.reach.report(ctx, err, u.Outage)
	if err != nil {
		return nil, err
	}
	m, err := wire.Unpack(r.Data)
	if err != nil {
		return nil, fmt.Errorf("reply from %s: %w", server, err)
	}
	return m, nil
}

// ednsRejected reports the rcodes an old server gives a query it cannot parse because of its OPT
// record.
func ednsRejected(rcode uint16) bool {
	return rcode == dns.RcodeFormatError || rcode == dns.RcodeNotImplemented || rcode == dns.RcodeBadVers
}

// Lame asks server last from now on, until it answers usefully again: it was asked about a zone
// it does not serve, or failed.
func (u *Upstreams) Lame(server netip.Addr) {
	u.mu.Lock()
	p := u.servers[server]
	u.mu.Unlock()
	if p != nil {
		p.Penalise()
	}
}

var _ Lameness = (*Upstreams)(nil)

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
