package resolver

import (
	"strings"

	"codeberg.org/miekg/dns"
)

// Scrub returns reply without the records a server of zoneCut has no authority to tell, for the
// question (qname, qtype), and how many it removed. It is the defence against cache poisoning by
// a server that answers more than it is asked (RFC 5452 §6, Unbound's iter_scrub):
//   - answer: only the records of the question name and of the names its CNAME chain leads to,
//     and DNAME records above those names, each inside zoneCut;
//   - authority: only NS, SOA and DS records inside zoneCut that are at or above the last name of
//     the chain, and NSEC, NSEC3 and RRSIG records inside zoneCut;
//   - additional: only A and AAAA records of the name servers named in the authority section, and
//     only when those names are inside zoneCut (glue from outside could point anywhere);
//   - nothing of a class other than IN.
func Scrub(reply *dns.Msg, qname string, qtype uint16, zoneCut string) (*dns.Msg, int) {
	qname = strings.ToLower(qname)
	zoneCut = strings.ToLower(zoneCut)
	out := new(dns.Msg)
	out.MsgHeader = reply.MsgHeader
	out.Question = reply.Question
	removed := 0

	// The chain: the question name, then each CNAME target in turn, while inside zoneCut.
	chain := []string{qname}
	for range maxChain {
		last := chain[len(chain)-1]
		if qtype == dns.TypeCNAME || !isBelow(zoneCut, last) {
			break
		}
		t, ok := cnameOf(reply.Answer, last)
		if !ok || containsName(chain, t) {
			break
		}
		chain = append(chain, t)
	}
	for _, rr := range reply.Answer {
		owner := strings.ToLower(rr.Header().Name)
		onChain := containsName(chain, owner)
		if _, ok := rr.(*dns.DNAME); ok && !onChain {
			// A DNAME stands above the chain name it rewrote (RFC 6672 §3.4).
			onChain = aboveAny(chain, owner)
		}
		if rr.Header().Class == dns.ClassINET && isBelow(zoneCut, owner) && onChain {
			out.Answer = append(out.Answer, rr)
		} else {
			removed++
		}
	}
	last := chain[len(chain)-1]
	nsNames := map[string]bool{}
	for _, rr := range reply.Ns {
		owner := strings.ToLower(rr.Header().Name)
		keep := rr.Header().Class == dns.ClassINET && isBelow(zoneCut, owner) && isBelow(owner, last)
		switch x := rr.(type) {
		case *dns.NS:
			if keep {
				nsNames[strings.ToLower(x.Ns)] = true
			}
		case *dns.SOA, *dns.DS:
		case *dns.NSEC, *dns.NSEC3, *dns.RRSIG:
			// The proofs of denial stand beside the name, not above it (an NSEC covering it,
			// an NSEC3 at a hashed owner): inside the zone is all that can be asked of them,
			// and they are believed only once validated.
			keep = rr.Header().Class == dns.ClassINET && isBelow(zoneCut, owner)
		default:
			keep = false
		}
		if keep {
			out.Ns = append(out.Ns, rr)
		} else {
			removed++
		}
	}
	for _, rr := range reply.Extra {
		owner := strings.ToLower(rr.Header().Name)
		t := dns.RRToType(rr)
		if rr.Header().Class == dns.ClassINET && (t == dns.TypeA || t == dns.TypeAAAA) &&
			nsNames[owner] && isBelow(zoneCut, owner) {
			out.Extra = append(out.Extra, rr)
		} else {
			removed++
		}
	}
	out.Pseudo = reply.Pseudo
	return out, removed
}

// aboveAny says whether owner is a proper ancestor of one of names.
func aboveAny(names []string, owner string) bool {
	for _, n := range names {
		if n != owner && isBelow(owner, n) {
			return true
		}
	}
	return false
}

func containsName(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}
