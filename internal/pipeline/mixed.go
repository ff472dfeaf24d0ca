package pipeline

import (
	"errors"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/policy"
	"warden/internal/query"
	"warden/internal/resolver"
	"warden/internal/wire"
)

// Mixed mode: a server with zones and recursion answers a client that may recurse as BIND 9 does
// with `recursion yes`. Every answer such a client gets says recursion is available. With RD=1,
// what the zones leave undone is resolved: a name at or below one of their delegations is
// resolved from the delegation's servers (an answer like any resolved one, AA=0), and a CNAME
// chain that leaves the zones is followed, the zones' records first and AA kept. With RD=0 the
// answer is the zones' own.

// maxChainSteps bounds the names one CNAME chain leaving the zones is looked up under, as BIND's
// max-restarts does; the chain found so far is the answer past it.
const maxChainSteps = 11

// serveZones answers req, which the zones answered with t, for a client allowed to recurse.
func (r *Recursor) serveZones(req *query.Request, out []byte, t *wire.Template, o authority.Outcome, zones *authority.Set, pol *policy.Policy) []byte {
	if req.Flags&query.FlagRD != 0 {
		switch o.Kind {
		case authority.Delegated:
			return r.serve(req, out, pol, o)
		case authority.Continues:
			return r.async(req, out, func(req *query.Request, buf []byte) []byte {
				return r.continueChain(req, t, o.Target(), zones, buf)
			})
		}
	}
	out = r.limits.Render(out, req, t)
	out[3] |= query.FlagRA // a flag byte patched: the hit stays free of allocations
	return out
}

// continueChain answers req from the zones' answer t, whose CNAME chain stops at target: target
// is looked up as a question of its own (in the zones first, then in the cache or by resolution)
// for as long as the chain goes on, and each answer's records follow the ones before.
func (r *Recursor) continueChain(req *query.Request, t *wire.Template, target string, zones *authority.Set, buf []byte) []byte {
	first, err := r.unpackTemplate(req, t)
	if err != nil {
		return r.renderRcode(buf, req, rcodeServFail, wire.NoEDE)
	}
	answer := first.Answer // a referral the chain ran into is resolved instead
	var rcode uint16
	var ns []dns.RR
	for range maxChainSteps {
		next, err := targetRequest(req, target)
		if err != nil {
			break
		}
		if zones.Unavailable(next.Lower()) {
			return r.renderRcode(buf, req, rcodeServFail, wire.NoEDE)
		}
		var m *dns.Msg
		zt, o := zones.Lookup(next)
		if zt != nil && o.Kind != authority.Delegated {
			if m, err = r.unpackTemplate(next, zt); err != nil {
				return r.renderRcode(buf, req, rcodeServFail, wire.NoEDE)
			}
		} else if m = r.lookupTarget(next, o); m == nil || m.Rcode == dns.RcodeServerFailure {
			return r.renderRcode(buf, req, rcodeServFail, edeNoReachableAuth)
		}
		answer = append(answer, m.Answer...)
		rcode, ns = m.Rcode, soaOnly(m.Ns)
		if o.Kind != authority.Continues || zt == nil {
			break
		}
		target = o.Target()
	}
	return r.renderAnswer(req, rcode, t.AA, answer, ns, nil, buf)
}

// lookupTarget answers next, a name of a CNAME chain the zones do not hold or delegate, from the
// cache or by resolution (the answer then goes into the cache); nil when it cannot be resolved.
func (r *Recursor) lookupTarget(next *query.Request, from authority.Outcome) *dns.Msg {
	buf := make([]byte, 0, recursionReplyBytes)
	res, st := r.cache.Get(next, buf)
	if !st.Found() {
		q := resolver.Question{Name: wire.NameString(next.Lower()), Type: next.QType}
		switch fwd := r.forwardFor(q.Name); {
		case fwd != nil && from.Kind != authority.Delegated:
			res = r.forward(fwd, next, buf)
		case len(r.hints) == 0 && from.Kind != authority.Delegated:
			return nil
		default:
			res = r.answer(next, r.resolveFrom(q, from), buf)
		}
	}
	m, err := wire.Unpack(res)
	if err != nil {
		return nil
	}
	return m
}

// unpackTemplate renders t for req without a size limit and reads the records back.
func (r *Recursor) unpackTemplate(req *query.Request, t *wire.Template) (*dns.Msg, error) {
	whole := *req
	whole.Transport = query.TCP
	return wire.Unpack(r.limits.Render(make([]byte, 0, recursionReplyBytes), &whole, t))
}

// targetRequest is the question for target of req's type, as a client allowed to recurse asks it
// over TCP (so that nothing is truncated).
func targetRequest(req *query.Request, target string) (*query.Request, error) {
	m := dns.NewMsg(target, req.QType)
	m.RecursionDesired = true
	if err := m.Pack(); err != nil {
		return nil, err
	}
	next := &query.Request{Wire: m.Data, Client: req.Client, Transport: query.TCP}
	if next.Parse() != query.Accept {
		return nil, errBadTarget
	}
	return next, nil
}

var errBadTarget = errors.New("CNAME target makes no valid question")

// soaOnly keeps the SOA record of a negative answer's authority section.
func soaOnly(rrs []dns.RR) []dns.RR {
	for _, rr := range rrs {
		if _, ok := rr.(*dns.SOA); ok {
			return []dns.RR{rr}
		}
	}
	return nil
}
