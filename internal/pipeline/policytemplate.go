package pipeline

import (
	"sync"

	"codeberg.org/miekg/dns"

	"warden/internal/policy"
	"warden/internal/wire"
)

// policyTemplates keeps the wire templates of policy answers that are the same for every name a
// rule applies to: a set's NXDOMAIN and NODATA answers (the rcode and the policy zone's SOA in the
// additional section), and a rule's local data for one query type (owned by the query name, which
// the template points to, as a blocklist's null answer is). Such an answer is rendered like an
// authoritative one, copied behind the client's question, without building a message. Rules are
// immutable; a reload brings new ones, and old entries are dropped when the map is full.
type policyTemplates struct {
	mu sync.RWMutex
	m  map[policyTemplateKey]*wire.Template
}

type policyTemplateKey struct {
	set   *policy.RuleSet
	rule  *policy.Rule // local data; nil for NXDOMAIN and NODATA
	nx    bool
	qtype uint16
}

// maxPolicyTemplates bounds the map: rule sets are few, but a policy zone may hold many rules with
// local data, and reloads replace them all.
const maxPolicyTemplates = 4096

// block returns the template of set's NXDOMAIN (nx) or NODATA answer, building it on first use;
// nil when it cannot be built (the general path then renders the answer).
func (p *policyTemplates) block(set *policy.RuleSet, nx bool) *wire.Template {
	key := policyTemplateKey{set: set, nx: nx}
	if t := p.lookup(key); t != nil {
		return t
	}
	rcode := uint8(dns.RcodeSuccess)
	if nx {
		rcode = dns.RcodeNameError
	}
	return p.store(key, buildPolicyTemplate(set, rcode, nil))
}

// local returns the template of m's local data for qtype, or nil when the answer is not the same
// for every name: a CNAME among the data (a redirect, resolved), or ANY.
func (p *policyTemplates) local(m policy.Match, qtype uint16) *wire.Template {
	if qtype == dns.TypeANY || m.Rule == nil {
		return nil
	}
	for _, rr := range m.Data {
		if dns.RRToType(rr) == dns.TypeCNAME {
			return nil
		}
	}
	key := policyTemplateKey{set: m.Rule.Set, rule: m.Rule, qtype: qtype}
	if t := p.lookup(key); t != nil {
		return t
	}
	var answer []dns.RR
	for _, rr := range m.Data {
		if dns.RRToType(rr) == qtype {
			answer = append(answer, rr)
		}
	}
	return p.store(key, buildPolicyTemplate(m.Rule.Set, dns.RcodeSuccess, answer))
}

func (p *policyTemplates) lookup(key policyTemplateKey) *wire.Template {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.m[key]
}

// store keeps t (when built) for key and returns it.
func (p *policyTemplates) store(key policyTemplateKey, t *wire.Template) *wire.Template {
	if t == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || len(p.m) >= maxPolicyTemplates {
		p.m = make(map[policyTemplateKey]*wire.Template)
	}
	p.m[key] = t
	return t
}

// placeholderName stands for the query name while a template is built: one label holding a NUL
// byte, which no name from a zone file has, so nothing else in the answer compresses into it. The
// template's only pointers into the question are then to the whole name, which stay right for
// every query name.
var placeholderName = []byte{1, 0, 0}

// buildPolicyTemplate builds a template for every query name: the answer's owner is written as the
// question name, a pointer to it.
func buildPolicyTemplate(set *policy.RuleSet, rcode uint8, answer []dns.RR) *wire.Template {
	b := wire.NewBuilder(placeholderName, 0)
	b.SetRcode(rcode, false)
	b.SetRA()
	for _, rr := range answer {
		c := rr.Clone()
		h := c.Header()
		h.TTL = set.CapTTL(h.TTL)
		if err := b.Add(wire.Answer, []dns.RR{c}, placeholderName); err != nil {
			return nil
		}
	}
	if soa := set.SOA(); soa != nil {
		c := soa.Clone()
		c.Header().TTL = set.CapTTL(c.Header().TTL)
		if err := b.Add(wire.Additional, []dns.RR{c}, nil); err != nil {
			return nil
		}
	}
	return b.Template()
}
