package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"codeberg.org/miekg/dns"
)

// Section names where a Builder appends records.
type Section uint8

const (
	Answer Section = iota
	Authority
	Additional
)

// Builder packs records into a Template. It compresses names the way Knot DNS does in effect: a name
// that ends in (a suffix of) the question name points into the question, so the client's letter case
// shows through, and other repeated names point to their first copy.
type Builder struct {
	t      Template
	qname  []byte            // lower-case question name the template is built for
	dict   map[string]target // lower-case wire suffix -> where it was first written
	an, ns int
	ar     int
	last   Section
	// section is where records are being written; names in the additional section are not
	// compression targets, so that the renderer may drop any of its RRsets.
	section Section
	// exact: the template serves only names of len(qname) bytes, so no Fixups are kept.
	exact bool
	// ttls: the TTL field of every record is listed in Template.TTLs.
	ttls bool
	// lenAt is where the RDLENGTH of the record being written sits in Tail.
	lenAt int
	// open: records were added since the last Cut; set holds the owner (lower case), type and
	// class of the last one, to tell where an RRset added record by record ends.
	open bool
	set  struct {
		owner      [maxName]byte
		n          int
		typ, class uint16
		section    Section
	}
}

// maxName is the longest wire name (RFC 1035 §2.3.4).
const maxName = 255

type target struct {
	fromEnd uint16 // WholeName, or > 0: suffix of the question name of this many bytes
	tailOff uint16
}

// NewBuilder starts a template for the lower-case wire name qname. Only the last shared bytes of
// qname (a suffix of whole labels), and the whole name, are the same for every question this
// template will serve; compression pointers go only there. Pass len(qname) when the template serves
// exactly one name.
func NewBuilder(qname []byte, shared int) *Builder {
	b := &Builder{qname: qname, dict: make(map[string]target, 8)}
	b.t.QNameLen = uint16(len(qname))
	b.addQuestion(shared)
	return b
}

// addQuestion makes the question name, and its last shared bytes, compression targets.
func (b *Builder) addQuestion(shared int) {
	b.dict[string(b.qname)] = target{fromEnd: WholeName}
	for off := range Suffixes(b.qname) {
		if n := len(b.qname) - off; n <= shared && n > 1 {
			b.dict[string(b.qname[off:])] = target{fromEnd: uint16(n)}
		}
	}
}

// NewStoredBuilder starts the template of a stored answer to exactly the lower-case wire name
// qname (whatever its letter case), as the cache keeps it: no Fixups, since it is rendered only
// behind that name, and the TTL of every record listed in Template.TTLs for RenderAged.
func NewStoredBuilder(qname []byte) *Builder {
	b := NewBuilder(qname, len(qname))
	b.exact, b.ttls = true, true
	return b
}

// SetRcode sets the response code and the AA bit.
func (b *Builder) SetRcode(rcode uint8, aa bool) { b.t.Rcode, b.t.AA = rcode, aa }

// SetRA marks the answer as coming from a resolver (recursion available).
func (b *Builder) SetRA() { b.t.RA = true }

// SetKeepFit makes a response that does not fit keep the answer and authority RRsets that do (see
// Template.KeepFit).
func (b *Builder) SetKeepFit() { b.t.Trunc |= TruncKeepFit }

// StartAdditionalSigs says that the additional RRsets from here on are the signatures of those
// before (see TruncSigs).
func (b *Builder) StartAdditionalSigs() {
	b.endSet()
	b.t.Trunc |= TruncSigs
}

// SetGlueTC marks the additional section as referral glue: TC is set when some of it is dropped.
func (b *Builder) SetGlueTC() { b.t.Trunc |= TruncGlue }

// Add appends one RRset (records of one owner and type, in order) to a section. Sections must be
// filled in order. owner, when not nil, replaces each record's owner name (lower-case wire form);
// pass the question name for records synthesised from a wildcard.
func (b *Builder) Add(s Section, rrs []dns.RR, owner []byte) error {
	if err := b.enter(s); err != nil {
		return err
	}
	b.endSet()
	for _, rr := range rrs {
		if err := b.addRR(rr, owner); err != nil {
			return err
		}
	}
	return b.endSet()
}

