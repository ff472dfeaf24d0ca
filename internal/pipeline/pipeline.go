package pipeline

import (
	"sync/atomic"

	"warden/internal/authority"
	"warden/internal/cookie"
	"warden/internal/policy"
	"warden/internal/query"
	"warden/internal/rrl"
	"warden/internal/wire"
)

// Response codes, opcodes and types that admission looks at.
const (
	rcodeFormErr = 1
	rcodeNotImp  = 4
	rcodeRefused = 5
	rcodeNotAuth = 9
	rcodeBadVers = 16
	typeIXFR     = 251
	typeAXFR     = 252
	typeSOA      = 6
)

// Snapshot is everything a query reads, swapped whole on reload so that a query never sees half of
// one. Later stages (policy, cache, resolver) add their state here.
type Snapshot struct {
	Authority *authority.Set
	// Recursion resolves what no zone holds; nil when the server is authoritative only.
	Recursion *Recursor
	// Policy rewrites the answers to recursive queries; nil when there is none. It applies only
	// where recursion does (RD=1, a client allowed to recurse), as BIND's response-policy.
	Policy *policy.Policy
	// Zones answers zone transfers, NOTIFY and UPDATE; nil when the server takes part in no
	// replication, and admission then refuses them as not authorised.
	Zones ZoneOps
	// Cookies are the secrets of the server cookies (RFC 7873, RFC 9018): the one that makes them
	// and the retired ones still accepted; nil when cookies are off.
	Cookies *cookie.Keyring
	// RateLimit limits identical responses over UDP (RRL); nil when off.
	RateLimit *rrl.Limiter
}

// ZoneOps answers the messages that concern a whole zone rather than a name. On TCP it may send
// messages through req.Stream before returning its last one (or nil).
type ZoneOps interface {
	ServeZoneOp(req *query.Request, out []byte) []byte
	// ServeSigned answers a QUERY that carries a TSIG: verified, answered by answer (given the
	// request without its TSIG), and signed; or refused with the TSIG error.
	ServeSigned(req *query.Request, out []byte, answer func(*query.Request, []byte) []byte) []byte
}

// Pipeline is the path of one query, in the order of the design (ServeDNS lists the stages).
// It implements server.Handler (the listeners' interface); it is safe for concurrent use and does not allocate on a hit.
type Pipeline struct {
	limits wire.Limits
	snap   atomic.Pointer[Snapshot]
	// Recent samples the names asked recursively, the corpus policy changes are checked on.
	Recent *RecentNames
}

// NewPipeline returns a pipeline serving snap.
func NewPipeline(limits wire.Limits, snap *Snapshot) *Pipeline {
	if limits.UDPPayload < 512 {
		limits.UDPPayload = 1232
	}
	p := &Pipeline{limits: limits, Recent: &RecentNames{}}
	p.snap.Store(snap)
	return p
}

// Snapshot returns the snapshot in force.
func (p *Pipeline) Snapshot() *Snapshot { return p.snap.Load() }

// Update swaps in a copy of the running snapshot changed by change, which may be called more than
// once and must only set fields; queries in flight finish on the old snapshot. Parts of the server that change different fields (the reload
// loop the zones, the policy loader the policy) use it so that neither undoes the other.
func (p *Pipeline) Update(change func(*Snapshot)) {
	for {
		old := p.snap.Load()
		next := *old
		change(&next)
		if p.snap.CompareAndSwap(old, &next) {
			return
		}
	}
}

// Policy returns the response policy in force (nil for none).
func (p *Pipeline) Policy() *policy.Policy { return p.snap.Load().Policy }

// SetPolicy puts pol in force, leaving the rest of the snapshot as it is.
func (p *Pipeline) SetPolicy(pol *policy.Policy) { p.Update(func(s *Snapshot) { s.Policy = pol }) }

