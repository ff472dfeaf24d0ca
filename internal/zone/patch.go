package zone

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"unsafe"

	"codeberg.org/miekg/dns"
)

// Apply makes the next version of a zone by patching the one before: the nodes a diff changes are
// copied and changed, and so are the few others whose links into the tree change with them (the
// parent of a name added or removed, the owner of a wildcard, the names below a zone cut that
// changed); every other node, and every shard of the index that holds none of these, is shared
// with the version before. Readers of either version see a tree that never changes; an answer
// kept on a shared node carries the version it was built for (Node.Memo), so a reader of the new
// version builds its own on first use.
//
// What patch does not handle, it leaves to a whole build (rebuild): a change of DNAME records
// (data below a DNAME anywhere in the tree would have to be looked for), of the NSEC3 parameters
// or of whether the zone is signed at all (every node's signatures and the chains would change),
// and a zone grown so much that its index wants more shards.

// errRebuild says that patch cannot make the version and a whole build must.
var errRebuild = errors.New("the change needs the zone built whole")

// patchable says whether d is a change patch may make (see above).
func (z *Zone) patchable(d Diff) bool {
	for _, list := range [][]dns.RR{d.Removed, d.Added} {
		for _, rr := range list {
			switch dns.RRToType(rr) {
			case dns.TypeDNAME, dns.TypeNSEC3PARAM:
				return false
			}
		}
	}
	// Too few shards make each copied shard large; too many only make the list of them longer
	// (16,384 pointers at most), so only a zone that outgrew its shards is built whole again.
	return shardsFor(z.NodeCount()+len(d.Added)) <= 4*len(z.names.shards)
}

// patch is the making of one version from the one before.
type patch struct {
	prev  *Zone
	names *indexWriter
	// copies maps the nodes of prev that the new version replaces to their copies.
	copies map[*Node]*Node
	// owned holds the new version's own nodes (copies and names new to the zone), which it may
	// still change; all the others are shared with prev and only read.
	owned map[*Node]bool
	mem   *slabs
}

// own returns the new version's own node for n: n itself when it is one, else its copy, made on
// the first call. The copy holds no answers, and its record lists are clipped so that appending
// to one never writes into the memory of prev's.
func (p *patch) own(n *Node) *Node {
	if p.owned[n] {
		return n
	}
	if c := p.copies[n]; c != nil {
		return c
	}
	c := p.mem.nodes.get()
	c.Name, c.Key, c.Parent, c.Cut, c.Wildcard = n.Name, n.Key, n.Parent, n.Cut, n.Wildcard
	c.Hashed, c.children = n.Hashed, n.children
	c.Sets = p.mem.sets.take(len(n.Sets))
	for i, set := range n.Sets {
		c.Sets[i] = RRset{Type: set.Type, RRs: slices.Clip(set.RRs)}
	}
	p.copies[n] = c
	p.owned[c] = true
	p.names.put(c)
	return c
}

// made takes a node the loader created for a name new to the zone.
func (p *patch) made(n *Node) {
	p.owned[n] = true
	p.names.put(n)
}

// live says whether n is in the new version (not removed from it).
func (p *patch) live(n *Node) bool { return p.names.get(n.Key) == n }

