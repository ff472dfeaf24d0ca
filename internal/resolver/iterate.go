package resolver

import (
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/validator"
)

// Question is what is being resolved.
type Question struct {
	Name string // fully qualified
	Type uint16
}

// NameServer is one server of a delegation: its name and the addresses known for it.
type NameServer struct {
	Name  string
	Addrs []netip.Addr
}

// RTTs reports what is known of servers' response times; the Exchanger usually keeps them.
type RTTs interface {
	SRTT(server netip.Addr) time.Duration
}

// Limits bound the work one client question may cause, so that no answer, however crafted,
// makes the resolver send an unbounded number of queries (RFC 9156 §2.3, NXNSAttack).
type Limits struct {
	MaxQueries   int // outgoing queries in all, sub-resolutions included
	MaxReferrals int // delegations followed
	MaxCNAMEs    int // CNAME links followed across replies
	MaxNSLookups int // name-server names without glue resolved, per delegation
	MaxDepth     int // nesting of those sub-resolutions
	// MinimiseSteps bounds the minimised queries of QNAME minimisation (RFC 9156 §2.3
	// MAX_MINIMISE_COUNT); 0 turns minimisation off.
	MinimiseSteps int
}

// DefaultLimits are close to Unbound's defaults.
var DefaultLimits = Limits{MaxQueries: 100, MaxReferrals: 30, MaxCNAMEs: 12, MaxNSLookups: 4, MaxDepth: 4, MinimiseSteps: 10}

// Step is what Next asks the caller to do: send Query to Server (a server of Zone), or nothing
// more when Done.
type Step struct {
	Done   bool
	Query  Question
	Server netip.Addr
	Zone   string
}

// Result is the outcome of a resolution.
type Result struct {
	Rcode  uint16
	Answer []dns.RR // the CNAME chain and the final RRset
	Ns     []dns.RR // the SOA of a negative answer
	// Proof holds the DNSSEC records of the final reply's authority section (NSEC, NSEC3 and
	// the RRSIGs there, the SOA's among them): what a validator needs to check a negative or a
	// wildcard answer. Empty unless the queries asked for DNSSEC records.
	Proof []dns.RR
	// Security is the validation of the answer; the zero value (Indeterminate) when the
	// resolver does not validate.
	Security validator.Result
	// Visited lists the zones whose servers were asked on the way down (the root and the
	// delegations followed, or the closest cut already known, and the zones of each CNAME
	// target), with their name servers as known then: response policy matches NSDNAME and NSIP
	// rules on them.
	Visited []VisitedZone
	// Server is the authoritative server whose reply ended the resolution (the query log's
	// upstream); invalid when no server was asked (an answer made from what was known) or the
	// resolution failed.
	Server netip.Addr
}

// VisitedZone is one zone a resolution asked, with its name servers.
type VisitedZone struct {
	Zone    string
	Servers []NameServer
}

// Resolution resolves one question iteratively from the root hints. It performs no I/O: Next says
// which query to send where, Feed hands over the reply (or the error) of that query. A server
// that fails or is lame is not asked again; name servers without glue are resolved by a nested
// Resolution.
type Resolution struct {
	limits Limits
	hints  []NameServer
	rtt    RTTs // nil: servers in delegation order
	lame   Lameness
	// deleg holds the cuts learned by earlier questions (nil: none); fromStore says the current
	// zone's servers came from it, storeOff that they failed and the root is asked instead.
	deleg     *Delegations
	fromStore bool
	storeOff  bool
	q         Question
	depth     int
	// budget is shared with nested resolutions: every query counts against the client's question.
	budget *int

	zone       string
	servers    []NameServer
	tried      map[netip.Addr]bool
	nsLookups  int
	referrals  int
	cnames     int
	lastServer netip.Addr

	// QNAME minimisation (RFC 9156, relaxed as Unbound does it): a server is told only one label
	// more than the zone it serves, until a referral or the full name. extra counts the labels
	// added beyond that because an intermediate name existed without being a cut; sent is what
	// was last asked; minimiseOff ends minimisation for this question (NXDOMAIN for a minimised
	// name, a CNAME on the way, or the step limit).
	extra       int
	steps       int
	sent        Question
	minimiseOff bool

	child     *Resolution
	childFor  string // the NS name the child resolves
	childType uint16

	result Result
	done   bool
}

