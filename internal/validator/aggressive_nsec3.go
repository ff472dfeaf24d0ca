package validator

import (
	"slices"
	"strings"
	"time"

	"codeberg.org/miekg/dns"
)

// rememberDenial keeps the records of a denial just proved secure for answers made later
// without asking. An NSEC3 proof is kept with its parameters: nsec3Params has already turned
// away unknown hashes and counts above the iteration limit, which make a proof insecure.
func (c *Chain) rememberDenial(zone string, d Denial, ns []dns.RR) {
	now := c.opts.now()
	if len(d.NSEC3) == 0 {
		c.nsecs.remember(zone, ns, nil, now)
		return
	}
	p, r := c.opts.nsec3Params(d)
	if r.State != Secure {
		return
	}
	c.nsecs.remember(zone, ns, &p, now)
}

// synthesiseNSEC3 finds in the NSEC3 records kept for zone the proof of RFC 5155 §8.4
// (NXDOMAIN: closest encloser matched, next closer name and wildcard covered) or §8.5 (NODATA:
// the name matched, without qtype or CNAME). The caller holds the store's lock.
func (c *Chain) synthesiseNSEC3(zone string, z *zoneDenials, qname string, qtype uint16, now time.Time) (uint16, []heldRRset, bool) {
	p := z.params
	if p.iterations > c.opts.maxIterations() {
		return 0, nil, false // a proof that costly is insecure (RFC 9276 §3.2)
	}
	d := Denial{Zone: zone}
	for owner, n := range z.nsec3 {
		if !now.Before(n.expires) {
			delete(z.nsec3, owner)
			continue
		}
		d.NSEC3 = append(d.NSEC3, n.nsec3)
	}
	if len(d.NSEC3) == 0 {
		return 0, nil, false
	}
	var used []heldRRset
	var picked []*dns.NSEC3
	pick := func(n *dns.NSEC3) {
		if !slices.Contains(picked, n) {
			picked = append(picked, n)
			used = append(used, z.nsec3[strings.ToLower(n.Hdr.Name)].heldRRset)
		}
	}
	if m := matchingNSEC3(d, p, qname); m != nil {
		if c.opts.nsec3NoData(Denial{Zone: zone, NSEC3: []*dns.NSEC3{m}}, qname, qtype).State != Secure {
			return 0, nil, false
		}
		pick(m)
		return dns.RcodeSuccess, used, true
	}
	pr := closestEncloserNSEC3(d, p, qname)
	if pr.proofErr.State != Secure || optOut(pr.ncCover) {
		// Unknown, or an opt-out span, which may hide an unsigned delegation (RFC 8198 §5.2,
		// RFC 5155 §6): ask.
		return 0, nil, false
	}
	wild := wildcardAt(pr.ce)
	if matchingNSEC3(d, p, wild) != nil {
		return 0, nil, false // a wildcard may answer: ask, as for NSEC
	}
	wcov := coveringNSEC3(d, p, wild)
	if wcov == nil || optOut(wcov) {
		return 0, nil, false
	}
	pick(pr.ceNSEC3)
	pick(pr.ncCover)
	pick(wcov)
	return dns.RcodeNameError, used, true
}

func optOut(n *dns.NSEC3) bool { return n.Flags&1 != 0 }
