package wire

import (
	"encoding/binary"
	"fmt"

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
}

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
	b.t.QNameLen = len(qname)
	b.dict[string(qname)] = target{fromEnd: WholeName}
	for off := 0; off < len(qname) && qname[off] != 0; off += int(qname[off]) + 1 {
		if n := len(qname) - off; n <= shared && n > 1 {
			b.dict[string(qname[off:])] = target{fromEnd: uint16(n)}
		}
	}
	return b
}

// SetRcode sets the response code and the AA bit.
func (b *Builder) SetRcode(rcode uint8, aa bool) { b.t.Rcode, b.t.AA = rcode, aa }

// SetRA marks the answer as coming from a resolver (recursion available).
func (b *Builder) SetRA() { b.t.RA = true }

// SetGlueTC marks the additional section as referral glue: TC is set when some of it is dropped.
func (b *Builder) SetGlueTC() { b.t.GlueTC = true }

// Add appends one RRset (records of one owner and type, in order) to a section. Sections must be
// filled in order. owner, when not nil, replaces each record's owner name (lower-case wire form);
// pass the question name for records synthesised from a wildcard.
func (b *Builder) Add(s Section, rrs []dns.RR, owner []byte) error {
	if s < b.last {
		return fmt.Errorf("records for section %d after section %d", s, b.last)
	}
	b.last = s
	b.section = s
	for _, rr := range rrs {
		if err := b.addRR(rr, owner); err != nil {
			return err
		}
		switch s {
		case Answer:
			b.an++
		case Authority:
			b.ns++
		default:
			b.ar++
		}
	}
	if len(b.t.Tail) > 0xFFFF {
		return fmt.Errorf("answer of %d bytes exceeds the DNS message size", len(b.t.Tail))
	}
	b.t.Cuts = append(b.t.Cuts, Cut{End: uint16(len(b.t.Tail)), An: uint16(b.an), Ns: uint16(b.ns), Ar: uint16(b.ar)})
	if s != Additional {
		b.t.MustFit = len(b.t.Cuts)
	}
	return nil
}

// Template returns the finished template.
func (b *Builder) Template() *Template {
	t := b.t
	if len(t.Cuts) == 0 {
		t.Cuts = []Cut{{}}
	}
	t.Whole = t.Cuts[len(t.Cuts)-1]
	return &t
}

func (b *Builder) addRR(rr dns.RR, owner []byte) error {
	h := rr.Header()
	var err error
	if owner != nil {
		b.appendWireName(owner, owner)
	} else if err = b.appendName(h.Name, true); err != nil {
		return err
	}
	typ := dns.RRToType(rr)
	var fixed [8]byte
	binary.BigEndian.PutUint16(fixed[0:], typ)
	binary.BigEndian.PutUint16(fixed[2:], h.Class)
	binary.BigEndian.PutUint32(fixed[4:], h.TTL)
	b.t.Tail = append(b.t.Tail, fixed[:]...)
	lenAt := len(b.t.Tail)
	b.t.Tail = append(b.t.Tail, 0, 0)
	if err = b.appendRdata(rr); err != nil {
		return fmt.Errorf("pack %s: %w", rr, err)
	}
	rdlen := len(b.t.Tail) - lenAt - 2
	binary.BigEndian.PutUint16(b.t.Tail[lenAt:], uint16(rdlen))
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

// appendPlainName writes a name uncompressed and records it whole as a compression target.
func (b *Builder) appendPlainName(name string) error {
	var buf [256]byte
	w, err := AppendName(buf[:0], name)
	if err != nil {
		return err
	}
	var low [256]byte
	key := string(Lower(low[:0], w))
	if _, seen := b.dict[key]; !seen && b.section != Additional && b.pointable() {
		b.dict[key] = target{tailOff: uint16(len(b.t.Tail))}
	}
	b.t.Tail = append(b.t.Tail, w...)
	return nil
}

// pointable says whether the next byte written can still be a compression target (14-bit offsets).
func (b *Builder) pointable() bool { return 12+len(b.qname)+4+len(b.t.Tail) < 0x3FFF }

// appendName writes a presentation-form name, compressed when compress is set.
func (b *Builder) appendName(name string, compress bool) error {
	var buf [256]byte
	w, err := AppendName(buf[:0], name)
	if err != nil {
		return err
	}
	var low [256]byte
	l := Lower(low[:0], w)
	if !compress {
		b.t.Tail = append(b.t.Tail, w...)
		return nil
	}
	b.appendWireName(w, l)
	return nil
}

// appendWireName writes name (wire form, case as given) compressed against the dictionary; lower is
// the same name lower-cased.
func (b *Builder) appendWireName(name, lower []byte) {
	for off := 0; off < len(name); off += int(name[off]) + 1 {
		if name[off] == 0 {
			b.t.Tail = append(b.t.Tail, 0)
			return
		}
		if t, ok := b.dict[string(lower[off:])]; ok {
			pos := len(b.t.Tail)
			var ptr uint16
			switch {
			case t.fromEnd == WholeName:
				ptr = 12
				b.t.Fixups = append(b.t.Fixups, Fixup{Pos: uint16(pos), FromEnd: WholeName})
			case t.fromEnd > 0:
				ptr = uint16(12 + len(b.qname) - int(t.fromEnd))
				b.t.Fixups = append(b.t.Fixups, Fixup{Pos: uint16(pos), FromEnd: t.fromEnd})
			default:
				ptr = uint16(12+len(b.qname)+4) + t.tailOff
				b.t.Fixups = append(b.t.Fixups, Fixup{Pos: uint16(pos), TailOff: t.tailOff})
			}
			b.t.Tail = binary.BigEndian.AppendUint16(b.t.Tail, 0xC000|ptr)
			return
		}
		if b.section != Additional && b.pointable() {
			b.dict[string(lower[off:])] = target{tailOff: uint16(len(b.t.Tail))}
		}
		b.t.Tail = append(b.t.Tail, name[off:off+int(name[off])+1]...)
	}
}

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
			l := i - labelStart
			if l == 0 || l > 63 {
				return dst[:start], fmt.Errorf("name %q has a label of %d bytes", name, l)
			}
			dst = append(dst, byte(l))
			dst = append(dst, name[labelStart:i]...)
			labelStart = i + 1
		}
	}
	dst = append(dst, 0)
	if len(dst)-start > 255 {
		return dst[:start], fmt.Errorf("name %q is longer than 255 bytes", name)
	}
	return dst, nil
}

// Lower appends name lower-cased (ASCII only, as DNS compares names).
func Lower(dst, name []byte) []byte {
	for _, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// NameString converts a wire-form name (no compression) to presentation form.
func NameString(name []byte) string {
	if len(name) <= 1 {
		return "."
	}
	out := make([]byte, 0, len(name))
	for off := 0; off < len(name) && name[off] != 0; off += int(name[off]) + 1 {
		out = append(out, name[off+1:off+1+int(name[off])]...)
		out = append(out, '.')
	}
	return string(out)
}
