package policy

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync/atomic"
)

// names holds name triggers: exact names and wildcards (*.name, kept under name), keyed by the
// lower-case presentation-form name. A lookup is one map probe for the exact name and one per
// label for the wildcards, longest suffix first; it does not allocate.
type names struct {
	exact map[string]int32
	wild  map[string]int32
	// exactLabels and wildLabels have bit n set when some name of n labels is in the map (63 for
	// 63 and more), so that a lookup skips the probes that cannot hit.
	exactLabels, wildLabels uint64
}

// labelBit is the bit of a name's label count in names' masks.
func labelBit(name string) uint64 {
	n := strings.Count(name, ".")
	if name == "." {
		n = 0
	}
	return 1 << min(n, 63)
}

func (n *names) len() int { return len(n.exact) + len(n.wild) }

// add records rule i for name; the first rule for a name wins, as BIND keeps one policy per name.
func (n *names) add(name string, wildcard bool, i int32) bool {
	m := &n.exact
	if wildcard {
		m = &n.wild
	}
	if *m == nil {
		*m = make(map[string]int32)
	}
	if _, dup := (*m)[name]; dup {
		return false
	}
	(*m)[name] = i
	if wildcard {
		n.wildLabels |= labelBit(name)
	} else {
		n.exactLabels |= labelBit(name)
	}
	return true
}

// lookup finds the rule for name (lower-case FQDN): an exact rule first, then the wildcard of the
// longest enclosing name. A wildcard never matches the name it hangs from. Rules in skip (the
// suspended ones, normally nil) are passed over as if absent.
func (n *names) lookup(name string, skip *ruleMask) (int32, bool) {
	labels := strings.Count(name, ".")
	if name == "." {
		labels = 0
	}
	if n.exactLabels&(1<<min(labels, 63)) != 0 {
		if i, ok := n.exact[name]; ok && !skip.has(i) {
			return i, true
		}
	}
	// Enclosing names, longest first: one label shorter each step, down to the root.
	mask := n.wildLabels
	for labels > 0 && mask != 0 {
		dot := strings.IndexByte(name, '.')
		if dot < 0 {
			break
		}
		if name = name[dot+1:]; name == "" {
			name = "."
		}
		labels--
		if mask&(1<<min(labels, 63)) != 0 {
			if i, ok := n.wild[name]; ok && !skip.has(i) {
				return i, true
			}
		}
	}
	return 0, false
}

// prefixes holds address triggers. Each address family keeps the prefix lengths in use, longest
// first, so that a lookup probes one map entry per length.
type prefixes struct {
	m          map[netip.Prefix]int32
	lens4      []int
	lens6      []int
	lenPresent [129 + 33]bool
}

func (p *prefixes) len() int { return len(p.m) }

func (p *prefixes) add(pfx netip.Prefix, i int32) bool {
	if p.m == nil {
		p.m = make(map[netip.Prefix]int32)
	}
	if _, dup := p.m[pfx]; dup {
		return false
	}
	p.m[pfx] = i
	bits := pfx.Bits()
	slot := bits
	if pfx.Addr().Is6() {
		slot += 33
	}
	if !p.lenPresent[slot] {
		p.lenPresent[slot] = true
		lens := &p.lens4
		if pfx.Addr().Is6() {
			lens = &p.lens6
		}
		*lens = append(*lens, bits)
		for j := len(*lens) - 1; j > 0 && (*lens)[j] > (*lens)[j-1]; j-- {
			(*lens)[j], (*lens)[j-1] = (*lens)[j-1], (*lens)[j]
		}
	}
	return true
}

// prefixMatch is the best rule for one address: its prefix, for comparing with other addresses'.
type prefixMatch struct {
	pfx  netip.Prefix
	rule int32
}

// better says whether m outranks o: the longer prefix (IPv4 counted as IPv4-mapped IPv6, as BIND
// does), then the smaller address.
func (m prefixMatch) better(o prefixMatch) bool {
	mb, ob := m.pfx.Bits(), o.pfx.Bits()
	if m.pfx.Addr().Is4() {
		mb += 96
	}
	if o.pfx.Addr().Is4() {
		ob += 96
	}
	if mb != ob {
		return mb > ob
	}
	ma, oa := m.pfx.Addr(), o.pfx.Addr()
	if ma.Is4() {
		ma = netip.AddrFrom16(ma.As16())
	}
	if oa.Is4() {
		oa = netip.AddrFrom16(oa.As16())
	}
	return ma.Less(oa)
}

func (p *prefixes) lookup(a netip.Addr, skip *ruleMask) (int32, bool) {
	m, ok := p.lookupMatch(a, skip)
	return m.rule, ok
}

// lookupMatch finds the longest prefix holding a, passing over the rules in skip.
func (p *prefixes) lookupMatch(a netip.Addr, skip *ruleMask) (prefixMatch, bool) {
	if len(p.m) == 0 || !a.IsValid() {
		return prefixMatch{}, false
	}
	a = a.Unmap()
	lens := p.lens6
	if a.Is4() {
		lens = p.lens4
	}
	for _, bits := range lens {
		pfx, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		if i, ok := p.m[pfx]; ok && !skip.has(i) {
			return prefixMatch{pfx: pfx, rule: i}, true
		}
	}
	return prefixMatch{}, false
}

// counter is an event counter spread over cache lines, so that two cores counting the same event
// do not fight over one line. The shard is picked by the runtime's per-thread random source, which
// costs a few nanoseconds and no lock.
type counter struct {
	shards [counterShards]struct {
		n atomic.Uint64
		_ [56]byte
	}
}

const counterShards = 8

func (c *counter) inc() { c.shards[rand.Uint32()&(counterShards-1)].n.Add(1) }

func (c *counter) load() uint64 {
	var t uint64
	for i := range c.shards {
		t += c.shards[i].n.Load()
	}
	return t
}

// equalFold compares two DNS names ignoring ASCII case and a missing final dot.
func equalFold(a, b string) bool {
	a, b = strings.TrimSuffix(a, "."), strings.TrimSuffix(b, ".")
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// lowerName returns name lower-cased and fully qualified, without allocating when it is already.
func lowerName(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			name = strings.ToLower(name)
			break
		}
	}
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}
