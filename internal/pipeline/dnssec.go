package pipeline

import (
	"context"
	"sync"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
	"warden/internal/resolver"
	"warden/internal/validator"
)

// forClient returns the sections of a resolution as a client gets them: with the signatures and
// the proofs of denial for a DO=1 query, without them otherwise (RFC 4035 §3.2.1), unless the
// question asked for such a type itself.
func forClient(req *query.Request, res resolver.Result) (answer, ns []dns.RR) {
	if req.DO {
		return res.Answer, append(append([]dns.RR(nil), res.Ns...), res.Proof...)
	}
	keep := func(rr dns.RR) bool {
		t := dns.RRToType(rr)
		switch t {
		case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3:
			return t == req.QType
		}
		return true
	}
	for _, rr := range res.Answer {
		if keep(rr) {
			answer = append(answer, rr)
		}
	}
	return answer, res.Ns
}

// bogusMemory holds the questions whose answers were bogus, until validator.DefaultBogusTTL has
// passed; it is bounded, and starts afresh when full rather than grow with an attack.
type bogusMemory struct {
	mu      sync.Mutex
	entries map[resolver.Question]bogusEntry
	// nta is the negative trust anchors: an entry made before they last changed is forgotten,
	// so that an anchor added for a broken zone works at once.
	nta *validator.NegativeAnchors
}

type bogusEntry struct {
	ede     int
	expires time.Time
	ntaSeen uint64
}

const maxBogus = 10000

func newBogusMemory(nta *validator.NegativeAnchors) bogusMemory {
	return bogusMemory{entries: map[resolver.Question]bogusEntry{}, nta: nta}
}

func (b *bogusMemory) remember(q resolver.Question, ede int) {
	if ede == 0 {
		ede = validator.EDEBogus
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.entries) >= maxBogus {
		clear(b.entries)
	}
	b.entries[q] = bogusEntry{ede: ede, expires: time.Now().Add(validator.DefaultBogusTTL), ntaSeen: b.nta.Version()}
}

// lookup says whether q was bogus lately, for a client that wants checked data (CD=0).
func (b *bogusMemory) lookup(q resolver.Question, req *query.Request) (int, bool) {
	if req.Flags&query.FlagCD != 0 {
		return 0, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.entries) == 0 {
		return 0, false
	}
	e, ok := b.entries[q]
	if !ok {
		return 0, false
	}
	if time.Now().After(e.expires) || e.ntaSeen != b.nta.Version() {
		delete(b.entries, q)
		return 0, false
	}
	return e.ede, true
}

// Validating reports whether the stage checks DNSSEC.
func (r *Recursor) Validating() bool {
	if r.iter.Validating() {
		return true
	}
	for _, f := range r.fwd {
		if f.chain != nil {
			return true
		}
	}
	return false
}

// SetTrustAnchors puts other trust anchors in force for resolution and every forwarded zone.
func (r *Recursor) SetTrustAnchors(a *validator.Anchors) {
	r.iter.SetTrustAnchors(a)
	for _, f := range r.fwd {
		if f.chain != nil {
			f.chain.SetAnchors(a)
		}
	}
}

// FetchKeys asks for the DNSKEY RRset of zone the way its answers are asked: through the
// forwarders of the zone that holds it, or by iteration.
func (r *Recursor) FetchKeys(ctx context.Context, zone string) (validator.Reply, error) {
	if f := r.forwardFor(zone); f != nil {
		return forwardFetcher{f}.Fetch(ctx, zone, dns.TypeDNSKEY)
	}
	return r.iter.FetchKeys(ctx, zone)
}

// TrustAnchors returns the trust anchors in force, nil when the stage does not validate.
func (r *Recursor) TrustAnchors() *validator.Anchors {
	if a := r.iter.TrustAnchors(); a != nil {
		return a
	}
	for _, f := range r.fwd {
		if f.chain != nil {
			return f.chain.Anchors()
		}
	}
	return nil
}
