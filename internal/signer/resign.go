package signer

import (
	"fmt"
	"slices"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

// edit collects the change from one signed version to the next: records out, records in, and
// the RRsets to sign, whose signatures go in once all are made.
type edit struct {
	j       *job
	prev    *zone.Zone // the signed version the change applies to
	removed []dns.RR
	added   []dns.RR
	gone    map[dns.RR]bool // prev's own records already in removed
	tasks   []task
}

func (e *edit) remove(rr dns.RR) {
	if !e.gone[rr] {
		e.gone[rr] = true
		e.removed = append(e.removed, rr)
	}
}

// dropSigs removes prev's signatures over the RRset of type t at the node key.
func (e *edit) dropSigs(key string, t uint16) {
	n := e.prev.Node(key)
	if n == nil {
		return
	}
	for _, rr := range n.RRset(dns.TypeRRSIG) {
		if rr.(*dns.RRSIG).TypeCovered == t {
			e.remove(rr)
		}
	}
}

// replace swaps prev's RRset of type t at key for rrs (nil: none), with new signatures.
func (e *edit) replace(key string, t uint16, rrs []dns.RR) {
	if n := e.prev.Node(key); n != nil {
		for _, rr := range n.RRset(t) {
			e.remove(rr)
		}
	}
	e.dropSigs(key, t)
	if len(rrs) > 0 {
		e.added = append(e.added, rrs...)
		e.tasks = append(e.tasks, taskFor(rrs))
	}
}

// diff signs what is left to sign and returns the change, with the SOA to that has serial.
func (e *edit) diff(soa *dns.SOA) (zone.Diff, error) {
	e.dropSigs(e.prev.Key, dns.TypeSOA)
	e.tasks = append(e.tasks, taskFor([]dns.RR{soa}))
	sigs, err := e.j.run(e.tasks)
	if err != nil {
		return zone.Diff{}, err
	}
	return zone.Diff{From: e.prev.SOA, Removed: e.removed, To: soa, Added: append(e.added, sigs...)}, nil
}

// NextSerial is the signed SOA serial after prev when the unsigned zone has serial unsigned, as
// Knot's serial policy "increment" has it: the unsigned zone's serial when it is newer, else one
// more than the last signed version's, so that secondaries see every change.
func NextSerial(prev, unsigned uint32) uint32 {
	if dns.CompareSerial(unsigned, prev) > 0 {
		return unsigned
	}
	return prev + 1
}

// Resign signs u, the next version of prev's unsigned zone, by changing prev: only the RRsets
// that changed get new signatures, and only the denial records whose name, neighbour or types
// changed are replaced. It returns the new version and the change from prev. A change that
// moves a zone cut (NS records below the apex), the keys, the denial mode or the TTLs the signer
// derives from the SOA is signed whole instead, and the change is the difference of the two.
func Resign(prev *Signed, u *zone.Zone, keys *KeySet, p Policy, now time.Time) (*Signed, zone.Diff, error) {
	serial := NextSerial(prev.Zone.Serial(), u.Serial())
	d := zone.Compare(prev.Unsigned, u)
	if wholeNeeded(prev, u, keys, p, d) {
		next, err := Sign(u, keys, p, now, serial)
		if err != nil {
			return nil, zone.Diff{}, err
		}
		return next, zone.Compare(prev.Zone, next.Zone), nil
	}
	j, err := newJob(u, keys, p, now)
	if err != nil {
		return nil, zone.Diff{}, err
	}
	e := &edit{j: j, prev: prev.Zone, gone: map[dns.RR]bool{}}

	// The RRsets that changed, by node key and type; the names whose chain link may change.
	type set struct {
		key string
		t   uint16
	}
	changed := map[set]bool{}
	names := map[string]bool{}
	for _, rr := range slices.Concat(d.Removed, d.Added) {
		key := nodeKey(u, rr.Header().Name)
		t := dns.RRToType(rr)
		apex := key == u.Key
		if stripped(t, apex) {
			continue
		}
		changed[set{key, t}] = true
		for k := key; ; k = k[int(k[0])+1:] { // the name and its ancestors: empty non-terminals come and go
			names[k] = true
			if k == u.Key || k == "\x00" {
				break
			}
		}
	}
	for s := range changed {
		n := u.Node(s.key)
		var rrs []dns.RR
		if n != nil {
			rrs = n.RRset(s.t)
		}
		if n == nil || !signable(n, s.t) {
			// Unsigned data (glue, delegation NS) changes without signatures.
			if o := e.prev.Node(s.key); o != nil {
				for _, rr := range o.RRset(s.t) {
					e.remove(rr)
				}
			}
			e.dropSigs(s.key, s.t)
			e.added = append(e.added, rrs...)
			continue
		}
		e.replace(s.key, s.t, rrs)
	}

	c := slices.Clone(prev.chain)
	dirty := map[string]bool{} // chain keys whose record is made again
	var left []string          // chain keys no longer in the chain
	for key := range names {
		was, is := member(prev.Unsigned.Node(key), p.Denial), member(u.Node(key), p.Denial)
		n := u.Node(key)
		if n == nil {
			n = prev.Unsigned.Node(key)
		}
		ck := chainKey(n, p.Denial)
		switch {
		case was && !is:
			i, _ := c.find(ck, p.Denial)
			c = slices.Delete(c, i, i+1)
			left = append(left, ck)
			if len(c) > 0 {
				dirty[c[c.prev(i%len(c))].key] = true
			}
		case !was && is:
			i, _ := c.find(ck, p.Denial)
			c = slices.Insert(c, i, linkOf(n, p.Denial))
			dirty[ck] = true
			dirty[c[c.prev(i)].key] = true
		case is:
			dirty[ck] = true // its types may have changed
		}
	}
	for _, ck := range left {
		if _, back := c.find(ck, p.Denial); back {
			continue // it came back under the same key: made again below
		}
		e.replace(denialNode(prev, ck), denialType(p.Denial), nil)
	}
	for ck := range dirty {
		i, ok := c.find(ck, p.Denial)
		if !ok {
			continue
		}
		rec := j.denial(c, i, u.Node(c[i].node))
		key := c[i].node
		if p.Denial == NSEC3 {
			key = nodeKey(u, rec.Header().Name)
		}
		if o := e.prev.Node(key); o != nil {
			if old := o.RRset(denialType(p.Denial)); len(old) == 1 && old[0].Header().TTL == rec.Header().TTL && zone.SameRdata(old[0], rec) {
				continue // unchanged: its signature stays
			}
		}
		e.replace(key, denialType(p.Denial), []dns.RR{rec})
	}

	diff, err := e.diff(soaWithSerial(u.SOA, serial))
	if err != nil {
		return nil, zone.Diff{}, err
	}
	z, err := prev.Zone.Apply(diff)
	if err != nil {
		return nil, zone.Diff{}, fmt.Errorf("zone %s: incremental signing: %w", u.Origin, err)
	}
	return finishChange(prev, z, u, keys, p, c, diff), diff, nil
}

// wholeNeeded says whether the change from prev to u is signed whole rather than in part.
func wholeNeeded(prev *Signed, u *zone.Zone, keys *KeySet, p Policy, d zone.Diff) bool {
	if p != prev.Policy || !sameKeys(prev.Keys, keys) {
		return true
	}
	ps, us := prev.Unsigned.SOA, u.SOA
	if ps.Hdr.TTL != us.Hdr.TTL || prev.Unsigned.NegativeTTL() != u.NegativeTTL() {
		return true // the TTLs of the key sets and the denial records follow the SOA
	}
	for _, rr := range slices.Concat(d.Removed, d.Added) {
		switch dns.RRToType(rr) {
		case dns.TypeNS:
			if rr.Header().Name != u.Origin {
				return true
			}
		case dns.TypeDNAME:
			return true
		}
	}
	return false
}

func sameKeys(a, b *KeySet) bool {
	if len(a.Keys) != len(b.Keys) {
		return false
	}
	for i := range a.Keys {
		x, y := a.Keys[i], b.Keys[i]
		if x.Tag() != y.Tag() || x.Role != y.Role || x.Timing != y.Timing || x.DNSKEY.PublicKey != y.DNSKEY.PublicKey {
			return false
		}
	}
	return true
}

func denialType(d Denial) uint16 {
	if d == NSEC3 {
		return dns.TypeNSEC3
	}
	return dns.TypeNSEC
}

// denialNode is the node key of the denial record of chain key ck in prev.
func denialNode(prev *Signed, ck string) string {
	if prev.Policy.Denial == NSEC3 {
		return nodeKey(prev.Zone, hashOwner(ck, prev.Zone.Origin))
	}
	return ck // an NSEC chain's key is the node's
}

// Refresh replaces the signatures of prev that expire within the policy's refresh window from
// now (and those made by keys that no longer sign), and nothing else but the SOA, whose serial
// goes up by one. It returns the new version and the change from prev.
func Refresh(prev *Signed, now time.Time) (*Signed, zone.Diff, error) {
	u := prev.Unsigned
	j, err := newJob(u, prev.Keys, prev.Policy, now)
	if err != nil {
		return nil, zone.Diff{}, err
	}
	e := &edit{j: j, prev: prev.Zone, gone: map[dns.RR]bool{}}
	window := uint32(now.Add(prev.RefreshAt.Sub(prev.Expires) * -1).Unix())
	signing := map[uint16]bool{}
	for _, k := range slices.Concat(j.zsks, j.ksks) {
		signing[k.tag] = true
	}
	for n := range prev.Zone.Nodes() {
		var due []uint16 // the types covered by a signature due at n; a node has few
		for _, rr := range n.RRset(dns.TypeRRSIG) {
			sig := rr.(*dns.RRSIG)
			if sig.TypeCovered != dns.TypeSOA && (dns.CompareSerial(sig.Expiration, window) <= 0 || !signing[sig.KeyTag]) && !slices.Contains(due, sig.TypeCovered) {
				due = append(due, sig.TypeCovered)
			}
		}
		for _, t := range due {
			e.dropSigs(n.Key, t)
			e.tasks = append(e.tasks, taskFor(n.RRset(t)))
		}
	}
	diff, err := e.diff(soaWithSerial(prev.Zone.SOA, prev.Zone.Serial()+1))
	if err != nil {
		return nil, zone.Diff{}, err
	}
	z, err := prev.Zone.Apply(diff)
	if err != nil {
		return nil, zone.Diff{}, fmt.Errorf("zone %s: signature refresh: %w", u.Origin, err)
	}
	return finish(z, u, prev.Keys, prev.Policy, prev.chain), diff, nil
}