// New starts resolving q from the root hints.
func New(q Question, hints []NameServer, limits Limits) *Resolution {
	return newResolution(q, hints, limits, nil)
}

// newResolution starts resolving q from the closest cut deleg knows, or the root hints.
func newResolution(q Question, hints []NameServer, limits Limits, deleg *Delegations) *Resolution {
	budget := limits.MaxQueries
	r := &Resolution{limits: limits, hints: hints, budget: &budget, deleg: deleg}
	r.q = Question{Name: strings.ToLower(q.Name), Type: q.Type}
	r.restart()
	return r
}

func (r *Resolution) nested(q Question) *Resolution {
	c := &Resolution{limits: r.limits, hints: r.hints, rtt: r.rtt, lame: r.lame, deleg: r.deleg, budget: r.budget, depth: r.depth + 1}
	c.q = Question{Name: strings.ToLower(q.Name), Type: q.Type}
	c.restart()
	return c
}

// restart begins again, for the current name, at the closest cut known or at the root.
func (r *Resolution) restart() {
	r.zone, r.servers, r.fromStore = ".", cloneServers(r.hints), false
	if !r.storeOff {
		start := r.q.Name
		if r.q.Type == dns.TypeDS {
			start = parent(start) // the DS RRset is the parent's
		}
		if zone, servers, ok := r.deleg.Closest(start); ok {
			r.zone, r.servers, r.fromStore = zone, servers, true
		}
	}
	r.extra, r.minimiseOff = 0, false
	r.tried = map[netip.Addr]bool{}
	r.nsLookups = 0
}

func cloneServers(s []NameServer) []NameServer {
	out := make([]NameServer, len(s))
	for i, ns := range s {
		out[i] = NameServer{Name: strings.ToLower(ns.Name), Addrs: append([]netip.Addr(nil), ns.Addrs...)}
	}
	return out
}

// Result returns the outcome once Next has said Done.
func (r *Resolution) Result() Result { return r.result }

func (r *Resolution) fail() Step {
	r.done = true
	r.result.Rcode = dns.RcodeServerFailure
	r.result.Answer, r.result.Ns = nil, nil
	return Step{Done: true}
}

// Next returns the next query to send, or Done.
func (r *Resolution) Next() Step {
	for !r.done {
		if r.child != nil {
			s := r.child.Next()
			if !s.Done {
				return s
			}
			r.absorbChild()
			continue
		}
		if *r.budget <= 0 {
			return r.fail()
		}
		if addr, ok := r.untriedServer(); ok {
			*r.budget--
			r.tried[addr] = true
			r.lastServer = addr
			r.sent = r.minimised()
			return Step{Query: r.sent, Server: addr, Zone: r.zone}
		}
		// Every known address was tried: look up a name server that has none, if allowed.
		if name, ok := r.serverWithoutAddress(); ok && r.nsLookups < r.limits.MaxNSLookups && r.depth < r.limits.MaxDepth {
			r.nsLookups++
			r.childFor, r.childType = name, dns.TypeA
			r.child = r.nested(Question{Name: name, Type: dns.TypeA})
			continue
		}
		if r.fromStore {
			// Every server the stored delegation named failed; it may be out of date, so the
			// parents are asked again from the root.
			r.deleg.Forget(r.zone)
			r.storeOff = true
			r.restart()
			continue
		}
		return r.fail()
	}
	return Step{Done: true}
}

// untriedServer picks, among the addresses not yet asked for this step, the one with the lowest
// smoothed round-trip time; timeouts raise a server's time, so it is asked last until it answers
// again. Without RTT data the delegation's order stands.
func (r *Resolution) untriedServer() (netip.Addr, bool) {
	var best netip.Addr
	var bestRTT time.Duration
	found := false
	for _, ns := range r.servers {
		for _, a := range ns.Addrs {
			if r.tried[a] {
				continue
			}
			var rtt time.Duration
			if r.rtt != nil {
				rtt = r.rtt.SRTT(a)
			}
			if !found || rtt < bestRTT {
				best, bestRTT, found = a, rtt, true
			}
		}
	}
	return best, found
}

