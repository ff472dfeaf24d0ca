package zone

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"

	"warden/internal/wire"
)

// LoadError lists everything wrong with a zone that made it unusable.
type LoadError struct {
	Origin   string
	Problems []Problem
}

func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "zone %s:", e.Origin)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// MaxErrors stops a zone check after this many problems; one mistake repeated a million times is
// still one message worth reading.
const MaxErrors = 20

// LoadFile reads the master file at path for origin. The file is read a window at a time and
// never held whole: a large zone's file would otherwise add its size to the peak memory of a load.
func LoadFile(origin, path string) (*Zone, []Problem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("zone %s: %w", origin, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("zone %s: %w", origin, err)
	}
	return load(origin, path, text{file: f, size: fi.Size()}, true)
}

// Load parses master-file text for origin; name is used in messages and to resolve $INCLUDE. It
// returns the zone and warnings, or an error listing the problems (a *LoadError when the text was
// read but is not a valid zone).
func Load(origin, name string, data []byte) (*Zone, []Problem, error) {
	return load(origin, name, text{data: data, size: int64(len(data))}, true)
}

// text is a master file's text: in memory (data), or in an open file read as it goes, a window
// of the given size (readWindow when 0) at a time.
type text struct {
	data   []byte
	file   io.ReadSeeker
	size   int64
	window int
}

