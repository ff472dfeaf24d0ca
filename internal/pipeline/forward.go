package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/cache"
	"warden/internal/health"
	"warden/internal/query"
	"warden/internal/resolver"
	"warden/internal/upstream"
	"warden/internal/validator"
	"warden/internal/wire"
)

// Forward is one forwarded zone and the resolvers it goes to.
type Forward struct {
	Zone      string // lower-case, fully qualified
	Upstreams []upstream.Upstream
	// Replies, when set, is pointed at the zone's chain once it is made; the Upstreams' Hold-On
	// asks it (upstream.Options.Validates) whether a reply is proven by keys already known.
	Replies *validator.ReplyCheck
}

// forwardZone is a Forward with what has been learned of its upstreams' health.
type forwardZone struct {
	zone    string
	apex    []byte // zone in wire form: each query's Zone, for dnstap's query_zone
	targets []*forwardTarget
	// chain validates the zone's answers, its DS and DNSKEY questions asked of the same
	// forwarders; nil when the resolver does not validate.
	chain *validator.Chain
	// replies is Hold-On's view of chain, bound when chain is made; nil when nobody asks.
	replies *validator.ReplyCheck
}

// forwardTarget is one upstream and its health. After maxFails failures in a row it is down: it is
// asked only when every healthy upstream has failed, and a health check (the forwarded zone's SOA,
// which a forwarder that serves only that zone answers too) is sent to it at most once per
// probeInterval, in the background, until one succeeds.
type forwardTarget struct {
	up upstream.Upstream
	// trouble tells an operator when the upstream goes down and when it comes back.
	trouble   *health.Condition
	zone      []byte // the forwarded zone in wire form, for health checks
	fails     atomic.Int32
	down      atomic.Bool
	probing   atomic.Bool
	lastProbe atomic.Int64 // Unix nanoseconds
}

const (
	maxFails      = 2
	probeInterval = time.Second
	probeTimeout  = 2 * time.Second
)

func newForwardZones(fs []Forward, board *health.Board) []*forwardZone {
	out := make([]*forwardZone, 0, len(fs))
	for _, f := range fs {
		z := &forwardZone{zone: f.Zone, replies: f.Replies}
		// Zones come from the validated configuration; a name that does not convert leaves
		// the health check asking the root.
		apex, err := wire.AppendName(nil, f.Zone)
		if err != nil {
			apex = []byte{0}
		}
		z.apex = apex
		for _, up := range f.Upstreams {
			z.targets = append(z.targets, &forwardTarget{up: up, zone: apex, trouble: board.Watch(health.Upstream, up.Addr())})
		}
		out = append(out, z)
	}
	// The longest zone wins.
	slices.SortStableFunc(out, func(a, b *forwardZone) int { return len(b.zone) - len(a.zone) })
	return out
}

// forwardFor returns the forwarded zone that holds name, nil when none does.
func (r *Recursor) forwardFor(name string) *forwardZone {
	for _, f := range r.fwd {
		if f.zone == "." || name == f.zone || strings.HasSuffix(name, "."+f.zone) {
			return f
		}
	}
	return nil
}

