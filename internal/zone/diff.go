package zone

import (
	"bytes"
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
)

// Compare returns the Diff that turns old into new: From is old's SOA, To is new's, Removed and
// Added the records (SOA excluded) present in only one of them. Records are equal when owner, type,
// class, TTL and rdata are, so a TTL change is a removal plus an addition, as IXFR carries it. The
// records are the zones' own: callers must not change them.
//
// When new was made from old by Apply (or the other way round), most shards of their indexes are
// the same, and so are most nodes in the others: only the nodes that are not are looked at, so the
// cost follows the change. Otherwise the walk goes node by node through both zones, one map lookup
// and a few field comparisons per record, far below the parsing and checking a load does.
func Compare(old, new *Zone) Diff {
	if sharesIndex(old, new) {
		return compareShared(old, new)
	}
	return compareWalk(old, new)
}

// compareWalk is Compare by a walk through every node of both zones.
func compareWalk(old, new *Zone) Diff {
	d := Diff{From: old.SOA, To: new.SOA}
	shared := 0 // names in both zones
	for _, n := range new.order {
		o := old.Node(n.Key)
		if o == nil {
			d.Added = appendSets(d.Added, n.Sets)
			continue
		}
		shared++
		compareNode(&d, o, n)
	}
	if shared == old.NodeCount() {
		return d // every old name is in new too: nothing left to remove
	}
	for _, o := range old.order {
		if new.Node(o.Key) == nil {
			d.Removed = appendSets(d.Removed, o.Sets)
		}
	}
	return d
}

// compareNode adds to d the difference between o and n, two nodes of the same name.
func compareNode(d *Diff, o, n *Node) {
	for _, set := range n.Sets {
		if set.Type == dns.TypeSOA {
			continue
		}
		d.Removed, d.Added = diffRRs(d.Removed, d.Added, o.RRset(set.Type), set.RRs)
	}
	for _, set := range o.Sets {
		if set.Type != dns.TypeSOA && !n.Has(set.Type) {
			d.Removed = append(d.Removed, set.RRs...)
		}
	}
}

// sharesIndex says whether old and new have the same layout of shards and share at least half of
// them: then one was made from the other (or both from a third) by Apply.
func sharesIndex(old, new *Zone) bool {
	if old.Key != new.Key || len(old.names.shards) != len(new.names.shards) {
		return false
	}
	same := 0
	for i := range old.names.shards {
		if sameShard(old.names.shards[i], new.names.shards[i]) {
			same++
		}
	}
	return 2*same >= len(old.names.shards)
}

// sameShard says whether a and b are one map (maps are not comparable, their pointers are).
func sameShard(a, b map[string]*Node) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// compareShared is Compare for zones that share shards and nodes: a shared node holds the same
// records in both (nodes never change), so only the others are compared. They are taken in the
// order of their names, so that the same two zones always give the same diff.
func compareShared(old, new *Zone) Diff {
	d := Diff{From: old.SOA, To: new.SOA}
	var changed, gone []*Node
	for i, ns := range new.names.shards {
		os := old.names.shards[i]
		if sameShard(os, ns) {
			continue
		}
		for k, n := range ns {
			if os[k] != n {
				changed = append(changed, n)
			}
		}
		for k, o := range os {
			if ns[k] == nil {
				gone = append(gone, o)
			}
		}
	}
	byKey := func(a, b *Node) int { return strings.Compare(a.Key, b.Key) }
	slices.SortFunc(changed, byKey)
	slices.SortFunc(gone, byKey)
	for _, n := range changed {
		if o := old.Node(n.Key); o != nil {
			compareNode(&d, o, n)
		} else {
			d.Added = appendSets(d.Added, n.Sets)
		}
	}
	for _, o := range gone {
		d.Removed = appendSets(d.Removed, o.Sets)
	}
	return d
}

// appendSets appends the records of sets, leaving out the SOA.
func appendSets(dst []dns.RR, sets []RRset) []dns.RR {
	for _, set := range sets {
		if set.Type != dns.TypeSOA {
			dst = append(dst, set.RRs...)
		}
	}
	return dst
}

// smallSet bounds the RRset pairs compared record against record; bigger ones are sorted and
// merged, so a set of thousands of records costs n log n rather than n².
const smallSet = 256

