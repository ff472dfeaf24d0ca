// Package policy is Warden's response policy: RPZ zones (draft-ietf-dnsop-dns-rpz, with the
// semantics of BIND 9.18) and blocklists compiled into immutable rule sets, and a Policy that
// evaluates an ordered list of them for one question. It does no I/O: the server asks Question
// before the authority stage and, when that says it needs the answer, Response after resolution;
// the server renders whatever Match it gets back.
//
// Rule sets are immutable once built, apart from their counters and what is suspended (the whole
// set, or some of its rules), which the safety net (shadow mode, circuit breaker) reads and sets
// concurrently with queries.
package policy

import (
	"net/netip"
	"sync/atomic"

	"codeberg.org/miekg/dns"

	"warden/internal/policy/blocklist"
)

// Action is what a rule does to an answer.
type Action uint8

const (
	// NoAction: no rule matched (or only shadow ones); answer normally.
	NoAction Action = iota
	// Passthru: a rule matched and says to answer normally; later rules are not consulted.
	Passthru
	// NXDomain answers NXDOMAIN with the policy zone's SOA (CNAME .).
	NXDomain
	// NoData answers NOERROR with no records and the policy zone's SOA (CNAME *.).
	NoData
	// Drop sends no reply at all (CNAME rpz-drop.).
	Drop
	// TCPOnly answers UDP queries with TC=1 so the client retries over TCP (CNAME rpz-tcp-only.).
	TCPOnly
	// Local answers with the rule's records. A CNAME among them is a redirect; a CNAME to
	// *.target. keeps the query name in front of target.
	Local
)