// order returns the targets to try: healthy ones fastest first, then the ones that are down.
func (f *forwardZone) order() []*forwardTarget {
	ts := slices.Clone(f.targets)
	slices.SortStableFunc(ts, func(a, b *forwardTarget) int {
		if da, db := a.down.Load(), b.down.Load(); da != db {
			if da {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.up.Stats().SRTT, b.up.Stats().SRTT)
	})
	return ts
}

// result records how an exchange with t went: ok, or failed with err. A success reads the
// shared state and writes it only when it changes, so that answering upstreams cost the
// forwarding goroutines no contended writes.
func (t *forwardTarget) result(ok bool, err error) {
	if ok {
		if t.fails.Load() != 0 {
			t.fails.Store(0)
		}
		if t.down.Load() {
			t.down.Store(false)
		}
		t.trouble.Recover()
		return
	}
	if t.fails.Add(1) >= maxFails {
		t.down.Store(true)
		t.trouble.Fail(err)
	}
}

// failure is why an exchange that ended in reply and err is not an answer to pass on.
func failure(reply *upstream.Reply, err error) error {
	if err != nil {
		return err
	}
	if s, ok := dns.RcodeToString[reply.Rcode]; ok {
		return fmt.Errorf("answered %s", s)
	}
	return fmt.Errorf("answered rcode %d", reply.Rcode)
}

// probe sends a health check to a target that is down, unless one is running or was sent less
// than probeInterval ago.
func (t *forwardTarget) probe() {
	now := time.Now().UnixNano()
	if !t.down.Load() || now-t.lastProbe.Load() < int64(probeInterval) || !t.probing.CompareAndSwap(false, true) {
		return
	}
	t.lastProbe.Store(now)
	go func() {
		defer t.probing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		reply, err := t.up.Exchange(ctx, &upstream.Query{Name: t.zone, Type: dns.TypeSOA, RD: true})
		if err == nil && usable(reply.Rcode) {
			t.result(true, nil)
		} else {
			t.trouble.Fail(failure(reply, err)) // counted, not logged: the target is down already
		}
	}()
}

// usable says whether a forwarder's rcode is an answer to pass on; SERVFAIL, REFUSED and the rest
// make the next upstream be asked.
func usable(rcode uint16) bool { return rcode == dns.RcodeSuccess || rcode == dns.RcodeNameError }

// forward asks the zone's resolvers, healthy and fastest first, and moves on from one that fails,
// times out or answers SERVFAIL or REFUSED. The reply goes through the cache, which checks it, and
// comes back rendered for the client.
func (r *Recursor) forward(f *forwardZone, req *query.Request, out []byte) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	uq := &upstream.Query{Name: slices.Clone(req.Lower()), Type: req.QType, Class: req.QClass, RD: true, DO: req.DO, Zone: f.apex}
	if f.chain != nil {
		// The forwarder's own verdict is not taken on trust: ask for the records and the
		// signatures unchecked, and check them here.
		uq.DO, uq.CD = true, true
	}
	for _, t := range f.targets {
		t.probe()
	}
	if f.chain != nil {
		if syn, ok := f.chain.Synthesise(wire.NameString(req.Lower()), req.QType); ok {
			return r.answer(req, resolver.SynthesisedResult(syn), out)
		}
	}
	for _, t := range f.order() {
		reply, err := t.up.Exchange(ctx, uq)
		ok := err == nil && usable(reply.Rcode)
		if ok {
			t.result(true, nil)
		} else if ctx.Err() == nil {
			t.result(false, failure(reply, err)) // running out of the client's time is not the upstream's failure
		}
		if !ok {
			continue
		}
		req.Outcome.Upstream = t.up.Addr()
		if f.chain != nil {
			m, err := wire.Unpack(reply.Data)
			if err != nil {
				continue
			}
			res := forwardedResult(m)
			res.Security = f.chain.Response(ctx, wire.NameString(req.Lower()), req.QType, res.Rcode, res.Answer, slices.Concat(res.Ns, res.Proof))
			return r.answer(req, res, out)
		}
		if r.cache.Put(reply.Data, cache.RankAnswer) == nil {
			if hit, st := r.cache.GetStored(req, out); st.Found() {
				return hit
			}
		}
		// Not cacheable (a zero TTL, say): pass the records on as they came.
		m, err := wire.Unpack(reply.Data)
		if err != nil {
			continue
		}
		return r.render(req, resolver.Result{Rcode: m.Rcode, Answer: m.Answer, Ns: m.Ns}, out)
	}
	req.Outcome.Upstream = "" // none answered
	return r.answer(req, resolver.Result{Rcode: dns.RcodeServerFailure}, out)
}

// forwardedResult reads a forwarder's reply as a resolution's result: the answer section, the
// SOA of a negative answer, and the proofs of denial with their signatures apart.
func forwardedResult(m *dns.Msg) resolver.Result {
	res := resolver.Result{Rcode: m.Rcode, Answer: m.Answer}
	for _, rr := range m.Ns {
		switch rr.(type) {
		case *dns.SOA:
			res.Ns = append(res.Ns, rr)
		case *dns.NSEC, *dns.NSEC3, *dns.RRSIG:
			res.Proof = append(res.Proof, rr)
		}
	}
	return res
}

// forwardFetcher asks a forwarded zone's resolvers the DS and DNSKEY questions of the chain of
// trust, with DO=1 and CD=1, in the order the zone's answers are asked.
type forwardFetcher struct{ f *forwardZone }

func (ff forwardFetcher) Fetch(ctx context.Context, name string, qtype uint16) (validator.Reply, error) {
	qname, err := wire.AppendName(nil, name)
	if err != nil {
		return validator.Reply{}, err
	}
	uq := &upstream.Query{Name: qname, Type: qtype, RD: true, DO: true, CD: true}
	var last error = errors.New("no forwarder")
	for _, t := range ff.f.order() {
		reply, err := t.up.Exchange(ctx, uq)
		if err != nil {
			last = err
			continue
		}
		if !usable(reply.Rcode) {
			last = fmt.Errorf("%s %s: rcode %d", name, dns.TypeToString[qtype], reply.Rcode)
			continue
		}
		m, err := wire.Unpack(reply.Data)
		if err != nil {
			last = err
			continue
		}
		return validator.Reply{Rcode: m.Rcode, Answer: m.Answer, Ns: m.Ns}, nil
	}
	return validator.Reply{}, last
}

// Upstreams returns the configured forwarders of every forwarded zone, for their metrics.
func (r *Recursor) Upstreams() []upstream.Upstream {
	var ups []upstream.Upstream
	for _, f := range r.fwd {
		for _, t := range f.targets {
			ups = append(ups, t.up)
		}
	}
	return ups
}

// Cache returns the answer cache, for its size in metrics.
func (r *Recursor) Cache() *cache.Cache { return r.cache }