// serverWithoutAddress returns a name server of the delegation with no known address that has not
// been looked up yet. Names inside the zone being delegated cannot be looked up through it (they
// would need their own glue), so they are skipped.
func (r *Resolution) serverWithoutAddress() (string, bool) {
	for i := range r.servers {
		ns := &r.servers[i]
		if len(ns.Addrs) == 0 && ns.Name != "" && !isBelow(r.zone, ns.Name) {
			name := ns.Name
			ns.Name = "" // looked up once
			return name, true
		}
	}
	return "", false
}

// absorbChild takes the addresses a nested resolution found for a name server.
func (r *Resolution) absorbChild() {
	res := r.child.Result()
	r.child = nil
	found := NameServer{Name: r.childFor}
	for _, rr := range res.Answer {
		if a, ok := rr.(*dns.A); ok {
			found.Addrs = append(found.Addrs, a.A.Addr)
		}
	}
	if len(found.Addrs) > 0 {
		r.servers = append(r.servers, found)
		r.deleg.AddAddresses(r.zone, found)
	}
}

// minimised returns the question to send to a server of the current zone.
func (r *Resolution) minimised() Question {
	if r.minimiseOff || r.limits.MinimiseSteps == 0 || r.steps >= r.limits.MinimiseSteps {
		return r.q
	}
	want := labels(r.zone) + 1 + r.extra
	if labels(r.q.Name) <= want {
		return r.q
	}
	name := r.q.Name
	for range labels(r.q.Name) - want {
		_, name, _ = strings.Cut(name, ".")
	}
	return Question{Name: name, Type: dns.TypeA}
}

func labels(name string) int {
	if name == "." || name == "" {
		return 0
	}
	return strings.Count(name, ".")
}

// feedMinimised handles the reply to a minimised question; it returns true when the reply was
// used up (anything but a referral, which is handled as for the full name).
func (r *Resolution) feedMinimised(reply *dns.Msg) bool {
	r.steps++
	scrubbed, _ := Scrub(reply, r.sent.Name, r.sent.Type, r.zone)
	v := Classify(scrubbed, r.sent.Name, r.sent.Type, r.zone)
	switch v.Kind {
	case Referral:
		return false
	case Answer, NoData:
		if v.Target == r.sent.Name {
			r.extra++ // the name exists inside this zone: ask one label more
		} else {
			r.minimiseOff = true // an alias on the way: ask for the whole name
		}
	case NXDomain, CNAME:
		// Relaxed mode: a broken server may deny names that exist below (RFC 9156 §2.3).
		r.minimiseOff = true
	default:
		r.markLame() // lame or failing: this server is done with, as for any query
		return true
	}
	r.tried = map[netip.Addr]bool{}
	return true
}