var actionNames = [...]string{"none", "passthru", "nxdomain", "nodata", "drop", "tcp-only", "local"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Trigger is what a rule matches on, in BIND's order of precedence within one policy zone.
type Trigger uint8

const (
	ClientIP   Trigger = iota // rpz-client-ip: the client's address
	QName                     // the query name, and each CNAME target on the way to the answer
	ResponseIP                // rpz-ip: an address in the answer
	NSDName                   // rpz-nsdname: the name of a name server of a zone visited
	NSIP                      // rpz-nsip: the address of a name server of a zone visited
)

var triggerNames = [...]string{"client-ip", "qname", "ip", "nsdname", "nsip"}

func (t Trigger) String() string {
	if int(t) < len(triggerNames) {
		return triggerNames[t]
	}
	return "unknown"
}

// Rule is one compiled policy record set: a trigger and what to do when it matches.
type Rule struct {
	Set     *RuleSet
	Trigger Trigger
	// Owner is the rule's owner name as written in the policy source, for logs and reports.
	Owner  string
	Action Action
	// Data holds the local records of a Local action (owner names as written; the server answers
	// them under the name that matched). Empty for the other actions.
	Data []dns.RR

	index int32 // in Set.rules
}

// Override replaces the action of every rule of a set, as BIND's response-policy "policy" option.
type Override uint8

const (
	Given    Override = iota // the rules' own actions
	Disabled                 // evaluate and count, never apply (as Shadow)
	OverrideNXDomain
	OverrideNoData
	OverridePassthru
	OverrideDrop
	OverrideTCPOnly
	OverrideCNAME // a CNAME to Options.OverrideCNAME
)

var overrideNames = [...]string{"given", "disabled", "nxdomain", "nodata", "passthru", "drop", "tcp-only", "cname"}

func (o Override) String() string {
	if int(o) < len(overrideNames) {
		return overrideNames[o]
	}
	return "unknown"
}

// ParseOverride reads an override by its configuration name ("given", "nxdomain", ...).
func ParseOverride(s string) (Override, bool) {
	if s == "" {
		return Given, true
	}
	for i, n := range overrideNames {
		if n == s {
			return Override(i), true
		}
	}
	return Given, false
}

// Options of one rule set.
type Options struct {
	// Name identifies the set in logs, metrics and reports; CompileRPZ defaults it to the origin.
	Name string
	// Override replaces every rule's action; OverrideCNAME is the target of OverrideCNAME.
	Override      Override
	OverrideCNAME string
	// MaxPolicyTTL caps the TTL of the records of policy answers; 0 means no cap.
	MaxPolicyTTL uint32
	// BreakDNSSEC lets the set rewrite answers to DO=1 queries that came back signed. Off by
	// default, as in BIND: a validating client would reject the rewritten answer anyway.
	BreakDNSSEC bool
	// Shadow: the set is evaluated and its hits counted, but it never decides an answer.
	Shadow bool
	// Clients limits the set to queries from these networks; nil applies it to every client.
	Clients []netip.Prefix
	// Blocklist marks a set built from a blocklist rather than an RPZ zone: all its answers carry
	// the Extended DNS Error "Filtered", instead of "Blocked" or, for local data, "Forged Answer".
	Blocklist bool
}

// RuleSet is one compiled policy source (an RPZ zone or a blocklist).
type RuleSet struct {
	opts   Options
	origin string   // lower-case FQDN; "" for a blocklist
	soa    *dns.SOA // the policy zone's SOA, for NXDOMAIN and NODATA answers; nil for a blocklist
	rules  []Rule

	qname, nsdname     names
	clientIP, ip, nsip prefixes
	// list, when not nil, holds more QNAME rules: the names of a compiled blocklist, all with the
	// action of rules[0] (see NewBlocklistSet). It is consulted after qname.
	list *blocklist.Index
	// override is the rule that stands for every match under OverrideCNAME.
	override *Rule

	warnings []Problem

	// hits counts the questions the set matched and remembers the rules of the latest, for the
	// circuit breaker to find the rules behind a spike.
	hits      matchLog
	suspended atomic.Bool
	// suspendedRules is nil unless the breaker took some rules out of service (see rules.go).
	suspendedRules atomic.Pointer[ruleMask]
}

// Name returns the set's name.
func (s *RuleSet) Name() string { return s.opts.Name }

// Options returns the options the set was built with.
func (s *RuleSet) Options() Options { return s.opts }

// Origin returns the policy zone's origin ("" for a blocklist).
func (s *RuleSet) Origin() string { return s.origin }

// SOA returns the policy zone's SOA record, nil for a blocklist.
func (s *RuleSet) SOA() *dns.SOA { return s.soa }

// Shadow says whether the set only counts.
func (s *RuleSet) Shadow() bool { return s.opts.Shadow || s.opts.Override == Disabled }

// Hits returns how many questions the set matched, applied or shadowed.
func (s *RuleSet) Hits() uint64 { return s.hits.load() }

// Suspended says whether the set is skipped as if absent.
func (s *RuleSet) Suspended() bool { return s.suspended.Load() }

// SetSuspended suspends or resumes the set; queries see the change at once.
func (s *RuleSet) SetSuspended(v bool) { s.suspended.Store(v) }

// Len returns the number of rules. Each name of a blocklist index counts as one (its exceptions
// too), in place of the one Rule that stands for them all.
func (s *RuleSet) Len() int {
	if s.list != nil {
		return len(s.rules) - 1 + s.list.Len()
	}
	return len(s.rules)
}

// Rules returns the compiled rules; the slice must not be modified. For a set made by
// NewBlocklistSet, the first rule stands for every name of the index.
func (s *RuleSet) Rules() []Rule { return s.rules }

// HasResponseTriggers says whether the set has IP, NSDNAME or NSIP rules, which need the answer.
func (s *RuleSet) HasResponseTriggers() bool {
	return s.ip.len() > 0 || s.nsdname.len() > 0 || s.nsip.len() > 0
}

// CapTTL returns ttl capped by the set's MaxPolicyTTL.
func (s *RuleSet) CapTTL(ttl uint32) uint32 {
	if s.opts.MaxPolicyTTL > 0 && ttl > s.opts.MaxPolicyTTL {
		return s.opts.MaxPolicyTTL
	}
	return ttl
}

// Extended DNS Error info codes (RFC 8914 §4) of policy answers.
const (
	EDEForgedAnswer = 4  // local data and redirects: an answer the server made up
	EDEBlocked      = 15 // the operator's own policy blocked the name
	EDEFiltered     = 17 // a blocklist, or an override of a whole feed's actions, filtered it
)

// EDE returns the Extended DNS Error info code for an answer decided by m, or -1 for none
// (PASSTHRU and no match).
func (m Match) EDE() int {
	switch m.Action {
	case NoAction, Passthru:
		return -1
	}
	o := m.Rule.Set.opts
	if o.Blocklist {
		return EDEFiltered // null answers (0.0.0.0) too: a list filtered the name
	}
	if m.Action == Local {
		return EDEForgedAnswer
	}
	if o.Override != Given {
		return EDEFiltered
	}
	return EDEBlocked
}

func (s *RuleSet) appliesTo(client netip.Addr) bool {
	if s.opts.Clients == nil {
		return true
	}
	client = client.Unmap()
	for _, p := range s.opts.Clients {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

// Query is what the question stage knows of one question.
type Query struct {
	Client netip.Addr
	// Name is the lower-case, fully qualified query name. Question and Response do not keep it,
	// so it may point into a buffer the caller reuses.
	Name string
	// Wire is Name in uncompressed lower-case wire form (query.Request.Lower) when the caller has
	// it, nil otherwise; blocklist sets look it up as it is instead of converting Name. Not kept
	// either.
	Wire []byte
	Type uint16
	DO   bool // DNSSEC OK
	RD   bool // recursion desired: policy applies only to recursive queries, as in BIND
}

// Response is what resolution found for a Query.
type Response struct {
	// Answer is the answer section: the CNAME chain and the final RRset.
	Answer []dns.RR
	// NSNames and NSAddrs are the name servers (names and addresses) of the zones visited.
	NSNames []string
	NSAddrs []netip.Addr
	// Signed says the answer carried RRSIGs; with DO=1 a set without BreakDNSSEC leaves it alone.
	Signed bool
}

// Match is a policy decision.
type Match struct {
	// Rule is the rule that decided; nil when none did.
	Rule *Rule
	// Action is the rule's action after the set's override.
	Action Action
	// Data is what a Local action answers with (the rule's records, or the override's CNAME).
	Data []dns.RR
	// ChainAt, from Response, is how many records of the answer (the CNAME chain up to Name)
	// stay in front of the policy answer; Name is the name the rule applied to. Both are zero
	// when the rule applied to the query name itself.
	ChainAt int
	Name    string
}

// Policy is an ordered list of rule sets: an earlier set decides before a later one.
type Policy struct {
	sets    []*RuleSet
	queries counter
	// respFrom is the index of the first set with response triggers (len(sets) when none): QNAME
	// and client-IP rules of later sets must wait for the answer, as with BIND's
	// qname-wait-recurse no (that set's own QNAME rules outrank its IP rules and need not wait).
	respFrom int
}

// New returns a policy of sets in precedence order; nil sets are skipped.
func New(sets ...*RuleSet) *Policy {
	p := &Policy{}
	for _, s := range sets {
		if s != nil {
			p.sets = append(p.sets, s)
		}
	}
	p.respFrom = len(p.sets)
	for i, s := range p.sets {
		if s.HasResponseTriggers() {
			p.respFrom = i
			break
		}
	}
	return p
}

// Sets returns the rule sets in precedence order; the slice must not be modified.
func (p *Policy) Sets() []*RuleSet {
	if p == nil {
		return nil
	}
	return p.sets
}

// Queries returns how many questions the policy evaluated.
func (p *Policy) Queries() uint64 {
	if p == nil {
		return 0
	}
	return p.queries.load()
}

// NeedsResponse says whether any set has response triggers, so that answers (cached ones too)
// must be shown to Response.
func (p *Policy) NeedsResponse() bool { return p != nil && p.respFrom < len(p.sets) }

// usable says whether set s takes part in evaluating q.
func (s *RuleSet) usable(q *Query) bool {
	return !s.suspended.Load() && s.appliesTo(q.Client)
}

// decide turns a rule into a Match, after the set's override; ok is false for a shadow set,
// whose hit is only counted.
func (s *RuleSet) decide(r *Rule) (Match, bool) {
	m := Match{Rule: r, Action: r.Action, Data: r.Data}
	switch s.opts.Override {
	case Disabled:
		return m, false
	case OverrideNXDomain:
		m.Action, m.Data = NXDomain, nil
	case OverrideNoData:
		m.Action, m.Data = NoData, nil
	case OverridePassthru:
		m.Action, m.Data = Passthru, nil
	case OverrideDrop:
		m.Action, m.Data = Drop, nil
	case OverrideTCPOnly:
		m.Action, m.Data = TCPOnly, nil
	case OverrideCNAME:
		m.Action, m.Data = Local, s.override.Data
	}
	if s.opts.Shadow {
		return m, false
	}
	return m, true
}

// Question evaluates the triggers that need no answer: client-IP and QNAME. It returns the match
// that decides, or needResponse when a set with response triggers comes before any decision, in
// which case the caller resolves and calls Response (BIND with qname-wait-recurse no).
// It does not allocate.
func (p *Policy) Question(q Query) (m Match, needResponse bool) { return p.question(q, true) }

// Evaluate is Question without counting anything: for comparing policies over a corpus of names
// ("what would change"), which must not feed the circuit breaker's counters.
func (p *Policy) Evaluate(q Query) (m Match, needResponse bool) { return p.question(q, false) }

func (p *Policy) question(q Query, count bool) (m Match, needResponse bool) {
	if p == nil || len(p.sets) == 0 || !q.RD {
		return Match{}, false
	}
	if count {
		p.queries.inc()
	}
	// Shadow hits are counted only when this stage is the last, so that Response, which starts
	// over, does not count them twice.
	var shadowed [8]*Rule
	n := 0
	for i, s := range p.sets {
		if i > p.respFrom {
			return Match{}, true
		}
		if !s.usable(&q) {
			continue
		}
		r := s.questionRule(&q, q.Name, q.Wire)
		if r == nil {
			if i == p.respFrom {
				return Match{}, true
			}
			continue
		}
		m, ok := s.decide(r)
		if !ok {
			if !count {
				continue
			}
			if n < len(shadowed) {
				shadowed[n] = r
			} else {
				s.hits.add(r.index)
			}
			n++
			continue
		}
		if count {
			s.hits.add(r.index)
		}
		for _, sh := range shadowed[:min(n, len(shadowed))] {
			sh.Set.hits.add(sh.index)
		}
		return m, false
	}
	for _, sh := range shadowed[:min(n, len(shadowed))] {
		sh.Set.hits.add(sh.index)
	}
	return Match{}, false
}

// questionRule returns the set's client-IP or QNAME rule for name, nil when there is none. wire
// is name in wire form, or nil. Suspended rules are passed over.
func (s *RuleSet) questionRule(q *Query, name string, wire []byte) *Rule {
	skip := s.suspendedRules.Load()
	if i, ok := s.clientIP.lookup(q.Client, skip); ok {
		return &s.rules[i]
	}
	if i, ok := s.qname.lookup(name, skip); ok {
		return &s.rules[i]
	}
	if s.list != nil && !skip.has(0) {
		return s.listRule(name, wire)
	}
	return nil
}

// Response evaluates every trigger on what resolution found, for a question that Question said
// needs it. BIND rewrites step by step along a CNAME chain: at each name every set is consulted
// in order for client-IP and QNAME rules, and at the final name for IP, NSDNAME and NSIP rules
// too. The first decision wins.
func (p *Policy) Response(q Query, r Response) Match {
	if p == nil || len(p.sets) == 0 || !q.RD {
		return Match{}
	}
	counted := uint64(0) // sets whose hit is counted already, by index (the first 64)
	name, chainAt := q.Name, 0
	wire := q.Wire // of name: the query name's only
	for step := 0; ; step++ {
		next, nextAt := nextInChain(r.Answer, name, chainAt)
		final := next == ""
		for i, s := range p.sets {
			if !s.usable(&q) || (q.DO && r.Signed && !s.opts.BreakDNSSEC) {
				continue
			}
			rule := s.questionRule(&q, name, wire)
			if rule == nil && final {
				rule = s.responseRule(&r)
			}
			if rule == nil {
				continue
			}
			if i >= 64 || counted&(1<<i) == 0 {
				s.hits.add(rule.index)
				if i < 64 {
					counted |= 1 << i
				}
			}
			m, ok := s.decide(rule)
			if !ok {
				continue
			}
			if step > 0 {
				m.ChainAt, m.Name = chainAt, name
			}
			return m
		}
		if final || step > 16 {
			return Match{}
		}
		name, chainAt, wire = next, nextAt, nil
	}
}

// nextInChain returns the target of the CNAME owned by name in answer (searching from index
// from), and the index just past it; "" when name has no CNAME there.
func nextInChain(answer []dns.RR, name string, from int) (string, int) {
	for i := from; i < len(answer); i++ {
		if c, ok := answer[i].(*dns.CNAME); ok && equalFold(c.Hdr.Name, name) {
			return lowerName(c.Target), i + 1
		}
	}
	return "", 0
}

// responseRule returns the set's IP, NSDNAME or NSIP rule that matches r, in that order, passing
// over suspended rules.
func (s *RuleSet) responseRule(r *Response) *Rule {
	skip := s.suspendedRules.Load()
	if s.ip.len() > 0 {
		best, found := prefixMatch{}, false
		for _, rr := range r.Answer {
			var a netip.Addr
			switch x := rr.(type) {
			case *dns.A:
				a = x.Addr
			case *dns.AAAA:
				a = x.Addr
			default:
				continue
			}
			if m, ok := s.ip.lookupMatch(a, skip); ok && (!found || m.better(best)) {
				best, found = m, true
			}
		}
		if found {
			return &s.rules[best.rule]
		}
	}
	if s.nsdname.len() > 0 {
		var bestName string
		bestRule := int32(-1)
		for _, n := range r.NSNames {
			n = lowerName(n)
			if i, ok := s.nsdname.lookup(n, skip); ok && (bestRule < 0 || dns.CompareName(n, bestName) < 0) {
				bestName, bestRule = n, i
			}
		}
		if bestRule >= 0 {
			return &s.rules[bestRule]
		}
	}
	if s.nsip.len() > 0 {
		best, found := prefixMatch{}, false
		for _, a := range r.NSAddrs {
			if m, ok := s.nsip.lookupMatch(a, skip); ok && (!found || m.better(best)) {
				best, found = m, true
			}
		}
		if found {
			return &s.rules[best.rule]
		}
	}
	return nil
}
