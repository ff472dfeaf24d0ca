package validator

import (
	"strings"
	"sync/atomic"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
)

// maxQuickRRsets bounds the RRsets (each one signature check at most) that Proves looks at in
// one reply. It runs while a UDP exchange waits for a rival reply, so a reply stuffed with
// RRsets must cost a bounded time: past the bound it cannot tell. An answer with a short CNAME
// chain, or a negative answer with its SOA and three NSEC3 RRsets, stays well within it.
const maxQuickRRsets = 8

// Proves reports whether one raw reply is proven secure by what the chain has already learned:
// the trusted keys of its zones are in the chain's memory (nothing is fetched: a zone not yet
// walked to makes it false), and every RRset of the answer section, or for a negative reply the
// SOA and the denial, verifies under them. False means "cannot tell" as often as "bogus". It is
// Hold-On's question (upstream.Options.Validates): it must answer inside the exchange's window
// without I/O, and at most maxQuickRRsets signature checks. What verifies goes into the
// signature memo, so the full validation after the exchange finds it there.
func (c *Chain) Proves(reply []byte) bool {
	m, err := wire.Unpack(reply)
	if err != nil || len(m.Question) != 1 || m.Truncated {
		return false
	}
	if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
		return false
	}
	if !signedWithin(m.Answer, m.Ns) {
		return false
	}
	q := m.Question[0]
	name := strings.ToLower(q.Header().Name)
	r := c.response(c.cachedKeys, name, dns.RRToType(q), m.Rcode, m.Answer, m.Ns)
	return r.State == Secure
}

// signedWithin says whether a reply carries signatures at all, and no more RRsets to check
// than Proves allows: an unsigned reply (a zone without DNSSEC, a server that dropped the DO
// bit) is told apart before anything is grouped or verified.
func signedWithin(answer, ns []dns.RR) bool {
	sigs, sets := 0, 0
	for _, rr := range answer {
		if _, ok := rr.(*dns.RRSIG); ok {
			sigs++
		}
	}
	if len(answer) > 0 && sigs == 0 {
		return false
	}
	for _, s := range rrsets(answer) {
		if len(s.rrs) > 0 {
			sets++
		}
	}
	for _, rr := range ns {
		switch rr.(type) {
		case *dns.RRSIG:
			sigs++
		case *dns.SOA, *dns.NSEC, *dns.NSEC3:
			sets++
		}
	}
	return sigs > 0 && sets <= maxQuickRRsets
}

// ReplyCheck is Chain.Proves for exchanges built before their chain: the upstreams of a
// resolver or a forwarded zone get their options (upstream.Options.Validates) first, and the
// chain that knows the keys is made later with the resolver that uses them. Until Use, and for
// a nil *ReplyCheck, every reply is "cannot tell".
type ReplyCheck struct {
	chain atomic.Pointer[Chain]
}

// Use makes c the chain that Validates asks.
func (r *ReplyCheck) Use(c *Chain) { r.chain.Store(c) }

// Validates is Proves of the chain in use; the shape of upstream.Options.Validates.
func (r *ReplyCheck) Validates(reply []byte) bool {
	if r == nil {
		return false
	}
	c := r.chain.Load()
	return c != nil && c.Proves(reply)
}