// diffRRs appends to removed the records of old missing from new, and to added those of new
// missing from old. Both are the records of one owner and type.
func diffRRs(removed, added, old, new []dns.RR) ([]dns.RR, []dns.RR) {
	if len(old) == len(new) {
		same := true
		for i := range old {
			if !sameRecord(old[i], new[i]) {
				same = false
				break
			}
		}
		if same { // the usual case: an unchanged RRset, in the same order
			return removed, added
		}
	}
	if len(old)*len(new) > smallSet {
		return mergeRRs(removed, added, old, new)
	}
	matched := make([]bool, len(new))
	for _, o := range old {
		found := false
		for j, n := range new {
			if !matched[j] && sameRecord(o, n) {
				matched[j], found = true, true
				break
			}
		}
		if !found {
			removed = append(removed, o)
		}
	}
	for j, n := range new {
		if !matched[j] {
			added = append(added, n)
		}
	}
	return removed, added
}

// mergeRRs is diffRRs for large sets: both sorted by rdata and TTL, then walked side by side.
func mergeRRs(removed, added, old, new []dns.RR) ([]dns.RR, []dns.RR) {
	o, n := sortedByRdata(old), sortedByRdata(new)
	i, j := 0, 0
	for i < len(o) && j < len(n) {
		switch c := cmpRecord(o[i].rr, n[j].rr, o[i].rdata, n[j].rdata); {
		case c < 0:
			removed = append(removed, o[i].rr)
			i++
		case c > 0:
			added = append(added, n[j].rr)
			j++
		default:
			i++
			j++
		}
	}
	for ; i < len(o); i++ {
		removed = append(removed, o[i].rr)
	}
	for ; j < len(n); j++ {
		added = append(added, n[j].rr)
	}
	return removed, added
}

type keyedRR struct {
	rr    dns.RR
	rdata []byte // nil when the record does not pack; such records sort by their text
}

func sortedByRdata(rrs []dns.RR) []keyedRR {
	out := make([]keyedRR, len(rrs))
	for i, rr := range rrs {
		out[i].rr = rr
		out[i].rdata, _ = wire.Rdata(rr)
	}
	slices.SortFunc(out, func(a, b keyedRR) int { return cmpRecord(a.rr, b.rr, a.rdata, b.rdata) })
	return out
}

func cmpRecord(a, b dns.RR, ra, rb []byte) int {
	if c := cmp.Compare(a.Header().TTL, b.Header().TTL); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Header().Class, b.Header().Class); c != 0 {
		return c
	}
	if ra == nil || rb == nil {
		return strings.Compare(a.String(), b.String())
	}
	return bytes.Compare(ra, rb)
}

// sameRecord says whether a and b, of the same owner and type, are the same record: same class,
// TTL and rdata.
func sameRecord(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	return ha.TTL == hb.TTL && ha.Class == hb.Class && SameRdata(a, b)
}

// SameRdata says whether a and b, of the same owner and type, carry the same rdata: the same wire
// bytes, names compared as written. The common types are compared field by field; the rest by
// their packed rdata, because the message library's comparison is unsafe for some types (TXT
// records with different numbers of strings compare equal or index out of range).
func SameRdata(a, b dns.RR) bool {
	if a == b {
		return true
	}
	switch x := a.(type) {
	case *dns.A:
		y, ok := b.(*dns.A)
		return ok && x.Addr == y.Addr
	case *dns.AAAA:
		y, ok := b.(*dns.AAAA)
		return ok && x.Addr == y.Addr
	case *dns.NS:
		y, ok := b.(*dns.NS)
		return ok && x.Ns == y.Ns
	case *dns.CNAME:
		y, ok := b.(*dns.CNAME)
		return ok && x.Target == y.Target
	case *dns.DNAME:
		y, ok := b.(*dns.DNAME)
		return ok && x.Target == y.Target
	case *dns.PTR:
		y, ok := b.(*dns.PTR)
		return ok && x.Ptr == y.Ptr
	case *dns.MX:
		y, ok := b.(*dns.MX)
		return ok && x.Preference == y.Preference && x.Mx == y.Mx
	case *dns.TXT:
		y, ok := b.(*dns.TXT)
		return ok && slices.Equal(x.Txt, y.Txt)
	case *dns.RRSIG:
		// A signed zone has a signature for each RRset: packing two of them for every one added
		// to a node was most of the time of building a signed zone.
		y, ok := b.(*dns.RRSIG)
		return ok && x.RRSIG == y.RRSIG
	case *dns.NSEC:
		y, ok := b.(*dns.NSEC)
		return ok && x.NextDomain == y.NextDomain && slices.Equal(x.TypeBitMap, y.TypeBitMap)
	}
	if dns.RRToType(a) != dns.RRToType(b) {
		return false
	}
	ra, errA := wire.Rdata(a)
	rb, errB := wire.Rdata(b)
	if errA != nil || errB != nil {
		return errA != nil && errB != nil && a.String() == b.String()
	}
	return bytes.Equal(ra, rb)
}

