package resolver

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"codeberg.org/miekg/dns"

	"warden/internal/validator"
)

// Exchanger sends one query to one server and returns its reply; transports (UDP with TCP on
// truncation, and the rest) live behind it. zone is the zone cut the server was chosen for: it is
// not sent, but dnstap reports it (query_zone).
type Exchanger interface {
	Exchange(ctx context.Context, q Question, zone string, server netip.Addr) (*dns.Msg, error)
}

// Lameness is told of servers that answered without authority or failed, so that the next
// questions ask them last; the Exchanger usually keeps it beside the RTTs.
type Lameness interface {
	Lame(server netip.Addr)
}

// Config is what a Resolver is built from.
type Config struct {
	Exchanger Exchanger
	Hints     []NameServer
	Limits    Limits
	// Delegations, when set, remembers zone cuts between questions; nil starts every question at
	// the root.
	Delegations *Delegations
	// MaxZoneQueries bounds the queries in flight to the servers of one zone, over all questions
	// (as BIND's fetches-per-zone): a flood of questions for one victim zone gets SERVFAIL past
	// it instead of turning the resolver into an amplifier. 0 means no bound.
	MaxZoneQueries int
	// Validation turns DNSSEC validation on when it holds a trust anchor; the Exchanger must
	// then ask for DNSSEC records (Upstreams.DNSSEC).
	Validation Validation
}

// Resolver resolves client questions iteratively. Every question runs its own Resolution; what
// they share is the Exchanger's server state, the delegations learned and the per-zone bound.
type Resolver struct {
	c     Config
	zones zoneSlots
	chain *validator.Chain // nil: no validation
}

// NewResolver returns a Resolver.
func NewResolver(c Config) *Resolver {
	rv := &Resolver{c: c, zones: zoneSlots{max: c.MaxZoneQueries, busy: map[string]int{}}}
	if c.Validation.Anchors.Len() > 0 {
		rv.chain = validator.NewChain(c.Validation.Options, c.Validation.Anchors, keyFetcher{rv})
		if c.Validation.Replies != nil {
			c.Validation.Replies.Use(rv.chain)
		}
	}
	return rv
}

// ZoneLimited counts the questions answered SERVFAIL because their zone had too many queries in
// flight.
func (rv *Resolver) ZoneLimited() uint64 { return rv.zones.refused.Load() }

// Saturated reports whether a question for name (lower case, fully qualified) would find the
// closest zone cut known for it at MaxZoneQueries, so that its first query could not be sent. The
// caller answers such a question at once, as the resolution would after taking a slot and
// finding none: a random-subdomain flood then costs a lookup per question instead of a
// goroutine and a reply sent on its own. A question that passes may still be refused later, at
// the slot itself; one counted here is counted in ZoneLimited.
func (rv *Resolver) Saturated(name string) bool {
	if rv.zones.max <= 0 {
		return false
	}
	return rv.zones.full(rv.c.Delegations.closestZone(name))
}

// SaturatedAt is Saturated for a question that starts at zone, a served zone's delegation.
func (rv *Resolver) SaturatedAt(zone string) bool {
	if rv.zones.max <= 0 {
		return false
	}
	return rv.zones.full(strings.ToLower(zone))
}

// Resolve runs a Resolution to its end, one query at a time, within ctx. It is the whole I/O loop:
// every decision is the Resolution's.
func (rv *Resolver) Resolve(ctx context.Context, q Question) Result {
	if res, ok := rv.synthesise(q); ok {
		return res
	}
	return rv.validate(ctx, q, rv.run(ctx, newResolution(q, rv.c.Hints, rv.c.Limits, rv.c.Delegations)))
}

// ResolveAt is Resolve starting at the servers of zone instead of the closest cut known: a server
// that serves the parent zone itself knows the delegation better than any cache. Should every
// one of them fail, the resolution starts again from the root.
func (rv *Resolver) ResolveAt(ctx context.Context, q Question, zone string, servers []NameServer) Result {
	r := newResolution(q, rv.c.Hints, rv.c.Limits, rv.c.Delegations)
	r.zone, r.servers, r.fromStore = strings.ToLower(zone), cloneServers(servers), true
	return rv.validate(ctx, q, rv.run(ctx, r))
}

func (rv *Resolver) run(ctx context.Context, r *Resolution) Result {
	if rtt, ok := rv.c.Exchanger.(RTTs); ok {
		r.rtt = rtt
	}
	if l, ok := rv.c.Exchanger.(Lameness); ok {
		r.lame = l
	}
	// answered is the server of the last reply fed: the one the resolution ends on, since an
	// answer is final only once its reply has been fed.
	var answered netip.Addr
	for {
		step := r.Next()
		if step.Done {
			res := r.Result()
			if res.Rcode != dns.RcodeServerFailure {
				res.Server = answered
			}
			return res
		}
		if ctx.Err() != nil {
			r.Feed(nil, ctx.Err())
			return Result{Rcode: dns.RcodeServerFailure}
		}
		if !rv.zones.take(step.Zone) {
			return Result{Rcode: dns.RcodeServerFailure}
		}
		reply, err := rv.c.Exchanger.Exchange(ctx, step.Query, step.Zone, step.Server)
		rv.zones.give(step.Zone)
		if err == nil {
			answered = step.Server
		}
		r.Feed(reply, err)
	}
}

// Resolve resolves one question with a Resolver that shares nothing with other questions.
func Resolve(ctx context.Context, x Exchanger, q Question, hints []NameServer, limits Limits) Result {
	return NewResolver(Config{Exchanger: x, Hints: hints, Limits: limits}).Resolve(ctx, q)
}

// zoneSlots counts the queries in flight per zone.
type zoneSlots struct {
	max     int
	mu      sync.Mutex
	busy    map[string]int
	refused atomic.Uint64
}

func (z *zoneSlots) take(zone string) bool {
	if z.max <= 0 {
		return true
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.busy[zone] >= z.max {
		z.refused.Add(1)
		return false
	}
	z.busy[zone]++
	return true
}

// full counts a refusal when zone has no slot left.
func (z *zoneSlots) full(zone string) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.busy[zone] < z.max {
		return false
	}
	z.refused.Add(1)
	return true
}

func (z *zoneSlots) give(zone string) {
	if z.max <= 0 {
		return
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.busy[zone] <= 1 {
		delete(z.busy, zone)
		return
	}
	z.busy[zone]--
}
