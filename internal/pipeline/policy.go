package pipeline

import (
	"strings"
	"sync"
	"unsafe"

	"codeberg.org/miekg/dns"

	"warden/internal/policy"
	"warden/internal/query"
	"warden/internal/resolver"
	"warden/internal/wire"
)

// The response policy in the pipeline (stages 3 and 7 of the design). The question stage runs in
// Pipeline.ServeDNS for recursive queries of clients allowed to recurse, before the zones and the
// cache; when a policy zone with response triggers stands in the way (BIND's qname-wait-recurse
// no), the query goes on with the policy attached and the Recursor shows the answer, fresh or
// cached, to the response stage before it goes out. Policy answers are never cached: the cache
// keeps the real answer, so a reload that changes the policy takes effect at once.

// policyQuery describes req for the policy. The name is written into buf and the returned Query
// points into it and into req (the wire name, for blocklists): the policy keeps neither, and
// nothing is allocated.
func policyQuery(req *query.Request, buf *[256]byte) policy.Query {
	name := req.Lower()
	// A name of at most 255 bytes has at most 254 characters: buf is never outgrown.
	text := wire.AppendText(buf[:0], name)
	s := unsafe.String(&text[0], len(text))
	return policy.Query{
		Client: req.Client.Addr().Unmap(),
		Name:   s,
		Wire:   name,
		Type:   req.QType,
		DO:     req.DO,
		RD:     req.Flags&query.FlagRD != 0,
	}
}

// questionPolicy is the question stage: client-IP and QNAME rules of a recursive query from a
// client allowed to recurse answer before anything is looked up. done says the policy answered
// (res; nil for DROP); pending is the policy still to see the answer, when a policy zone with
// response rules stands before any rule that matched (BIND's qname-wait-recurse no).
func (p *Pipeline) questionPolicy(snap *Snapshot, rec *Recursor, req *query.Request, out []byte) (res []byte, done bool, pending *policy.Policy) {
	var buf [256]byte
	m, need := snap.Policy.Question(policyQuery(req, &buf))
	if m.Rule == nil {
		if need {
			return nil, false, snap.Policy
		}
		return nil, false, nil
	}
	res, done = rec.applyPolicy(req, m, nil, out)
	return res, done, nil
}

// applyPolicy answers req as m says, after the records of chain (the CNAMEs resolved before the
// rule applied). done is false when the query is to be answered normally (PASSTHRU, TCP-only over
// TCP). A redirect is resolved: in the background for a UDP query, as any resolution.
func (r *Recursor) applyPolicy(req *query.Request, m policy.Match, chain []dns.RR, out []byte) ([]byte, bool) {
	switch m.Action {
	case policy.NoAction, policy.Passthru:
		return out, false
	case policy.TCPOnly:
		if !req.Transport.Datagram() {
			// TCP-only asks for a connection-oriented transport; DoT, DoH and DoQ are.
			return out, false
		}
	}
	setPolicyOutcome(req, m)
	switch m.Action {
	case policy.Drop:
		return nil, true
	case policy.TCPOnly:
		out = r.limits.RenderRcode(out, req, dns.RcodeSuccess, m.EDE())
		out[2] |= byte(query.FlagTC >> 8)
		out[3] |= byte(query.FlagRA)
		return out, true
	}
	if target, ok := redirectTarget(m, req); ok {
		chain = append(chain[:len(chain):len(chain)], policyRecords(m, []dns.RR{m.Data[0]}, req, target)...)
		return r.async(req, out, func(req *query.Request, buf []byte) []byte {
			return r.resolveRedirect(req, m, chain, target, buf)
		}), true
	}
	return r.renderPolicy(req, m, chain, out[:0]), true
}

// setPolicyOutcome records that m's rule made the answer; what the cache did stays recorded.
func setPolicyOutcome(req *query.Request, m policy.Match) {
	o := &req.Outcome
	o.Source, o.PolicySet, o.PolicyRule = query.SourcePolicy, m.Rule.Set.Name(), m.Rule.Owner
}

// redirectTarget returns the target of a CNAME among a Local action's records when the question
// is not for the CNAME itself: *.target. keeps the name the rule applied to in front of target.
func redirectTarget(m policy.Match, req *query.Request) (string, bool) {
	if m.Action != policy.Local || req.QType == dns.TypeCNAME || req.QType == dns.TypeANY {
		return "", false
	}
	for _, rr := range m.Data {
		c, ok := rr.(*dns.CNAME)
		if !ok {
			continue
		}
		target := strings.ToLower(c.Target)
		if rest, wild := strings.CutPrefix(target, "*."); wild {
			name := m.Name
			if name == "" {
				name = wire.NameString(req.Lower())
			}
			if target = name + rest; name == "." {
				target = rest
			}
		}
		return target, true
	}
	return "", false
}