// ServeDNS answers one query. The stages run in this order, each a method below with the same
// shape: it either answers (the response, or nil for none at all, with req.Outcome saying who
// answered) or passes the query on.
//
//  1. admission: malformed messages (and COOKIE options, when cookies are on), other opcodes and
//     classes, zone operations, signed queries
//  2. question policy: client-IP and QNAME rules of a recursive query, before anything is looked up
//  3. served zones: the closest enclosing zone that Warden serves
//  4. cache, 5. resolution or forwarding, 6. response policy: in the Recursor (recursion.go),
//     because a resolved answer may come after ServeDNS has returned
//
// After the last, once the response's bytes are known, guard.go limits the rate of identical UDP responses
// and adds the server cookie to the OPT record, for answers given later as well.
//
// Rendering is internal/wire's, for every stage: the same limits and truncation everywhere.
func (p *Pipeline) ServeDNS(req *query.Request, out []byte) []byte {
	snap := p.snap.Load()
	if snap.Cookies == nil && snap.RateLimit == nil {
		return p.stages(snap, req, out)
	}
	return p.guarded(snap, req, out)
}

// stages runs the stages ServeDNS lists.
func (p *Pipeline) stages(snap *Snapshot, req *query.Request, out []byte) []byte {
	if res, done := p.admission(snap, req, out); done {
		return res
	}
	// Who may recurse is decided once, here: the policy, the RA bit and resolution all follow
	// it. rec is the resolver this client may use, nil for none.
	rec := snap.Recursion
	if rec != nil && !rec.allowed(req.Client.Addr()) {
		rec = nil
	}
	// The policy's question stage, called only where it can apply, so that a query without a
	// policy to ask pays no call.
	var pending *policy.Policy
	if snap.Policy != nil && rec != nil && req.Flags&query.FlagRD != 0 {
		var res []byte
		var done bool
		if res, done, pending = p.questionPolicy(snap, rec, req, out); done {
			return res
		}
	}
	if res, done := p.zones(snap.Authority, rec, req, out, pending); done {
		return res
	}
	return p.recursion(snap, rec, req, out, pending)
}

// admission parses the header, the question and the OPT record, and answers what is not a plain
// query for names: errors as Knot gives them, zone operations (NOTIFY, UPDATE, transfers) by the
// zone manager, TSIG-signed queries from the zones alone.
func (p *Pipeline) admission(snap *Snapshot, req *query.Request, out []byte) ([]byte, bool) {
	switch req.Parse() {
	case query.Drop:
		return nil, true
	case query.FormErr:
		if res, ok := p.cookieOnly(snap, req, out); ok {
			return res, true
		}
		if req.QuestionEnd == 0 && !knownOpcode(req.Opcode) {
			return p.local(out, req, rcodeNotImp, wire.NoEDE), true
		}
		return p.local(out, req, rcodeFormErr, wire.NoEDE), true
	case query.BadVers:
		return p.local(out, req, rcodeBadVers, wire.NoEDE), true
	}
	if rcode := admit(req); rcode != 0 {
		if rcode == rcodeNotAuth && snap.Zones != nil {
			req.Outcome.Source = query.SourceAuthority
			return snap.Zones.ServeZoneOp(req, out), true
		}
		ede := wire.NoEDE
		if rcode == rcodeRefused {
			ede = wire.EDENotAuthoritative
			if req.QType == typeAXFR || req.QType == typeIXFR {
				ede = wire.EDENotSupported // a transfer over DoH
			}
		}
		return p.local(out, req, rcode, ede), true
	}
	if req.BadCookie && snap.Cookies != nil {
		return p.local(out, req, rcodeFormErr, wire.NoEDE), true // RFC 7873 §5.2.2
	}
	if req.HasTSIG {
		return p.serveSigned(snap, req, out), true
	}
	return nil, false
}

// local renders an error the server gives by itself.
func (p *Pipeline) local(out []byte, req *query.Request, rcode uint16, ede int) []byte {
	req.Outcome.Source = query.SourceLocal
	return p.limits.RenderRcode(out, req, rcode, ede)
}

