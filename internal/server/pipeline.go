package server

import (
	"sync/atomic"

	"warden/internal/authority"
	"warden/internal/query"
	"warden/internal/wire"
)

// Response codes the pipeline itself answers with.
const (
	rcodeFormErr  = 1
	rcodeNotImp   = 4
	rcodeRefused  = 5
	rcodeBadVers  = 16
	typeAXFR      = 252
	typeIXFR      = 251
	typeMAILB     = 253
	typeMAILA     = 254
	typeOPT       = 41
	typeTKEY      = 249
	typeTSIG      = 250
	firstMetaType = 128 // RFC 6895 §3.1: 128-255 are meta types and QTYPEs
)

// Snapshot is everything a query reads, swapped whole on reload so that a query never sees half of
// one. Later stages (policy, cache, resolver) add their state here.
type Snapshot struct {
	Authority *authority.Set
}

// Pipeline is the path of one query, in the order of the design: admission, then the served zones.
// It implements Handler; it is safe for concurrent use and does not allocate on a hit.
type Pipeline struct {
	limits wire.Limits
	snap   atomic.Pointer[Snapshot]
}

// NewPipeline returns a pipeline serving snap.
func NewPipeline(limits wire.Limits, snap *Snapshot) *Pipeline {
	if limits.UDPPayload < 512 {
		limits.UDPPayload = 1232
	}
	p := &Pipeline{limits: limits}
	p.snap.Store(snap)
	return p
}

// Swap makes snap the one every following query sees; queries in flight finish on the old one.
func (p *Pipeline) Swap(snap *Snapshot) { p.snap.Store(snap) }

// Snapshot returns the snapshot in service.
func (p *Pipeline) Snapshot() *Snapshot { return p.snap.Load() }

var _ Handler = (*Pipeline)(nil)

// ServeDNS answers one query.
func (p *Pipeline) ServeDNS(req *query.Request, out []byte) []byte {
	// 1. Admission: only the header, question and OPT record are read.
	switch req.Parse() {
	case query.Drop:
		return nil
	case query.FormErr:
		return p.limits.RenderRcode(out, req, rcodeFormErr, false)
	case query.NotImp:
		return p.limits.RenderRcode(out, req, rcodeNotImp, false)
	case query.BadVers:
		return p.limits.RenderRcode(out, req, rcodeBadVers, false)
	}
	if rcode, refuse := admitQuestion(req); refuse {
		return p.limits.RenderRcode(out, req, rcode, false)
	}

	// 2. Authority: a served zone that encloses the name answers, and nothing else does.
	snap := p.snap.Load()
	if t := snap.Authority.Answer(req); t != nil {
		return p.limits.Render(out, req, t)
	}
	return p.limits.RenderRcode(out, req, rcodeRefused, false)
}

// admitQuestion refuses questions the zones cannot answer: other classes than IN, zone transfers
// (not offered yet) and meta types.
func admitQuestion(req *query.Request) (uint16, bool) {
	if req.QClass != query.ClassIN {
		return rcodeRefused, true
	}
	switch req.QType {
	case typeAXFR, typeIXFR:
		return rcodeRefused, true
	case typeOPT, typeTKEY, typeTSIG, typeMAILA, typeMAILB:
		return rcodeFormErr, true
	}
	return 0, false
}
