// Package resolver holds the recursive resolver's decisions, kept free of I/O so that each step can
// be tested with a reply written as zone-file text: what a reply means for the question being
// resolved (Classify), and which of its records may be believed (Scrub). The loop that sends
// queries and the cache build on these.
package resolver

import (
	"strings"

	"codeberg.org/miekg/dns"
)

// Kind is what a reply means for the question it answers, as Unbound's iterator distinguishes.
type Kind uint8

const (
	// Answer: the answer section holds the asked RRset, possibly after a CNAME chain.
	Answer Kind = iota
	// CNAME: the answer is a CNAME (chain) whose target the reply does not resolve; resolution
	// goes on with the target.
	CNAME
	// Referral: no answer, NS records for a zone closer to the name than the one asked.
	Referral
	// NXDomain: the name (or the end of the CNAME chain) does not exist.
	NXDomain
	// NoData: the name exists without the type.
	NoData
	// Lame: the server does not serve the zone it was asked about (REFUSED, an upward or sideways
	// referral, a non-authoritative empty answer); try another server.
	Lame
	// ServerError: SERVFAIL, NOTIMP, FORMERR and the like; try another server.
	ServerError
)

var kindNames = [...]string{"answer", "cname", "referral", "nxdomain", "nodata", "lame", "server-error"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Verdict is a classified reply.
type Verdict struct {
	Kind Kind
	// Target is the name resolution continues with: the end of the CNAME chain for CNAME (and for
	// Answer, NXDomain and NoData reached through a chain, the name they speak of).
	Target string
	// Cut is the zone a Referral delegates to.
	Cut string
}

// Classify says what reply means for the question (qname, qtype) asked of a server of the zone
// zoneCut. Names compare without regard to case. The reply should be scrubbed first.
func Classify(reply *dns.Msg, qname string, qtype uint16, zoneCut string) Verdict {
	qname = strings.ToLower(qname)
	zoneCut = strings.ToLower(zoneCut)
	switch reply.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	case dns.RcodeRefused:
		return Verdict{Kind: Lame}
	default:
		return Verdict{Kind: ServerError}
	}

	// Follow the CNAME chain the answer section holds, from the question name.
	name := qname
	chained := false
	for range maxChain {
		if qtype != dns.TypeCNAME && qtype != dns.TypeANY {
			if t, ok := cnameOf(reply.Answer, name); ok {
				name, chained = t, true
				continue
			}
		}
		break
	}
	if chained && !isBelow(zoneCut, name) {
		// Whatever this server says about a name outside its zone is not to be believed: the
		// target is resolved from its own zone's servers.
		return Verdict{Kind: CNAME, Target: name}
	}
	if hasRRset(reply.Answer, name, qtype) {
		return Verdict{Kind: Answer, Target: name}
	}
	if reply.Rcode == dns.RcodeNameError {
		return Verdict{Kind: NXDomain, Target: name}
	}
	if cut, ok := referral(reply, name, zoneCut); ok && !reply.Authoritative {
		if chained {
			// The chain left the zone; the referral is for the target, which is resolved anew.
			return Verdict{Kind: CNAME, Target: name}
		}
		return Verdict{Kind: Referral, Cut: cut}
	}
	if chained {
		if reply.Authoritative && hasType(reply.Ns, dns.TypeSOA) {
			return Verdict{Kind: NoData, Target: name}
		}
		return Verdict{Kind: CNAME, Target: name}
	}
	if reply.Authoritative {
		return Verdict{Kind: NoData, Target: name}
	}
	if len(reply.Answer) == 0 && hasType(reply.Ns, dns.TypeSOA) {
		// Some servers leave AA off negative answers; an SOA of the zone asked still makes the
		// answer usable (Unbound takes it too).
		for _, rr := range reply.Ns {
			if soa, ok := rr.(*dns.SOA); ok && strings.EqualFold(soa.Hdr.Name, zoneCut) {
				return Verdict{Kind: NoData, Target: name}
			}
		}
	}
	return Verdict{Kind: Lame}
}

// maxChain bounds the CNAME links followed within one reply.
const maxChain = 16

// referral returns the zone of the NS records in the authority section when they delegate to a
// zone strictly below zoneCut and at or above name.
func referral(reply *dns.Msg, name, zoneCut string) (string, bool) {
	for _, rr := range reply.Ns {
		if _, ok := rr.(*dns.NS); !ok {
			continue
		}
		owner := strings.ToLower(rr.Header().Name)
		if owner != zoneCut && isBelow(zoneCut, owner) && isBelow(owner, name) {
			return owner, true
		}
	}
	return "", false
}

func cnameOf(rrs []dns.RR, name string) (string, bool) {
	for _, rr := range rrs {
		if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, name) {
			return strings.ToLower(c.Target), true
		}
	}
	return "", false
}

func hasRRset(rrs []dns.RR, name string, qtype uint16) bool {
	for _, rr := range rrs {
		if strings.EqualFold(rr.Header().Name, name) && (qtype == dns.TypeANY || dns.RRToType(rr) == qtype) {
			return true
		}
	}
	return false
}

func hasType(rrs []dns.RR, t uint16) bool {
	for _, rr := range rrs {
		if dns.RRToType(rr) == t {
			return true
		}
	}
	return false
}

// isBelow says whether child is zone or a name below it (both lower-case, fully qualified).
func isBelow(zone, child string) bool {
	return zone == "." || child == zone || strings.HasSuffix(child, "."+zone)
}