// load is Load with the reader chosen: Warden's own (masterfile.go), or the library's parser
// alone, which the tests compare it with.
func load(origin, name string, src text, ownReader bool) (*Zone, []Problem, error) {
	origin = strings.ToLower(dnsutil.Fqdn(origin))
	okey, err := wire.AppendName(nil, origin)
	if err != nil {
		return nil, nil, fmt.Errorf("zone %s: origin: %w", origin, err)
	}
	if strings.Contains(origin, `\`) {
		return nil, nil, fmt.Errorf("zone %s: escapes in names are not supported", origin)
	}
	// A record takes some 40 bytes of master file; sizing the map from that saves rehashing a
	// large zone's index many times over as it grows.
	fresh := func() *loader {
		l := &loader{
			z:    &Zone{Origin: origin, Key: string(okey), File: name, names: newIndex(len(okey), int(src.size/48))},
			data: src.data,
		}
		if src.file != nil {
			l.path = name
		}
		return l
	}
	l := fresh()
	err = errUseLibrary
	if ownReader {
		r := newMasterReader(l, name, src.data, origin)
		if src.file != nil {
			r.src, r.data = src.file, make([]byte, 0, cmp.Or(src.window, readWindow))
		}
		err = r.read()
	}
	l.closeOwner()
	switch {
	case errors.Is(err, errUseLibrary):
		l = fresh()
		var in io.Reader = bytes.NewReader(src.data)
		if src.file != nil {
			if _, err := src.file.Seek(0, io.SeekStart); err != nil {
				return nil, nil, fmt.Errorf("zone %s: %w", origin, err)
			}
			in = src.file
		}
		if err := l.parse(name, in); err != nil && !errors.Is(err, io.EOF) {
			l.errs = append(l.errs, parseProblem(name, err))
		}
	case err != nil:
		return nil, nil, fmt.Errorf("zone %s: read %s: %w", origin, name, err)
	}
	if len(l.errs) == 0 {
		l.check()
	}
	if len(l.errs) > 0 {
		return nil, l.warns, &LoadError{Origin: origin, Problems: l.errs}
	}
	l.z.gen = lastGen.Add(1)
	return l.z, l.warns, nil
}

// Build makes a zone of origin from records that arrived some other way than a master file: a zone
// transfer, a dynamic update, a journal. It runs the same checks as Load; name is used in messages.
// The records are copied where the zone would change them, so rrs may be another zone's records,
// still being served.
func Build(origin, name string, rrs []dns.RR) (*Zone, []Problem, error) {
	return build(origin, name, nil, rrs, false)
}

// BuildOwned is Build for records nothing else holds (a transfer just read): they become the
// zone's own, normalised in place rather than copied first.
func BuildOwned(origin, name string, rrs []dns.RR) (*Zone, []Problem, error) {
	return build(origin, name, nil, rrs, true)
}

// BuildOn makes a zone of records taken from a zone already built, shared without a copy as
// Apply shares them, and of new records nothing else holds, which become the zone's own. A
// signer builds the signed zone so: the unsigned zone's records beside the signatures.
func BuildOn(origin, name string, shared, owned []dns.RR) (*Zone, []Problem, error) {
	return build(origin, name, shared, owned, true)
}

// build makes a zone of shared and fresh records. Shared records come from a zone already built
// (lower-case owners, one TTL per RRset, no duplicates) and are taken as they are, without a
// copy, and never written to: the zone they come from may be serving queries. Fresh records are
// copied (unless owned says the caller gives them up), then normalised as a master file's are.
func build(origin, name string, shared, fresh []dns.RR, owned bool) (*Zone, []Problem, error) {
	origin = strings.ToLower(dnsutil.Fqdn(origin))
	okey, err := wire.AppendName(nil, origin)
	if err != nil {
		return nil, nil, fmt.Errorf("zone %s: origin: %w", origin, err)
	}
	total := len(shared) + len(fresh)
	l := &loader{z: &Zone{Origin: origin, Key: string(okey), File: name, names: newIndex(len(okey), total/2+1)}}
	for _, rr := range shared {
		l.addShared(rr)
		if len(l.errs) >= MaxErrors {
			break
		}
	}
	for _, rr := range fresh {
		if len(l.errs) >= MaxErrors {
			break
		}
		if !owned {
			rr = rr.Clone()
		}
		l.add(rr)
	}
	if len(l.errs) == 0 {
		l.check()
	}
	if len(l.errs) > 0 {
		return nil, l.warns, &LoadError{Origin: origin, Problems: l.errs}
	}
	l.z.gen = lastGen.Add(1)
	return l.z, l.warns, nil
}

// maxTargets bounds loader.targets: past it, names are stored once per record.
const maxTargets = 1 << 16

// inZone says whether the absolute name is the zone's origin or below it, in any case.
func (l *loader) inZone(name []byte) bool {
	o := l.z.Origin
	if o == "." {
		return true
	}
	if len(name) < len(o) || !strings.EqualFold(view(name[len(name)-len(o):]), o) {
		return false
	}
	return len(name) == len(o) || name[len(name)-len(o)-1] == '.'
}

// intern returns name as a string stored in the zone's blocks, once for all records naming it.
func (l *loader) intern(name []byte) string {
	if s, ok := l.targets[string(name)]; ok {
		return s
	}
	s := l.mem.str(name)
	if l.targets == nil {
		l.targets = make(map[string]string)
	}
	if len(l.targets) < maxTargets {
		l.targets[s] = s
	}
	return s
}

// parseBatch is how many records the parser hands over at a time.
const parseBatch = 512

// parse runs the master-file parser in its own goroutine, handing records over in batches, while
// this one builds the tree: on a large zone the two halves of the work overlap on two cores.
func (l *loader) parse(name string, in io.Reader) error {
	zp := dns.NewZoneParser(in, l.z.Origin, name)
	// Knot's default-ttl: records without a TTL and without $TTL get an hour.
	zp.SetDefaultTTL(3600)
	// $INCLUDE reads files in the zone file's directory or below it (the parser opens them
	// relative to that directory), never elsewhere: a zone file must not be able to read
	// /etc/shadow into answers.
	zp.IncludeAllowFunc = func(_, include string) bool { return name != "" && filepath.IsLocal(include) }

	batches := make(chan []dns.RR, 4)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		defer close(batches)
		batch := make([]dns.RR, 0, parseBatch)
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			batch = append(batch, rr)
			if len(batch) == parseBatch {
				select {
				case batches <- batch:
				case <-stop:
					done <- nil
					return
				}
				batch = make([]dns.RR, 0, parseBatch)
			}
		}
		if len(batch) > 0 {
			select {
			case batches <- batch:
			case <-stop:
			}
		}
		done <- zp.Err()
	}()
	for batch := range batches {
		for _, rr := range batch {
			l.add(rr)
		}
		if len(l.errs) >= MaxErrors {
			close(stop)
			for range batches { // let the parser finish its send and exit
			}
			break
		}
	}
	return <-done
}

type loader struct {
	z    *Zone
	data []byte
	// path is the file the text came from when it was read as it went (data is nil then).
	path string
	// lines is built from data when the first problem needs a line number: a zone without
	// problems never pays for it.
	lines lineIndex
	errs  []Problem
	warns []Problem
	soas  int
	// dnames and delegations count DNAME records and NS records below the apex, so that a zone
	// without them skips the checks and the tree walks that only they need.
	dnames      int
	delegations int
	// rrsigs counts RRSIG records: a zone without them is not signed and skips indexDNSSEC.
	rrsigs int
	mem    slabs
	// open is the node whose RRsets grow in openSets and openRRs, nil when none does.
	open     *Node
	openSets scratch[RRset]
	openRRs  scratch[dns.RR]
	// targets holds names that records point at (NS, MX, CNAME, ...) as the master-file reader
	// stored them, so that a name many records share is stored once.
	targets map[string]string
	// scratch holds the wire form of the owner being added.
	scratch []byte
	// patch is set when the loader makes the next version of a zone by Apply: nodes are looked up
	// and stored through it, and the nodes of the version it came from are copied before they
	// are changed.
	patch *patch
}

func (l *loader) problem(list *[]Problem, rr dns.RR, format string, args ...any) {
	l.problemAt(list, rr, 0, format, args...)
}

// problemAt records a problem with the line of the nth record of rr's owner and type.
func (l *loader) problemAt(list *[]Problem, rr dns.RR, nth int, format string, args ...any) {
	p := Problem{File: l.z.File, Msg: fmt.Sprintf(format, args...)}
	if rr != nil && l.hasText() {
		if l.lines == nil {
			data := l.data
			if data == nil {
				// A file read as it went is read again, whole, for the first problem only.
				data, _ = os.ReadFile(l.path)
			}
			l.lines = indexLines(data, l.z.Origin)
		}
		p.Line = l.lines.find(rr.Header().Name, dns.RRToType(rr), nth)
	}
	*list = append(*list, p)
}

// hasText says whether the records came from master-file text, whose lines problems can name.
func (l *loader) hasText() bool { return l.data != nil || l.path != "" }

// add takes a record of the loader's own (parsed or copied): it may be normalised in place.
func (l *loader) add(rr dns.RR) { l.addRecord(rr, false) }

// addShared takes a record of another zone, which must not be written to.
func (l *loader) addShared(rr dns.RR) { l.addRecord(rr, true) }

func (l *loader) addRecord(rr dns.RR, shared bool) {
	h := rr.Header()
	typ := dns.RRToType(rr)
	if !shared {
		h.Name = strings.ToLower(h.Name)
	}
	if strings.Contains(h.Name, `\`) {
		l.problem(&l.errs, rr, "%s: escapes in names are not supported", h.Name)
		return
	}
	if h.Class != dns.ClassINET {
		l.problem(&l.errs, rr, "%s: class %s is not IN", h.Name, dnsutil.ClassToString(h.Class))
		return
	}
	if !isBelow(l.z.Origin, h.Name) {
		l.problem(&l.errs, rr, "%s %s: out of zone %s", h.Name, dns.TypeToString[typ], l.z.Origin)
		return
	}
	if !l.admit(rr, typ) {
		return
	}
	key, err := wire.AppendName(l.scratch[:0], h.Name)
	if err != nil {
		l.problem(&l.errs, rr, "%v", err)
		return
	}
	l.scratch = key // node copies what it keeps
	n := l.node(key, h.Name)
	if !shared {
		h.Name = n.Name // one copy of the owner string per node, not per record
		rr = l.mem.record(rr)
	}
	l.addTo(n, rr, typ, shared)
}

// addTo puts rr, whose owner checks are done, into the RRsets of its node n.
func (l *loader) addTo(n *Node, rr dns.RR, typ uint16, shared bool) {
	h := rr.Header()
	for i := range n.Sets {
		set := &n.Sets[i]
		if set.Type != typ {
			continue
		}
		for _, old := range set.RRs {
			if SameRdata(old, rr) {
				return // duplicate records collapse into one (RFC 2181 §5)
			}
		}
		if first := set.RRs[0].Header().TTL; first != h.TTL && typ != dns.TypeRRSIG {
			l.problem(&l.warns, rr, "%s %s: TTL %d differs from the RRset's %d; using %d (RFC 2181 §5.2)",
				h.Name, dns.TypeToString[typ], h.TTL, first, first)
			if shared {
				rr = rr.Clone() // the other zone keeps its record as it was
				h = rr.Header()
			}
			h.TTL = first
		}
		if n == l.open {
			set.RRs = appendTo(&l.openRRs, set.RRs, rr)
		} else {
			set.RRs = appendTo(&l.mem.rrs, set.RRs, rr)
		}
		l.z.Records++
		return
	}
	if n == l.open {
		n.Sets = appendTo(&l.openSets, n.Sets, RRset{Type: typ, RRs: one(&l.openRRs, rr)})
	} else {
		n.Sets = appendTo(&l.mem.sets, n.Sets, RRset{Type: typ, RRs: one(&l.mem.rrs, rr)})
	}
	l.z.Records++
}

// openOwner makes n the node whose RRsets grow in the scratch room, closing the one before.
func (l *loader) openOwner(n *Node) {
	if n != l.open {
		l.closeOwner()
		l.open = n
	}
}

// closeOwner moves the open node's RRsets from the scratch room into the slabs, each list at its
// final size.
func (l *loader) closeOwner() {
	n := l.open
	if n == nil {
		return
	}
	l.open = nil
	if len(n.Sets) > 0 {
		sets := l.mem.sets.take(len(n.Sets))
		for i, set := range n.Sets {
			rrs := l.mem.rrs.take(len(set.RRs))
			copy(rrs, set.RRs)
			sets[i] = RRset{Type: set.Type, RRs: rrs}
		}
		n.Sets = sets
	}
	l.openSets.reset()
	l.openRRs.reset()
}

// admit runs the checks of a record's type that need nothing but the record (its owner is
// already known to be in the zone) and counts what the whole-zone checks will need.
func (l *loader) admit(rr dns.RR, typ uint16) bool {
	h := rr.Header()
	switch typ {
	case dns.TypeSOA:
		l.soas++
		if h.Name != l.z.Origin {
			l.problem(&l.errs, rr, "%s: SOA record outside the zone apex", h.Name)
			return false
		}
		if l.soas > 1 {
			l.problemAt(&l.errs, rr, l.soas-1, "%s: more than one SOA record", h.Name)
			return false
		}
		l.z.SOA = rr.(*dns.SOA)
	case dns.TypeDNAME:
		l.dnames++
	case dns.TypeRRSIG:
		l.rrsigs++
	case dns.TypeNS:
		if h.Name != l.z.Origin {
			l.delegations++
		}
	case dns.TypeOPT, dns.TypeTSIG:
		l.problem(&l.errs, rr, "%s: %s is a meta type, not zone data", h.Name, dns.TypeToString[typ])
		return false
	}
	return true
}

// node returns the node of key, creating it and its missing ancestors (as empty non-terminals).
func (l *loader) node(key []byte, name string) *Node {
	if l.patch != nil {
		if n := l.patch.names.getBytes(key); n != nil {
			return l.patch.own(n)
		}
	} else if n := l.z.names.getBytes(key); n != nil {
		return n
	}
	n := l.mem.nodes.get()
	n.Key = l.mem.str(key)
	n.Name = l.mem.copyStr(name)
	if l.patch != nil {
		l.patch.made(n)
	} else {
		l.z.names.put(n)
	}
	l.z.order = append(l.z.order, n)
	if n.Key == l.z.Key {
		l.z.Apex = n
		return n
	}
	parentKey := key[int(key[0])+1:]
	_, parentName, _ := strings.Cut(name, ".")
	if parentName == "" {
		parentName = "."
	}
	n.Parent = l.node(parentKey, parentName)
	n.Parent.children++
	return n
}

// check runs the whole-zone checks once every record is in.
func (l *loader) check() {
	z := l.z
	if z.SOA == nil || z.Apex == nil {
		// A missing record has no line of its own; a master file is blamed at its first line,
		// where an SOA record usually stands.
		p := Problem{File: z.File, Msg: "no SOA record at the zone apex " + z.Origin}
		if l.hasText() {
			p.Line = 1
		}
		l.errs = append(l.errs, p)
		return
	}
	if !z.Apex.Has(dns.TypeNS) {
		l.problem(&l.errs, z.SOA, "no NS records at the zone apex %s", z.Origin)
	}
	for _, n := range z.order {
		l.checkNode(n)
		if len(l.errs) >= MaxErrors {
			return
		}
	}
	if len(l.errs) > 0 {
		return
	}
	z.dnames = l.dnames
	if l.delegations > 0 {
		l.setCuts()
	}
	for _, n := range z.order {
		if n.Parent != nil && strings.HasPrefix(n.Key, "\x01*") {
			n.Parent.Wildcard = n
		}
	}
	for _, n := range z.order {
		if n.IsDelegation() {
			l.checkGlue(n)
		}
	}
	if l.rrsigs > 0 {
		l.indexDNSSEC()
	}
}

func (l *loader) checkNode(n *Node) {
	if cname := n.RRset(dns.TypeCNAME); cname != nil {
		if len(cname) > 1 {
			l.problemAt(&l.errs, cname[1], 1, "%s: more than one CNAME record", n.Name)
		}
		for _, s := range n.Sets {
			switch s.Type {
			case dns.TypeCNAME, dns.TypeRRSIG, dns.TypeNSEC:
			default:
				l.problem(&l.errs, cname[0], "%s: CNAME beside %s data (RFC 1034 §3.6.2)", n.Name, dns.TypeToString[s.Type])
			}
		}
	}
	if d := n.RRset(dns.TypeDNAME); len(d) > 1 {
		l.problemAt(&l.errs, d[1], 1, "%s: more than one DNAME record (RFC 6672 §2.4)", n.Name)
	}
	if n.Empty() || l.dnames == 0 {
		return
	}
	for p := n.Parent; p != nil; p = p.Parent {
		if d := p.RRset(dns.TypeDNAME); d != nil {
			l.problem(&l.errs, n.Sets[0].RRs[0], "%s: data below the DNAME at %s (RFC 6672 §2.3)", n.Name, p.Name)
			return
		}
	}
}

// setCuts sets Node.Cut, the highest delegation point at or above each node below the apex. Each
// node's answer comes from its parent's, so every node is looked at once however deep the tree.
// A node found to be under no cut is marked with noCut while the walk goes on (nil means not yet
// looked at), rather than remembered in a map: a TLD's map of millions of nodes would be most of
// the peak memory of its load.
func (l *loader) setCuts() {
	var cutOf func(n *Node) *Node
	cutOf = func(n *Node) *Node {
		if n.IsApex() {
			return nil
		}
		if n.Cut != nil {
			if n.Cut == &noCut {
				return nil
			}
			return n.Cut
		}
		if c := cutOf(n.Parent); c != nil {
			n.Cut = c
		} else if n.Has(dns.TypeNS) {
			n.Cut = n
		} else {
			n.Cut = &noCut
			return nil
		}
		return n.Cut
	}
	for _, n := range l.z.order {
		cutOf(n)
	}
	for _, n := range l.z.order {
		if n.Cut == &noCut {
			n.Cut = nil
		}
	}
}

// noCut marks, during setCuts, a node known to be under no delegation.
var noCut Node

// checkGlue warns when an NS name below the cut it serves has no address records: resolvers
// could never reach that server (RFC 9471 §2.1).
func (l *loader) checkGlue(cut *Node) {
	for _, rr := range cut.RRset(dns.TypeNS) {
		target := strings.ToLower(rr.(*dns.NS).Ns)
		if !isBelow(cut.Name, target) {
			continue
		}
		key, err := wire.AppendName(nil, target)
		if err != nil {
			continue
		}
		if g := l.z.names.getBytes(key); g == nil || (!g.Has(dns.TypeA) && !g.Has(dns.TypeAAAA)) {
			l.problem(&l.warns, rr, "%s NS %s: no glue (A or AAAA) for this in-bailiwick name server", cut.Name, target)
		}
	}
}

// isBelow says whether child (lower-case, fully qualified) is parent or below it.
func isBelow(parent, child string) bool {
	return parent == "." || child == parent || strings.HasSuffix(child, "."+parent)
}