// patch makes the next version of z with d applied; removed and touched are as Apply found them.
func (z *Zone) patch(d Diff, removed map[dns.RR]struct{}, touched map[*Node]struct{}) (*Zone, error) {
	next := &Zone{Origin: z.Origin, Key: z.Key, File: z.File, dnames: z.dnames}
	p := &patch{prev: z, names: z.names.writer(), copies: make(map[*Node]*Node), owned: make(map[*Node]bool)}
	l := &loader{z: next, patch: p, dnames: z.dnames}
	p.mem = &l.mem

	next.Records = z.Records - len(removed) - 1 // the SOA goes too, and d.To comes in its place
	next.Apex = p.own(z.Apex)
	next.Apex.Sets = slices.DeleteFunc(next.Apex.Sets, func(s RRset) bool { return s.Type == dns.TypeSOA })
	for n := range touched {
		c := p.own(n)
		for i := range c.Sets {
			c.Sets[i].RRs = slices.DeleteFunc(slices.Clone(c.Sets[i].RRs), func(rr dns.RR) bool {
				_, gone := removed[rr]
				return gone
			})
		}
		c.Sets = slices.DeleteFunc(c.Sets, func(s RRset) bool { return len(s.RRs) == 0 })
	}
	l.add(d.To.Clone())
	for _, rr := range d.Added {
		if len(l.errs) >= MaxErrors {
			break
		}
		l.add(rr.Clone())
	}
	if len(l.errs) > 0 {
		return nil, &LoadError{Origin: z.Origin, Problems: l.errs}
	}

	p.prune()
	p.relink()
	for _, c := range p.byDepth() {
		if p.live(c) {
			l.checkNode(c)
		}
	}
	if !next.Apex.Has(dns.TypeNS) {
		l.problem(&l.errs, next.SOA, "no NS records at the zone apex %s", z.Origin)
	}
	if len(l.errs) > 0 {
		return nil, &LoadError{Origin: z.Origin, Problems: l.errs}
	}
	if err := p.dnssec(next); err != nil {
		return nil, err
	}

	next.names = p.names.index
	made := next.order // the loader's, in the order it made them
	next.order = p.order(made)
	next.gen = lastGen.Add(1)
	return next, nil
}

// order returns the new version's nodes in the order of prev's, with the copies in place of the
// nodes they replace and made (the names new to the zone) at the end, the removed ones left out.
// Only the copies need a look in a map; a bit per pointer hash tells the other nodes, which are
// nearly all, from them at the cost of reading prev's list once.
func (p *patch) order(made []*Node) []*Node {
	var copied [1 << 10]uint64
	bit := func(n *Node) (int, uint64) {
		h := uint64(uintptr(unsafe.Pointer(n))) * 0x9e3779b97f4a7c15 >> (64 - 16)
		return int(h >> 6), 1 << (h & 63)
	}
	for n := range p.copies {
		i, b := bit(n)
		copied[i] |= b
	}
	order := make([]*Node, 0, len(p.prev.order)+len(made))
	for _, n := range p.prev.order {
		if i, b := bit(n); copied[i]&b != 0 {
			if c := p.copies[n]; c != nil {
				if p.live(c) {
					order = append(order, c)
				}
				continue
			}
		}
		order = append(order, n)
	}
	for _, n := range made {
		if p.live(n) {
			order = append(order, n)
		}
	}
	return order
}

// byDepth returns the own nodes, parents before their children.
func (p *patch) byDepth() []*Node {
	list := make([]*Node, 0, len(p.owned))
	for n := range p.owned {
		list = append(list, n)
	}
	slices.SortFunc(list, func(a, b *Node) int {
		if c := labels(a.Key) - labels(b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key) // a fixed order, so that problems come out the same
	})
	return list
}

// labels counts the labels of a wire name.
func labels(key string) int {
	n := 0
	for off := 0; off < len(key) && key[off] != 0; off += 1 + int(key[off]) {
		n++
	}
	return n
}

// parentKey returns the wire name of key's parent; key is not the root.
func parentKey(key string) string { return key[1+int(key[0]):] }

// prune removes the nodes left without records and without children, the empty non-terminals
// whose last descendant went, up the tree.
func (p *patch) prune() {
	list := p.byDepth()
	for i := len(list) - 1; i >= 0; i-- {
		for c := list[i]; !c.IsApex() && len(c.Sets) == 0 && c.children == 0 && p.live(c); {
			p.names.del(c.Key)
			parent := p.own(p.names.get(parentKey(c.Key)))
			parent.children--
			c = parent
		}
	}
}

