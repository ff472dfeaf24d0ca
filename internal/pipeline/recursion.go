package pipeline

import (
	"cmp"
	"context"
	"net/netip"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/cache"
	"warden/internal/health"
	"warden/internal/policy"
	"warden/internal/query"
	"warden/internal/resolver"
	"warden/internal/validator"
	"warden/internal/wire"
)

// Recursor is the resolution stage: a query no served zone answers is resolved iteratively from
// the root hints, for clients of the allowed networks. A UDP query is answered later, from the
// resolving goroutine, so the listener's worker is never held up; TCP queries already have their
// own goroutine and wait in it.
type Recursor struct {
	hints   []resolver.NameServer
	allow   []netip.Prefix
	iter    *resolver.Resolver
	timeout time.Duration
	limits  wire.Limits
	cache   *cache.Cache
	fwd     []*forwardZone
	local   *authority.Set
	except  []string
	// policyTemplates renders policy blocks without building a message.
	policyTemplates policyTemplates
	// slots bounds the questions being resolved at once: past it, SERVFAIL at once rather than
	// a queue that grows with the attack.
	slots chan struct{}
	// ns remembers the name servers behind answers for the response policy's cache hits.
	ns nsMemory
	// bogus remembers, for Unbound's val-bogus-ttl, the questions whose answers failed DNSSEC
	// validation, so that a client asking again gets SERVFAIL without a new resolution.
	bogus bogusMemory
}

// RecursorConfig is what a Recursor needs.
type RecursorConfig struct {
	Hints     []resolver.NameServer
	Allow     []netip.Prefix
	Exchanger resolver.Exchanger
	// Limits bound the work of one question; the zero value means resolver.DefaultLimits.
	Limits resolver.Limits
	// MaxZoneQueries bounds the queries in flight to one zone's servers (0: no bound).
	MaxZoneQueries int
	Timeout        time.Duration
	MaxConcurrent  int
	UDPPayload     uint16
	// Cache holds answers already resolved; nil makes one of cache.DefaultMaxBytes. Its
	// Config.Limits should carry the same UDPPayload, as hits are rendered with them.
	Cache *cache.Cache
	// Forwards send the questions under a zone to other resolvers; the longest zone wins.
	Forwards []Forward
	// Local answers the special-use names itself (see NewSpecialUse); nil answers none.
	Local *authority.Set
	// LocalExcept are zones under special-use names that the operator forwards or resolves:
	// their names are not answered locally.
	LocalExcept []string
	// Validation turns DNSSEC validation on when it holds a trust anchor; the Exchanger must
	// then ask for DNSSEC records.
	Validation resolver.Validation
	// Health is told when a forwarder goes down and comes back; nil tells nobody.
	Health *health.Board
}