// Apply returns a new zone: z with d applied. d.From's serial must be z's; every removed record
// must be in z and no added record may be there already (unless d removes it too). The result
// passes the same checks as a zone built whole, with d.To as its SOA. On any error z is untouched
// and no zone is returned. z is only read, so it can go on being served while the next version is
// made and after it: the new version shares with z the nodes and the parts of the index d leaves
// alone (see patch.go), and builds new ones only for what d changes, so its cost follows the size
// of d rather than that of the zone.
func (z *Zone) Apply(d Diff) (*Zone, error) {
	if d.From == nil || d.To == nil {
		return nil, fmt.Errorf("zone %s: diff without its SOA records", z.Origin)
	}
	where := fmt.Sprintf("zone %s: diff %d → %d", z.Origin, d.From.Serial, d.To.Serial)
	if d.From.Serial != z.Serial() {
		return nil, fmt.Errorf("%s: the zone is at serial %d", where, z.Serial())
	}
	// removed holds z's own records that d takes away; touched the nodes they sit in.
	removed := make(map[dns.RR]struct{}, len(d.Removed))
	touched := make(map[*Node]struct{})
	for _, rr := range d.Removed {
		if dns.RRToType(rr) == dns.TypeSOA {
			return nil, fmt.Errorf("%s: removes a SOA record besides From: %s", where, rr)
		}
		n, own := z.find(rr)
		if own == nil {
			return nil, fmt.Errorf("%s: removes %s, which is not in the zone", where, rr)
		}
		if _, twice := removed[own]; twice {
			return nil, fmt.Errorf("%s: removes %s twice", where, rr)
		}
		removed[own] = struct{}{}
		touched[n] = struct{}{}
	}
	for _, rr := range d.Added {
		if dns.RRToType(rr) == dns.TypeSOA {
			return nil, fmt.Errorf("%s: adds a SOA record besides To: %s", where, rr)
		}
		if _, own := z.find(rr); own != nil {
			if _, gone := removed[own]; !gone {
				return nil, fmt.Errorf("%s: adds %s, which is already in the zone", where, rr)
			}
		}
	}
	if z.patchable(d) {
		next, err := z.patch(d, removed, touched)
		if err == nil {
			return next, nil
		}
		if err != errRebuild {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	next, err := z.rebuild(d, removed, touched)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return next, nil
}

// rebuild is Apply for the changes patch leaves to a whole build: the zone's records without
// those d removes, and d's, put through the loader.
func (z *Zone) rebuild(d Diff, removed map[dns.RR]struct{}, touched map[*Node]struct{}) (*Zone, error) {
	rrs := make([]dns.RR, 0, z.Records-len(removed))
	for _, n := range z.order {
		_, filter := touched[n]
		for _, set := range n.Sets {
			if set.Type == dns.TypeSOA {
				continue
			}
			if !filter {
				rrs = append(rrs, set.RRs...)
				continue
			}
			for _, rr := range set.RRs {
				if _, gone := removed[rr]; !gone {
					rrs = append(rrs, rr)
				}
			}
		}
	}
	// The records d leaves alone are taken over as they are: records never change once in a zone.
	next, _, err := build(z.Origin, z.File, rrs, append([]dns.RR{d.To}, d.Added...), false)
	return next, err
}

// find returns the node of rr's owner and the zone's own record equal to rr, or nil.
func (z *Zone) find(rr dns.RR) (*Node, dns.RR) {
	key, err := wire.AppendName(nil, strings.ToLower(rr.Header().Name))
	if err != nil {
		return nil, nil
	}
	n := z.NodeOf(key)
	if n == nil {
		return nil, nil
	}
	for _, own := range n.RRset(dns.RRToType(rr)) {
		if sameRecord(own, rr) {
			return n, own
		}
	}
	return n, nil
}
