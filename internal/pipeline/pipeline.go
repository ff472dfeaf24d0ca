package pipeline

import (
	"sync/atomic"

	"warden/internal/authority"
	"warden/internal/policy"
	"warden/internal/query"
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
}

// ZoneOps answers the messages that concern a whole zone rather than a name. On TCP it may send
// messages through req.Stream before returning its last one (or nil).
type ZoneOps interface {
	ServeZoneOp(req *query.Request, out []byte) []byte
	// ServeSigned answers a QUERY that carries a TSIG: verified, answered by answer (given the
	// request without its TSIG), and signed; or refused with the TSIG error.
	ServeSigned(req *query.Request, out []byte, answer func(*query.Request, []byte) []byte) []byte
}

// Pipeline is the path of one query, in the order of the design: admission, then the served zones.
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

// ServeDNS answers one query.
func (p *Pipeline) ServeDNS(req *query.Request, out []byte) []byte {
	// 1. Admission: only the header, question and OPT record are read.
	switch req.Parse() {
	case query.Drop:
		return nil
	case query.FormErr:
		if req.QuestionEnd == 0 && !knownOpcode(req.Opcode) {
			return p.limits.RenderRcode(out, req, rcodeNotImp, wire.NoEDE)
		}
		return p.limits.RenderRcode(out, req, rcodeFormErr, wire.NoEDE)
	case query.BadVers:
		return p.limits.RenderRcode(out, req, rcodeBadVers, wire.NoEDE)
	}
	snap := p.snap.Load()
	if rcode := admit(req); rcode != 0 {
		if rcode == rcodeNotAuth && snap.Zones != nil {
			// NOTIFY, UPDATE and transfers: for the zones' own handler to check and answer.
			return snap.Zones.ServeZoneOp(req, out)
		}
		ede := wire.NoEDE
		if rcode == rcodeRefused {
			ede = wire.EDENotAuthoritative
		}
		return p.limits.RenderRcode(out, req, rcode, ede)
	}

	if req.HasTSIG {
		return p.serveSigned(snap, req, out)
	}
	// 2. Policy, question stage: client-IP and QNAME rules answer before anything is looked up,
	// unless a policy zone with response rules comes first; then pol goes on to the answer.
	var pol *policy.Policy
	if snap.Policy != nil {
		var done bool
		var res []byte
		if res, done, pol = p.policyQuestion(snap, req, out); done {
			return res
		}
	}
	// 3. Authority: a served zone that encloses the name answers; one that has no data yet (or
	// has expired) answers SERVFAIL.
	if snap.Authority.Unavailable(req.Lower()) {
		return p.limits.RenderRcode(out, req, rcodeServFail, wire.NoEDE)
	}
	if t := snap.Authority.Answer(req); t != nil {
		return p.limits.Render(out, req, t)
	}
	// 4. Resolution, when configured, for everything else; the cache first. The policy's
	// response stage runs there, on fresh and cached answers alike.
	if snap.Recursion != nil {
		// Only clients allowed to recurse count: the refused could otherwise dilute the
		// corpus a policy change is checked on. The ID decides first, so the client check
		// runs for sampled questions only.
		if p.Recent.wants(req.ID) && snap.Recursion.allowed(req.Client.Addr()) {
			p.Recent.add(req.Lower())
		}
		return snap.Recursion.ServePolicy(req, out, pol)
	}
	return p.limits.RenderRcode(out, req, rcodeRefused, wire.EDENotAuthoritative)
}

// serveSigned answers a signed query (a secondary's SOA check, say) from the zones alone, signed
// by the stage that holds the keys; without one there is no key to check. It is kept out of
// ServeDNS so that the common path does not carry its closure.
func (p *Pipeline) serveSigned(snap *Snapshot, req *query.Request, out []byte) []byte {
	if snap.Zones == nil {
		return p.limits.RenderRcode(out, req, rcodeNotAuth, wire.NoEDE)
	}
	return snap.Zones.ServeSigned(req, out, func(inner *query.Request, out []byte) []byte {
		return p.answerFromZones(snap, inner, out)
	})
}

// answerFromZones answers req from the served zones only: REFUSED outside them.
func (p *Pipeline) answerFromZones(snap *Snapshot, req *query.Request, out []byte) []byte {
	if snap.Authority.Unavailable(req.Lower()) {
		return p.limits.RenderRcode(out, req, rcodeServFail, wire.NoEDE)
	}
	if t := snap.Authority.Answer(req); t != nil {
		return p.limits.Render(out, req, t)
	}
	return p.limits.RenderRcode(out, req, rcodeRefused, wire.EDENotAuthoritative)
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
	case typeAXFR:
		if req.Transport == query.UDP {
			return rcodeNotImp // RFC 5936 §4.2: AXFR is a TCP exchange
		}
		return rcodeNotAuth
	case typeIXFR:
		return rcodeNotAuth
	}
	if req.QClass != query.ClassIN && req.QClass != query.ClassANY {
		return rcodeRefused
	}
	return 0
}