// zones answers from the closest enclosing served zone; one that has no data yet (or has expired)
// answers SERVFAIL. A client that may recurse (rec not nil) gets these answers as a resolver
// gives them (mixed.go): RA set, and with RD=1 what the zones leave undone is resolved, pending
// (the policy's response stage) applying to a delegated name as to any resolution. A signed
// query is answered from the zones alone (rec nil).
func (p *Pipeline) zones(set *authority.Set, rec *Recursor, req *query.Request, out []byte, pending *policy.Policy) ([]byte, bool) {
	if set.Unavailable(req.Lower()) {
		req.Outcome.Source = query.SourceAuthority
		out = p.limits.RenderRcode(out, req, rcodeServFail, wire.NoEDE)
		if rec != nil {
			out[3] |= query.FlagRA
		}
		return out, true
	}
	t, o := set.Lookup(req)
	if t == nil {
		return nil, false
	}
	req.Outcome.Source = query.SourceAuthority
	if rec != nil {
		return rec.serveZones(req, out, t, o, set, pending), true
	}
	return p.limits.Render(out, req, t), true
}

// recursion hands what no zone holds to the Recursor: the cache, then resolution or forwarding,
// then the response stage of pending (the policy, when its question stage could not decide). A
// server without recursion refuses.
func (p *Pipeline) recursion(snap *Snapshot, rec *Recursor, req *query.Request, out []byte, pending *policy.Policy) []byte {
	switch {
	case snap.Recursion == nil:
		return p.local(out, req, rcodeRefused, wire.EDENotAuthoritative)
	case rec == nil:
		return p.local(out, req, rcodeRefused, edeProhibited)
	}
	// Only clients allowed to recurse count: the refused could otherwise dilute the corpus a
	// policy change is checked on.
	if p.Recent.wants(req.ID) {
		p.Recent.add(req.Lower())
	}
	return rec.serve(req, out, pending, authority.Outcome{})
}

// serveSigned answers a signed query (a secondary's SOA check, say) from the zones alone, signed
// by the stage that holds the keys; without one there is no key to check. It is kept out of
// ServeDNS so that the common path does not carry its closure.
func (p *Pipeline) serveSigned(snap *Snapshot, req *query.Request, out []byte) []byte {
	if snap.Zones == nil {
		return p.local(out, req, rcodeNotAuth, wire.NoEDE)
	}
	return snap.Zones.ServeSigned(req, out, func(inner *query.Request, out []byte) []byte {
		return p.answerFromZones(snap, inner, out)
	})
}

// answerFromZones answers req from the served zones only: REFUSED outside them.
func (p *Pipeline) answerFromZones(snap *Snapshot, req *query.Request, out []byte) []byte {
	if res, done := p.zones(snap.Authority, nil, req, out, nil); done {
		return res
	}
	return p.local(out, req, rcodeRefused, wire.EDENotAuthoritative)
}

func knownOpcode(op uint8) bool {
	return op == query.OpcodeQuery || op == query.OpcodeNotify || op == query.OpcodeUpdate
}

// admit returns the rcode for what the zones cannot answer, 0 for a query they can. The choices
// follow Knot DNS: NOTIFY, UPDATE and zone transfers are refused as not authorised (no peer is
// configured to be allowed them), other opcodes and QTYPE 0 get NOTIMP, and classes other
// than IN (and ANY, answered as IN) have no zones.
func admit(req *query.Request) uint16 {
	switch req.Opcode {
	case query.OpcodeQuery:
	case query.OpcodeUpdate:
		if req.QType != typeSOA {
			return rcodeFormErr // RFC 2136 §3.1.1: the zone section names the zone by its SOA
		}
		return rcodeNotAuth
	case query.OpcodeNotify:
		return rcodeNotAuth
	default:
		return rcodeNotImp
	}
	switch req.QType {
	case 0:
		return rcodeNotImp
	case typeAXFR, typeIXFR:
		if req.Transport == query.DoH {
			// One HTTP response carries one message; a transfer takes many. RFC 8484 does not
			// provide for them, and zone transfers over encrypted channels are DoT's (RFC 9103).
			return rcodeRefused
		}
		if req.QType == typeAXFR && req.Transport == query.UDP {
			return rcodeNotImp // RFC 5936 §4.2: AXFR is a TCP exchange
		}
		return rcodeNotAuth
	}
	if req.QClass != query.ClassIN && req.QClass != query.ClassANY {
		return rcodeRefused
	}
	return 0
}