// AddSection appends records to a section, each run of records of the same owner, type and class
// as one RRset.
func (b *Builder) AddSection(s Section, rrs []dns.RR) error {
	for i := 0; i < len(rrs); {
		j := i + 1
		for j < len(rrs) && sameSet(rrs[i], rrs[j]) {
			j++
		}
		if err := b.Add(s, rrs[i:j], nil); err != nil {
			return err
		}
		i = j
	}
	return nil
}

func sameSet(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	return dns.RRToType(a) == dns.RRToType(b) && ha.Class == hb.Class && strings.EqualFold(ha.Name, hb.Name)
}

// enter moves the builder to section s; sections go in order.
func (b *Builder) enter(s Section) error {
	if s < b.last {
		return fmt.Errorf("records for section %d after section %d", s, b.last)
	}
	b.last = s
	b.section = s
	return nil
}

// endSet closes the RRset being written with a Cut.
func (b *Builder) endSet() error {
	if !b.open {
		return nil
	}
	b.open = false
	if len(b.t.Tail) > 0xFFFF {
		return fmt.Errorf("answer of %d bytes exceeds the DNS message size", len(b.t.Tail))
	}
	b.t.Cuts = append(b.t.Cuts, Cut{End: uint16(len(b.t.Tail)), An: uint16(b.an), Ns: uint16(b.ns), Ar: uint16(b.ar)})
	if b.set.section != Additional {
		b.t.MustFit = uint16(len(b.t.Cuts))
	}
	return nil
}

// Template returns the finished template.
func (b *Builder) Template() *Template {
	t := b.Finish()
	return &t
}

// Finish returns the finished template. Its slices are the builder's until Reset.
func (b *Builder) Finish() Template {
	b.endSet()
	t := b.t
	if len(t.Cuts) > 0 {
		t.Whole = t.Cuts[len(t.Cuts)-1]
	}
	if int(t.MustFit) == len(t.Cuts) && (t.Trunc&TruncKeepFit == 0 || len(t.Cuts) < 2) {
		t.Cuts = nil // Whole says all a truncated rendering needs
	}
	return t
}

// ResetStored makes b a NewStoredBuilder for qname again, keeping the memory it has grown. The
// slices of a template it finished before are then reused: copy them first.
func (b *Builder) ResetStored(qname []byte) {
	clear(b.dict)
	*b = Builder{
		t:     Template{Tail: b.t.Tail[:0], Fixups: b.t.Fixups[:0], TTLs: b.t.TTLs[:0], Cuts: b.t.Cuts[:0], QNameLen: uint16(len(qname))},
		qname: qname,
		dict:  b.dict,
		exact: true,
		ttls:  true,
	}
	b.addQuestion(len(qname))
}

func (b *Builder) addRR(rr dns.RR, owner []byte) error {
	h := rr.Header()
	if owner == nil {
		var buf [maxName]byte
		w, err := AppendName(buf[:0], h.Name)
		if err != nil {
			return err
		}
		owner = w
	}
	b.startRecord(owner, dns.RRToType(rr), h.Class, h.TTL)
	if err := b.appendRdata(rr); err != nil {
		return fmt.Errorf("pack %s: %w", rr, err)
	}
	return b.EndRecord()
}

// AddWire starts a record of section s read from a message: owner is its uncompressed wire name,
// case as received. The rdata follows with RdataName and RdataBytes, then EndRecord. Records of the
// same owner, type and class in a row form one RRset, which a truncated rendering keeps or drops
// whole.
func (b *Builder) AddWire(s Section, owner []byte, typ, class uint16, ttl uint32) error {
	if err := b.enter(s); err != nil {
		return err
	}
	if b.open && (b.set.section != s || b.set.typ != typ || b.set.class != class || !EqualFold(b.set.owner[:b.set.n], owner)) {
		if err := b.endSet(); err != nil {
			return err
		}
	}
	b.startRecord(owner, typ, class, ttl)
	return nil
}