// NewRecursor returns the stage.
func NewRecursor(c RecursorConfig) *Recursor {
	if c.UDPPayload < 512 {
		c.UDPPayload = 1232
	}
	if c.Cache == nil {
		c.Cache = cache.New(cache.Config{Limits: wire.Limits{UDPPayload: c.UDPPayload}})
	}
	fwd := newForwardZones(c.Forwards, c.Health)
	if c.Validation.Anchors.Len() > 0 {
		for _, f := range fwd {
			f.chain = validator.NewChain(c.Validation.Options, c.Validation.Anchors, forwardFetcher{f})
			if f.replies != nil {
				f.replies.Use(f.chain)
			}
		}
	}
	return &Recursor{
		fwd:    fwd,
		local:  c.Local,
		except: c.LocalExcept,
		cache:  c.Cache,
		hints:  c.Hints,
		allow:  c.Allow,
		iter: resolver.NewResolver(resolver.Config{
			Exchanger:      c.Exchanger,
			Hints:          c.Hints,
			Limits:         cmp.Or(c.Limits, resolver.DefaultLimits),
			Delegations:    resolver.NewDelegations(resolver.DelegationsConfig{}),
			MaxZoneQueries: c.MaxZoneQueries,
			Validation:     c.Validation,
		}),
		bogus:   newBogusMemory(c.Validation.Options.Negative),
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
func (r *Recursor) Serve(req *query.Request, out []byte) []byte { return r.ServePolicy(req, out, nil) }

// ServePolicy is Serve with the response stage of a policy: pol, when not nil, sees every answer
// (cached or resolved) before it goes out.
func (r *Recursor) ServePolicy(req *query.Request, out []byte, pol *policy.Policy) []byte {
	if !r.allowed(req.Client.Addr()) {
		req.Outcome.Source = query.SourceLocal
		return r.limits.RenderRcode(out, req, rcodeRefused, edeProhibited)
	}
	return r.serve(req, out, pol, authority.Outcome{})
}

// serve is ServePolicy for a client already known to be allowed, and for a question the served
// zones may have delegated: a Delegated outcome makes resolution start at the servers of the
// zones' own delegation.
func (r *Recursor) serve(req *query.Request, out []byte, pol *policy.Policy, from authority.Outcome) []byte {
	// 4. The cache: a hit is the stored answer with ID, TTLs and the client's case patched in.
	if res, st := r.cache.Get(req, out); st.Found() {
		req.Outcome.Source, req.Outcome.Cache = query.SourceCache, query.CacheHit
		if st == cache.Prefetch {
			r.prefetch(req)
		}
		if pol != nil {
			return r.policyResponse(req, pol, res, nil)
		}
		return res
	}
	// Special-use names never leave this server. They are never cached either, so looking here
	// only after the cache keeps the common hit to one lookup.
	if r.local != nil && (len(r.except) == 0 || !under(wire.NameString(req.Lower()), r.except)) {
		if t := r.local.Answer(req); t != nil {
			req.Outcome.Source = query.SourceLocal
			out = r.limits.Render(out, req, t)
			out[3] |= query.FlagRA
			return out
		}
	}
	if req.Flags&query.FlagRD == 0 {
		// Not in the cache, and the client asked us not to go and find it.
		return r.refuse(out, req, rcodeRefused, wire.NoEDE)
	}
	q := resolver.Question{Name: wire.NameString(req.Lower()), Type: req.QType}
	fwd := r.forwardFor(q.Name)
	if fwd == nil && len(r.hints) == 0 && from.Kind != authority.Delegated {
		return r.refuse(out, req, rcodeRefused, wire.EDENotAuthoritative)
	}
	if ede, ok := r.bogus.lookup(q, req); ok {
		req.Outcome.Source = query.SourceResolver
		return r.renderRcode(out, req, rcodeServFail, ede)
	}
	if fwd == nil && r.zoneSaturated(q.Name, from) {
		// The resolution could not send its first query: answer now, from the listener's
		// worker, as it would have answered later.
		req.Outcome.Source = query.SourceResolver
		return r.answer(req, resolver.Result{Rcode: dns.RcodeServerFailure}, out)
	}
	// 5. Resolution or forwarding, then 6. the response policy.
	return r.async(req, out, func(req *query.Request, buf []byte) []byte {
		req.Outcome.Cache = query.CacheMiss
		if fwd != nil {
			req.Outcome.Source = query.SourceForward
			return r.policyResponse(req, pol, r.forward(fwd, req, buf), nil)
		}
		req.Outcome.Source = query.SourceResolver
		res := r.resolveFrom(q, from)
		if res.Server.IsValid() {
			req.Outcome.Upstream = res.Server.String()
		}
		out := r.answer(req, res, buf)
		if pol != nil && res.Rcode != dns.RcodeServerFailure {
			out = r.policyResponse(req, pol, out, res.Visited)
		}
		return out
	})
}

// async runs work, which resolves, within the bound on questions being resolved at once: now,
// for a query whose listener waits (TCP), or on its own goroutine, answering later (UDP).
func (r *Recursor) async(req *query.Request, out []byte, work func(req *query.Request, buf []byte) []byte) []byte {
	select {
	case r.slots <- struct{}{}:
	default:
		// Too busy to resolve: an expired answer is still better than none (RFC 8767 §5 lists
		// the resolver's own load among the reasons to serve stale).
		if stale, st := r.cache.GetStale(req, out); st.Found() {
			req.Outcome.Source = query.SourceCache
			return stale
		}
		return r.refuse(out, req, rcodeServFail, wire.NoEDE)
	}
	if req.Later == nil {
		defer func() { <-r.slots }()
		// The answer is only known once resolved: its TTLs count from then, not from when the
		// query came in (the deferred Request below has no stamp either).
		req.Received = time.Time{}
		return work(req, out)
	}
	replier := req.Later.Defer(req)
	// The request's bytes belong to the listener; keep a copy to render the answer from.
	later := &query.Request{Wire: append([]byte(nil), req.Wire...), Client: req.Client, Transport: req.Transport}
	go func() {
		defer func() { <-r.slots }()
		later.Parse()
		replier.Reply(later, work(later, make([]byte, 0, recursionReplyBytes)))
	}()
	return nil
}

// zoneSaturated says whether the zone a resolution of name would start at already has every
// query slot it may use (resolver.Config.MaxZoneQueries).
func (r *Recursor) zoneSaturated(name string, from authority.Outcome) bool {
	if from.Kind == authority.Delegated {
		cut, _ := from.Delegation()
		return r.iter.SaturatedAt(cut)
	}
	return r.iter.Saturated(name)
}

// prefetch refreshes an answer that is still asked for shortly before it expires, in the
// background, so that the name never drops out of the cache (as Unbound's prefetch does). The
// cache reports this once per entry; it is skipped when every slot is busy.
func (r *Recursor) prefetch(req *query.Request) {
	select {
	case r.slots <- struct{}{}:
	default:
		return
	}
	later := &query.Request{Wire: append([]byte(nil), req.Wire...), Client: req.Client, Transport: query.TCP}
	q := resolver.Question{Name: wire.NameString(req.Lower()), Type: req.QType}
	fwd := r.forwardFor(q.Name)
	go func() {
		defer func() { <-r.slots }()
		later.Parse()
		buf := make([]byte, 0, recursionReplyBytes)
		if fwd != nil {
			r.forward(fwd, later, buf)
		} else if len(r.hints) > 0 {
			r.answer(later, r.resolve(q), buf)
		}
	}()
}

// refuse renders an answer the resolver gives by itself (refusals, SERVFAIL when it is too busy)
// to a client allowed to recurse, RA set.
func (r *Recursor) refuse(out []byte, req *query.Request, rcode uint16, ede int) []byte {
	req.Outcome.Source = query.SourceLocal
	return r.renderRcode(out, req, rcode, ede)
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
	return r.resolveFrom(q, authority.Outcome{})
}

// resolveFrom resolves q, from the delegation of a served zone when from is Delegated (as BIND
// does: the zone's own NS records and glue are the servers to ask), else from the closest cut
// known or the root.
func (r *Recursor) resolveFrom(q resolver.Question, from authority.Outcome) resolver.Result {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	if from.Kind == authority.Delegated {
		cut, servers := from.Delegation()
		ns := make([]resolver.NameServer, len(servers))
		for i, s := range servers {
			ns[i] = resolver.NameServer{Name: s.Name, Addrs: s.Addrs}
		}
		return r.iter.ResolveAt(ctx, q, cut, ns)
	}
	return r.iter.Resolve(ctx, q)
}

// answer stores a resolution's result in the cache and renders it for req. When resolution failed,
// an expired answer still in the cache is served instead (RFC 8767 serve-stale).
func (r *Recursor) answer(req *query.Request, res resolver.Result, out []byte) []byte {
	if res.Rcode == dns.RcodeServerFailure {
		if stale, st := r.cache.GetStale(req, out); st.Found() {
			req.Outcome.Source, req.Outcome.Upstream = query.SourceCache, ""
			return stale
		}
		return r.render(req, res, out)
	}
	if res.Security.State == validator.Bogus {
		if req.Flags&query.FlagCD == 0 {
			r.bogus.remember(resolver.Question{Name: wire.NameString(req.Lower()), Type: req.QType}, int(res.Security.EDE))
			return r.renderRcode(out, req, rcodeServFail, int(res.Security.EDE))
		}
		// The client checks for itself (CD=1): the data as it came, never cached.
		answer, ns := forClient(req, res)
		return r.renderSections(req, res.Rcode, answer, ns, nil, out)
	}
	answer, ns := forClient(req, res)
	// The entry is built from the records themselves; each client then gets what fits, rendered
	// from it as every later hit is.
	a := cache.Answer{Name: req.Lower(), Type: req.QType, Class: req.QClass, DO: req.DO,
		Rcode: res.Rcode, Answer: answer, Ns: ns, Secure: res.Security.State == validator.Secure}
	if err := r.cache.PutAnswer(a, cache.RankAuthAnswer); err == nil {
		if hit, st := r.cache.GetStored(req, out); st.Found() {
			return hit
		}
	}
	// Not cacheable (a TTL of zero): rendered as it is, AD set as a hit would set it.
	out = r.renderSections(req, res.Rcode, answer, ns, nil, out)
	if res.Security.State == validator.Secure && len(out) > 3 && out[3]&0x0F != rcodeServFail &&
		(req.DO || req.Flags&query.FlagAD != 0) {
		out[3] |= byte(query.FlagAD)
	}
	return out
}

// render builds the answer to req from the result with the same templates the zones use: the
// client's question with its letter case, RD as asked, RA set, truncation as for any answer.
func (r *Recursor) render(req *query.Request, res resolver.Result, out []byte) []byte {
	if res.Rcode == dns.RcodeServerFailure {
		return r.renderRcode(out, req, rcodeServFail, edeNoReachableAuth)
	}
	return r.renderSections(req, res.Rcode, res.Answer, res.Ns, nil, out)
}

// renderRcode renders an answer of rcode alone to a client allowed to recurse: RA set, as on
// every answer such a client gets.
func (r *Recursor) renderRcode(out []byte, req *query.Request, rcode uint16, ede int) []byte {
	out = r.limits.RenderRcode(out, req, rcode, ede)
	if len(out) > 3 {
		out[3] |= query.FlagRA
	}
	return out
}

// renderSections renders an answer of the given sections, RA set, through the same routine and
// limits as every other answer; a truncated one loses additional RRsets whole.
func (r *Recursor) renderSections(req *query.Request, rcode uint16, answer, ns, extra []dns.RR, out []byte) []byte {
	return r.renderAnswer(req, rcode, false, answer, ns, extra, out)
}

// renderAnswer is renderSections with the AA bit given.
func (r *Recursor) renderAnswer(req *query.Request, rcode uint16, aa bool, answer, ns, extra []dns.RR, out []byte) []byte {
	qname := req.Lower()
	b := wire.NewBuilder(qname, len(qname))
	b.SetRcode(uint8(rcode), aa)
	b.SetRA()
	for _, set := range []struct {
		s   wire.Section
		rrs []dns.RR
	}{{wire.Answer, answer}, {wire.Authority, ns}, {wire.Additional, extra}} {
		if err := b.AddSection(set.s, set.rrs); err != nil {
			return r.renderRcode(out, req, rcodeServFail, wire.NoEDE)
		}
	}
	return r.limits.Render(out, req, b.Template())
}