// relink sets Parent, Cut and Wildcard on the own nodes, after making own every node whose Cut or
// Wildcard changes with them: the owner of a wildcard that changed, and the names below a node
// that is or was a zone cut.
func (p *patch) relink() {
	for _, c := range p.byDepth() {
		if strings.HasPrefix(c.Key, "\x01*") {
			if parent := p.names.get(parentKey(c.Key)); parent != nil {
				p.own(parent)
			}
		}
	}
	for _, c := range p.byDepth() {
		if c.IsApex() {
			continue
		}
		old := p.prev.Node(c.Key)
		if !c.Has(dns.TypeNS) && (old == nil || !old.Has(dns.TypeNS)) {
			continue
		}
		var below []*Node
		p.names.below(c.Key, func(n *Node) { below = append(below, n) })
		for _, n := range below {
			p.own(n)
		}
	}
	var buf []byte
	for _, c := range p.byDepth() {
		if !p.live(c) {
			continue
		}
		buf = append(append(buf[:0], 1, '*'), c.Key...)
		c.Wildcard = p.names.getBytes(buf)
		if c.IsApex() {
			continue
		}
		c.Parent = p.names.get(parentKey(c.Key))
		switch {
		case !c.Parent.IsApex() && c.Parent.Cut != nil:
			c.Cut = c.Parent.Cut
		case c.Has(dns.TypeNS):
			c.Cut = c
		default:
			c.Cut = nil
		}
	}
}

// dnssec files the DNSSEC records of the own nodes as indexDNSSEC does for a whole zone, and
// makes the new version's chains from the old ones: the entries of changed names out, those of
// the own nodes in.
func (p *patch) dnssec(next *Zone) error {
	apex := next.Apex
	signed := apex.Has(dns.TypeDNSKEY) && coversType(apex.RRset(dns.TypeRRSIG), dns.TypeSOA)
	old := p.prev.dnssec
	if signed != (old != nil) {
		return errRebuild
	}
	if old == nil {
		return nil
	}
	d := &dnssecIndex{param: old.param, salt: old.salt}
	d.nsec, d.nsecKeys = slices.Clone(old.nsec), slices.Clone(old.nsecKeys)
	d.nsec3 = slices.Clone(old.nsec3)
	own := p.byDepth()
	for _, c := range own {
		key := canonicalKey(c.Key)
		if i, found := slices.BinarySearchFunc(d.nsecKeys, key, bytes.Compare); found {
			d.nsec = slices.Delete(d.nsec, i, i+1)
			d.nsecKeys = slices.Delete(d.nsecKeys, i, i+1)
		}
		if c.Parent != nil && c.Parent.IsApex() {
			label := firstLabel(c.Key)
			i, found := slices.BinarySearchFunc(d.nsec3, label, func(n *Node, l string) int { return strings.Compare(firstLabel(n.Key), l) })
			if found && d.nsec3[i].Key == c.Key {
				d.nsec3 = slices.Delete(d.nsec3, i, i+1)
			}
		}
	}
	l := &loader{z: next}
	for _, c := range own {
		if !p.live(c) {
			continue
		}
		c.sigs = nil
		l.attachSigs(c)
		c.Hashed = c.Parent == apex && c.Has(dns.TypeNSEC3) && onlyNSEC3(c)
		if c.Hashed {
			label := firstLabel(c.Key)
			i, _ := slices.BinarySearchFunc(d.nsec3, label, func(n *Node, l string) int { return strings.Compare(firstLabel(n.Key), l) })
			d.nsec3 = slices.Insert(d.nsec3, i, c)
			continue
		}
		if c.Has(dns.TypeNSEC) {
			key := canonicalKey(c.Key)
			i, _ := slices.BinarySearchFunc(d.nsecKeys, key, bytes.Compare)
			d.nsec = slices.Insert(d.nsec, i, c)
			d.nsecKeys = slices.Insert(d.nsecKeys, i, key)
		}
	}
	next.dnssec = d
	return nil
}