// startRecord writes the owner, type, class and TTL of a record and leaves room for RDLENGTH.
func (b *Builder) startRecord(owner []byte, typ, class uint16, ttl uint32) {
	b.open = true
	b.set.n = copy(b.set.owner[:], owner)
	b.set.typ, b.set.class, b.set.section = typ, class, b.section
	b.appendWireName(owner, true)
	if b.ttls {
		own := EntryTTL
		if b.section == Additional {
			own = ttl
			if own > 1<<31-1 {
				own = 0 // RFC 2181 §8: a TTL with the top bit set means zero
			}
		}
		b.t.TTLs = append(b.t.TTLs, TTL{Pos: uint16(len(b.t.Tail) + 4), Own: own})
	}
	var fixed [10]byte
	binary.BigEndian.PutUint16(fixed[0:], typ)
	binary.BigEndian.PutUint16(fixed[2:], class)
	binary.BigEndian.PutUint32(fixed[4:], ttl)
	b.lenAt = len(b.t.Tail) + 8
	b.t.Tail = append(b.t.Tail, fixed[:]...)
}

// RdataName appends a decompressed wire name to the rdata of the record being written,
// compressed when compress is set (RFC 3597 §4 allows it for the types of RFC 1035 only).
func (b *Builder) RdataName(name []byte, compress bool) { b.appendWireName(name, compress) }

// RdataBytes appends p to the rdata of the record being written.
func (b *Builder) RdataBytes(p []byte) { b.t.Tail = append(b.t.Tail, p...) }

// EndRecord writes the RDLENGTH of the record being written.
func (b *Builder) EndRecord() error {
	rdlen := len(b.t.Tail) - b.lenAt - 2
	if rdlen > 0xFFFF || 12+len(b.qname)+4+len(b.t.Tail) > 0xFFFF {
		return errors.New("sections exceed the DNS message size")
	}
	binary.BigEndian.PutUint16(b.t.Tail[b.lenAt:], uint16(rdlen))
	switch b.section {
	case Answer:
		b.an++
	case Authority:
		b.ns++
	default:
		b.ar++
	}
	return nil
}

// appendRdata writes the rdata; names in the types RFC 3597 §4 lets us compress are compressed.
func (b *Builder) appendRdata(rr dns.RR) error {
	switch x := rr.(type) {
	case *dns.CNAME:
		return b.appendName(x.Target, true)
	case *dns.NS:
		return b.appendName(x.Ns, true)
	case *dns.PTR:
		return b.appendName(x.Ptr, true)
	case *dns.MX:
		b.t.Tail = binary.BigEndian.AppendUint16(b.t.Tail, x.Preference)
		return b.appendName(x.Mx, true)
	case *dns.SRV:
		// RFC 2782 forbids compressing the target; it may still be a pointer target, as the
		// owner of its address records in the additional section (so Knot does it).
		var fixed [6]byte
		binary.BigEndian.PutUint16(fixed[0:], x.Priority)
		binary.BigEndian.PutUint16(fixed[2:], x.Weight)
		binary.BigEndian.PutUint16(fixed[4:], x.Port)
		b.t.Tail = append(b.t.Tail, fixed[:]...)
		return b.appendPlainName(x.Target)
	case *dns.SOA:
		if err := b.appendName(x.Ns, true); err != nil {
			return err
		}
		if err := b.appendName(x.Mbox, true); err != nil {
			return err
		}
		for _, v := range [...]uint32{x.Serial, x.Refresh, x.Retry, x.Expire, x.Minttl} {
			b.t.Tail = binary.BigEndian.AppendUint32(b.t.Tail, v)
		}
		return nil
	}
	rd, err := Rdata(rr)
	if err != nil {
		return err
	}
	b.t.Tail = append(b.t.Tail, rd...)
	return nil
}

// Rdata returns the uncompressed wire rdata of rr.
func Rdata(rr dns.RR) ([]byte, error) {
	// The library compresses every name it may, and the second name of these types could point
	// into the first: bytes that mean nothing once copied out of that message. They are written
	// here instead.
	switch x := rr.(type) {
	case *dns.MINFO:
		out, err := AppendName(nil, x.Rmail)
		if err != nil {
			return nil, err
		}
		return AppendName(out, x.Email)
	case *dns.SOA:
		out, err := AppendName(nil, x.Ns)
		if err != nil {
			return nil, err
		}
		if out, err = AppendName(out, x.Mbox); err != nil {
			return nil, err
		}
		for _, v := range [...]uint32{x.Serial, x.Refresh, x.Retry, x.Expire, x.Minttl} {
			out = binary.BigEndian.AppendUint32(out, v)
		}
		return out, nil
	}
	c := rr.Clone()
	c.Header().Name = "." // a root owner leaves nothing to compress against
	m := &dns.Msg{Answer: []dns.RR{c}}
	if err := m.Pack(); err != nil {
		return nil, err
	}
	const off = 12 + 1 + 10 // header, root owner, type/class/ttl/rdlength
	if len(m.Data) < off {
		return nil, fmt.Errorf("short packing of %s", rr)
	}
	return m.Data[off:], nil
}

