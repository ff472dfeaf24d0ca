package server

import (
	"context"
	"net/netip"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/cache"
	"warden/internal/query"
	"warden/internal/resolver"
	"warden/internal/wire"
)

// Recursor is the resolution stage: a query no served zone answers is resolved iteratively from
// the root hints, for clients of the allowed networks. A UDP query is answered later, from the
// resolving goroutine, so the listener's worker is never held up; TCP queries already have their
// own goroutine and wait in it.
type Recursor struct {
	hints   []resolver.NameServer
	allow   []netip.Prefix
	x       resolver.Exchanger
	lim     resolver.Limits
	timeout time.Duration
	limits  wire.Limits
	cache   *cache.Cache
	// slots bounds the questions being resolved at once: past it, SERVFAIL at once rather than
	// a queue that grows with the attack.
	slots chan struct{}
}

// RecursorConfig is what a Recursor needs.
type RecursorConfig struct {
	Hints         []resolver.NameServer
	Allow         []netip.Prefix
	Exchanger     resolver.Exchanger
	Timeout       time.Duration
	MaxConcurrent int
	UDPPayload    uint16
	// Cache holds answers already resolved; nil makes one of cache.DefaultMaxBytes.
	Cache *cache.Cache
}

// NewRecursor returns the stage.
func NewRecursor(c RecursorConfig) *Recursor {
	if c.UDPPayload < 512 {
		c.UDPPayload = 1232
	}
	if c.Cache == nil {
		c.Cache = cache.New(cache.Config{})
	}
	return &Recursor{
		cache:   c.Cache,
		hints:   c.Hints,
		allow:   c.Allow,
		x:       c.Exchanger,
		lim:     resolver.DefaultLimits,
		timeout: c.Timeout,
		limits:  wire.Limits{UDPPayload: c.UDPPayload},
		slots:   make(chan struct{}, max(1, c.MaxConcurrent)),
	}
}

const (
	rcodeServFail       = 2
	edeProhibited       = 18 // RFC 8914 §4.19
	edeNoReachableAuth  = 22 // RFC 8914 §4.23
	recursionReplyBytes = 4096
)

// Serve answers req by resolution, now or later (then it returns nil).
func (r *Recursor) Serve(req *query.Request, out []byte) []byte {
	if !r.allowed(req.Client.Addr()) {
		return r.limits.RenderRcode(out, req, rcodeRefused, edeProhibited)
	}
	// 5. The cache: a hit is the stored answer with ID, TTLs and the client's case patched in.
	if res, st := r.cache.Get(req, out); st.Found() {
		return res
	}
	if req.Flags&query.FlagRD == 0 {
		// Not in the cache, and the client asked us not to go and find it.
		return r.limits.RenderRcode(out, req, rcodeRefused, wire.NoEDE)
	}
	select {
	case r.slots <- struct{}{}:
	default:
		return r.limits.RenderRcode(out, req, rcodeServFail, wire.NoEDE)
	}
	q := resolver.Question{Name: wire.NameString(req.Lower()), Type: req.QType}
	if req.Later == nil {
		defer func() { <-r.slots }()
		return r.answer(req, r.resolve(q), out)
	}
	replier := req.Later.Defer(req)
	// The request's bytes belong to the listener; keep a copy to render the answer from.
	later := &query.Request{Wire: append([]byte(nil), req.Wire...), Client: req.Client, Transport: req.Transport}
	go func() {
		defer func() { <-r.slots }()
		later.Parse()
		replier.Reply(r.answer(later, r.resolve(q), make([]byte, 0, recursionReplyBytes)))
	}()
	return nil
}

func (r *Recursor) allowed(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (r *Recursor) resolve(q resolver.Question) resolver.Result {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	return resolver.Resolve(ctx, r.x, q, r.hints, r.lim)
}

// answer stores a resolution's result in the cache and renders it for req. When resolution failed,
// an expired answer still in the cache is served instead (RFC 8767 serve-stale).
func (r *Recursor) answer(req *query.Request, res resolver.Result, out []byte) []byte {
	if res.Rcode == dns.RcodeServerFailure {
		if stale, st := r.cache.GetStale(req, out); st.Found() {
			return stale
		}
		return r.render(req, res, out)
	}
	// The cached form is the whole answer, as TCP would carry it; each client then gets what fits.
	whole := *req
	whole.Transport = query.TCP
	full := r.render(&whole, res, make([]byte, 0, recursionReplyBytes))
	if err := r.cache.Put(full, cache.RankAuthAnswer); err == nil {
		if hit, st := r.cache.Get(req, out); st.Found() {
			return hit
		}
	}
	return r.render(req, res, out)
}

// render builds the answer to req from the result with the same templates the zones use: the
// client's question with its letter case, RD as asked, RA set, truncation as for any answer.
func (r *Recursor) render(req *query.Request, res resolver.Result, out []byte) []byte {
	if res.Rcode == dns.RcodeServerFailure {
		return r.limits.RenderRcode(out, req, rcodeServFail, edeNoReachableAuth)
	}
	qname := req.Lower()
	b := wire.NewBuilder(qname, len(qname))
	b.SetRcode(uint8(res.Rcode), false)
	b.SetRA()
	for _, set := range []struct {
		s   wire.Section
		rrs []dns.RR
	}{{wire.Answer, res.Answer}, {wire.Authority, res.Ns}} {
		for _, rr := range set.rrs {
			if err := b.Add(set.s, []dns.RR{rr}, nil); err != nil {
				return r.limits.RenderRcode(out, req, rcodeServFail, wire.NoEDE)
			}
		}
	}
	return r.limits.Render(out, req, b.Template())
}
