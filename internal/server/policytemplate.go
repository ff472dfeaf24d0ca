package server

import (
	"sync"

	"codeberg.org/miekg/dns"

	"warden/internal/policy"
	"warden/internal/wire"
)

// policyTemplates keeps, per rule set, the wire templates of its NXDOMAIN and NODATA answers:
// the rcode and the policy zone's SOA in the additional section are the same for every name the
// set blocks, so a block is rendered like an authoritative answer, copied behind the client's
// question, without building a message. Rule sets are immutable; a reload brings new ones, and
// the old entries go with the Recursor or are dropped when the map is full.
type policyTemplates struct {
	mu sync.RWMutex
	m  map[policyTemplateKey]*wire.Template
}

type policyTemplateKey struct {
	set *policy.RuleSet
	nx  bool
}

// maxPolicyTemplates bounds the map; rule sets are few, but reloads replace them.
const maxPolicyTemplates = 256

// get returns the template of set's NXDOMAIN (nx) or NODATA answer, building it on first use; nil
// when it cannot be built (the generic path then renders the answer).
func (p *policyTemplates) get(set *policy.RuleSet, nx bool) *wire.Template {
	key := policyTemplateKey{set, nx}
	p.mu.RLock()
	t := p.m[key]
	p.mu.RUnlock()
	if t != nil {
		return t
	}
	// Built for the root name with no suffix shared: nothing in it points into the question, so
	// it serves every name.
	b := wire.NewBuilder([]byte{0}, 0)
	rcode := uint8(dns.RcodeSuccess)
	if nx {
		rcode = dns.RcodeNameError
	}
	b.SetRcode(rcode, false)
	b.SetRA()
	if soa := set.SOA(); soa != nil {
		c := soa.Clone()
		c.Header().TTL = set.CapTTL(c.Header().TTL)
		if err := b.Add(wire.Additional, []dns.RR{c}, nil); err != nil {
			return nil
		}
	}
	t = b.Template()
	p.mu.Lock()
	if p.m == nil || len(p.m) >= maxPolicyTemplates {
		p.m = make(map[policyTemplateKey]*wire.Template)
	}
	p.m[key] = t
	p.mu.Unlock()
	return t
}