// appendPlainName writes a name uncompressed; it may still be a compression target.
func (b *Builder) appendPlainName(name string) error { return b.appendName(name, false) }

// pointable says whether the next byte written can still be a compression target (14-bit offsets).
func (b *Builder) pointable() bool { return 12+len(b.qname)+4+len(b.t.Tail) < 0x3FFF }

// appendName writes a presentation-form name, compressed when compress is set.
func (b *Builder) appendName(name string, compress bool) error {
	var buf [maxName]byte
	w, err := AppendName(buf[:0], name)
	if err != nil {
		return err
	}
	b.appendWireName(w, compress)
	return nil
}

// appendWireName writes name (wire form, case as given), compressed against the dictionary when
// compress is set. Outside the additional section its suffixes become compression targets.
func (b *Builder) appendWireName(name []byte, compress bool) {
	var low [maxName]byte
	lower := Lower(low[:0], name)
	for off := range Suffixes(name) {
		if name[off] == 0 {
			break
		}
		key := lower[off:]
		if compress {
			if t, ok := b.dict[string(key)]; ok {
				b.appendPointer(t)
				return
			}
		}
		if b.section != Additional && b.pointable() {
			if _, seen := b.dict[string(key)]; !seen {
				b.dict[string(key)] = target{tailOff: uint16(len(b.t.Tail))}
			}
		}
		b.t.Tail = append(b.t.Tail, name[off:off+1+int(name[off])]...)
	}
	b.t.Tail = append(b.t.Tail, 0)
}

// appendPointer writes a compression pointer to t, and its Fixup unless the template serves one
// name length only.
func (b *Builder) appendPointer(t target) {
	pos := uint16(len(b.t.Tail))
	var ptr uint16
	f := Fixup{Pos: pos}
	switch {
	case t.fromEnd == WholeName:
		ptr, f.FromEnd = 12, WholeName
	case t.fromEnd > 0:
		ptr, f.FromEnd = uint16(12+len(b.qname)-int(t.fromEnd)), t.fromEnd
	default:
		ptr, f.TailOff = uint16(12+len(b.qname)+4)+t.tailOff, t.tailOff
	}
	if !b.exact {
		b.t.Fixups = append(b.t.Fixups, f)
	}
	b.t.Tail = binary.BigEndian.AppendUint16(b.t.Tail, 0xC000|ptr)
}

// Errors of AppendName, wrapped with the name.
var (
	ErrEmptyLabel = errors.New("empty label")
	ErrLongLabel  = errors.New("label longer than 63 bytes")
	ErrLongName   = errors.New("longer than 255 bytes")
)

// AppendName appends the wire form of a presentation-form, fully qualified name. Escapes are not
// interpreted (the zone parser rejects them).
func AppendName(dst []byte, name string) ([]byte, error) {
	if name == "" || name[len(name)-1] != '.' {
		return dst, fmt.Errorf("name %q is not fully qualified", name)
	}
	start := len(dst)
	if name != "." {
		labelStart := 0
		for i := 0; i < len(name); i++ {
			if name[i] != '.' {
				continue
			}
			switch l := i - labelStart; {
			case l == 0:
				return dst[:start], fmt.Errorf("name %q: %w", name, ErrEmptyLabel)
			case l > 63:
				return dst[:start], fmt.Errorf("name %q: %w (%d)", name, ErrLongLabel, l)
			}
			l := i - labelStart
			dst = append(dst, byte(l))
			dst = append(dst, name[labelStart:i]...)
			labelStart = i + 1
		}
	}
	dst = append(dst, 0)
	if len(dst)-start > 255 {
		return dst[:start], fmt.Errorf("name %q: %w", name, ErrLongName)
	}
	return dst, nil
}