// Feed hands over the reply to the last query Next returned, or the error that ended it.
func (r *Resolution) Feed(reply *dns.Msg, err error) {
	if r.child != nil {
		r.child.Feed(reply, err)
		return
	}
	if r.done || err != nil || reply == nil {
		return // the server is marked tried; Next moves on
	}
	if r.sent != r.q && r.feedMinimised(reply) {
		return
	}
	scrubbed, _ := Scrub(reply, r.q.Name, r.q.Type, r.zone)
	v := Classify(scrubbed, r.q.Name, r.q.Type, r.zone)
	switch v.Kind {
	case Answer, NXDomain, NoData, CNAME:
		r.visit()
	}
	switch v.Kind {
	case Answer, NXDomain, NoData:
		r.result.Answer = append(r.result.Answer, scrubbed.Answer...)
		r.result.Rcode = dns.RcodeSuccess
		if v.Kind == NXDomain {
			r.result.Rcode = dns.RcodeNameError
		}
		if v.Kind != Answer {
			r.result.Ns = soaOnly(scrubbed.Ns)
		}
		r.result.Proof = append(r.result.Proof, dnssecOnly(scrubbed.Ns)...)
		r.done = true
	case CNAME:
		r.result.Answer = append(r.result.Answer, scrubbed.Answer...)
		// A link of the chain may be a wildcard expansion: its proof comes with it.
		r.result.Proof = append(r.result.Proof, dnssecOnly(scrubbed.Ns)...)
		r.cnames++
		if r.cnames > r.limits.MaxCNAMEs || v.Target == r.q.Name {
			r.fail()
			return
		}
		r.q.Name = v.Target
		r.restart()
	case Referral:
		if r.q.Type == dns.TypeDS && v.Cut == r.q.Name {
			// The DS RRset lives on the parent side of the cut (RFC 4035 §3.1.4.1): ask this
			// zone's servers for it by its full name instead of descending.
			r.minimiseOff = true
			r.tried = map[netip.Addr]bool{}
			return
		}
		r.referrals++
		if r.referrals > r.limits.MaxReferrals {
			r.fail()
			return
		}
		r.zone = v.Cut
		r.servers = delegationServers(scrubbed, v.Cut)
		r.fromStore = false
		r.deleg.Store(v.Cut, r.servers, referralTTL(scrubbed, v.Cut))
		r.visit()
		r.tried = map[netip.Addr]bool{}
		r.nsLookups = 0
		r.extra = 0
	case Lame, ServerError:
		// This server is done with; Next tries the others.
		r.markLame()
	}
}

// visit records the current zone and its servers in the result, once per zone.
func (r *Resolution) visit() {
	vz := VisitedZone{Zone: r.zone, Servers: r.servers}
	for i := range r.result.Visited {
		if r.result.Visited[i].Zone == r.zone {
			r.result.Visited[i] = vz // the servers may have gained addresses since
			return
		}
	}
	r.result.Visited = append(r.result.Visited, vz)
}

// markLame tells the Exchanger that the last server answered without use, so that later questions
// ask it last.
func (r *Resolution) markLame() {
	if r.lame != nil {
		r.lame.Lame(r.lastServer)
	}
}

// referralTTL is how long a delegation may be remembered: the lowest TTL of its NS records and the
// glue that came with them.
func referralTTL(m *dns.Msg, cut string) time.Duration {
	ttl := uint32(math.MaxUint32)
	for _, rr := range append(slices.Clip(m.Ns), m.Extra...) {
		h := rr.Header()
		switch rr.(type) {
		case *dns.NS:
			if !strings.EqualFold(h.Name, cut) {
				continue
			}
		case *dns.A, *dns.AAAA:
		default:
			continue
		}
		ttl = min(ttl, h.TTL)
	}
	if ttl == math.MaxUint32 {
		return 0
	}
	return time.Duration(ttl) * time.Second
}

// delegationServers lists the NS names of cut with the glue the (scrubbed) referral carried.
func delegationServers(m *dns.Msg, cut string) []NameServer {
	var out []NameServer
	for _, rr := range m.Ns {
		ns, ok := rr.(*dns.NS)
		if !ok || !strings.EqualFold(ns.Hdr.Name, cut) {
			continue
		}
		s := NameServer{Name: strings.ToLower(ns.Ns)}
		for _, g := range m.Extra {
			if a, ok := g.(*dns.A); ok && strings.EqualFold(a.Hdr.Name, s.Name) {
				s.Addrs = append(s.Addrs, a.A.Addr)
			}
		}
		out = append(out, s)
	}
	return out
}

// dnssecOnly returns the NSEC, NSEC3 and RRSIG records of a section.
func dnssecOnly(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		switch rr.(type) {
		case *dns.NSEC, *dns.NSEC3, *dns.RRSIG:
			out = append(out, rr)
		}
	}
	return out
}

func soaOnly(rrs []dns.RR) []dns.RR {
	for _, rr := range rrs {
		if _, ok := rr.(*dns.SOA); ok {
			return []dns.RR{rr}
		}
	}
	return nil
}