// policyRecords returns the records of a Local answer for req: those of the query type (all for
// ANY, the CNAME when there is one), owned by the name the rule applied to, TTLs capped. A CNAME
// to *.target. gets its target filled in.
func policyRecords(m policy.Match, data []dns.RR, req *query.Request, cnameTarget string) []dns.RR {
	owner := m.Name
	if owner == "" {
		owner = wire.NameString(req.Lower())
	}
	set := m.Rule.Set
	var out []dns.RR
	for _, rr := range data {
		t := dns.RRToType(rr)
		if t != req.QType && req.QType != dns.TypeANY && t != dns.TypeCNAME {
			continue
		}
		c := rr.Clone()
		h := c.Header()
		h.Name, h.TTL = owner, set.CapTTL(h.TTL)
		if cn, ok := c.(*dns.CNAME); ok && cnameTarget != "" {
			cn.Target = cnameTarget
		}
		out = append(out, c)
	}
	return out
}

// renderPolicy writes an answer that needs no resolution: NXDOMAIN, NODATA or local data.
func (r *Recursor) renderPolicy(req *query.Request, m policy.Match, chain []dns.RR, out []byte) []byte {
	if len(chain) == 0 && m.Name == "" {
		// The common blocks: the same answer for every name, from a template.
		var t *wire.Template
		switch m.Action {
		case policy.NXDomain, policy.NoData:
			t = r.policyTemplates.block(m.Rule.Set, m.Action == policy.NXDomain)
		case policy.Local:
			t = r.policyTemplates.local(m, req.QType)
		}
		if t != nil {
			return r.limits.AppendEDE(r.limits.Render(out, req, t), req, m.EDE())
		}
	}
	rcode := uint16(dns.RcodeSuccess)
	if m.Action == policy.NXDomain {
		rcode = dns.RcodeNameError
	}
	answer := chain
	if m.Action == policy.Local {
		answer = append(chain[:len(chain):len(chain)], policyRecords(m, m.Data, req, "")...)
	}
	out = r.renderSections(req, rcode, answer, nil, policySOA(m), out)
	return r.limits.AppendEDE(out, req, m.EDE())
}

// policySOA is the policy zone's SOA that BIND adds to the additional section of every rewritten
// answer (its add-soa option, on by default), so that a client can tell which policy zone spoke.
func policySOA(m policy.Match) []dns.RR {
	soa := m.Rule.Set.SOA()
	if soa == nil {
		return nil
	}
	c := soa.Clone()
	c.Header().TTL = m.Rule.Set.CapTTL(c.Header().TTL)
	return []dns.RR{c}
}

// resolveRedirect resolves the target of a policy CNAME and answers with the CNAME (and the chain
// before it) followed by what the target resolved to, as BIND does.
func (r *Recursor) resolveRedirect(req *query.Request, m policy.Match, chain []dns.RR, target string, out []byte) []byte {
	setPolicyOutcome(req, m)
	res := r.resolve(resolver.Question{Name: target, Type: req.QType})
	if res.Rcode == dns.RcodeServerFailure {
		return r.render(req, res, out)
	}
	out = r.renderSections(req, res.Rcode, append(chain, res.Answer...), res.Ns, policySOA(m), out)
	return r.limits.AppendEDE(out, req, m.EDE())
}

// policyResponse is the response stage: it shows the answer in out (rendered for req) to pol and
// returns what goes to the client. visited are the zones resolution asked, nil when the answer
// came from the cache (then the ones recorded when it was resolved are used).
func (r *Recursor) policyResponse(req *query.Request, pol *policy.Policy, out []byte, visited []resolver.VisitedZone) []byte {
	if pol == nil || len(out) == 0 {
		return out
	}
	msg, err := wire.Unpack(append([]byte(nil), out...))
	if err != nil || msg.Rcode != dns.RcodeSuccess && msg.Rcode != dns.RcodeNameError {
		return out
	}
	var buf [256]byte
	q := policyQuery(req, &buf)
	q.Name = strings.Clone(q.Name)
	resp := policy.Response{Answer: msg.Answer}
	for _, rr := range msg.Answer {
		if _, ok := rr.(*dns.RRSIG); ok {
			resp.Signed = true
		}
	}
	key := nsKey(q.Name, q.Type)
	if visited != nil {
		r.ns.put(key, visited)
	} else {
		visited = r.ns.get(key)
	}
	for _, z := range visited {
		if strings.Count(z.Zone, ".") < 2 {
			continue // as BIND's min-ns-dots 1: the root and top-level zones are not checked
		}
		for _, s := range z.Servers {
			resp.NSNames = append(resp.NSNames, s.Name)
			resp.NSAddrs = append(resp.NSAddrs, s.Addrs...)
		}
	}
	m := pol.Response(q, resp)
	if m.Rule == nil {
		return out
	}
	res, done := r.applyPolicy(req, m, msg.Answer[:m.ChainAt], out)
	if !done {
		return out
	}
	return res
}

func nsKey(name string, t uint16) string { return name + "/" + dns.TypeToString[t] }

// nsMemory keeps the name servers an answer was resolved through, so that NSDNAME and NSIP rules
// still apply when the answer is served from the cache. It is bounded: when full it starts over,
// and an answer whose servers were forgotten is matched on its records alone until resolved again.
type nsMemory struct {
	mu sync.Mutex
	m  map[string][]resolver.VisitedZone
}

const nsMemoryEntries = 100_000

func (n *nsMemory) put(key string, v []resolver.VisitedZone) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil || len(n.m) >= nsMemoryEntries {
		n.m = make(map[string][]resolver.VisitedZone)
	}
	n.m[key] = v
}

func (n *nsMemory) get(key string) []resolver.VisitedZone {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m[key]
}
