// Package wire turns answers into precomputed DNS wire bytes and renders them for one query without
// allocating. A Template holds everything that follows the question section; serving it is a copy,
// plus patching the header (ID, flags, counts), the question as the client wrote it (its letter case
// included) and, when the question name differs in length from the one the template was built for,
// the compression pointers that the shift moved.
package wire

import (
	"encoding/binary"

	"warden/internal/query"
)

// Fixup is one compression pointer in Template.Tail whose target depends on the question.
type Fixup struct {
	Pos uint16 // offset of the pointer in Tail
	// FromEnd == WholeName: the pointer targets the whole question name (offset 12).
	// Other FromEnd > 0: the pointer targets the question name's suffix of FromEnd bytes.
	// FromEnd == 0: the pointer targets TailOff bytes into Tail.
	FromEnd uint16
	TailOff uint16
}

// WholeName is the Fixup.FromEnd of pointers to the whole question name, whatever its length.
const WholeName = 0xFFFF

// Cut marks the end of one RRset in Tail and the record counts up to there, so a response that does
// not fit can be cut at an RRset boundary.
type Cut struct {
	End        uint16
	An, Ns, Ar uint16
}

// Template is a precomputed response without its header and question.
type Template struct {
	Rcode uint8 // RCODE (4 bits)
	AA    bool
	// Tail is the answer, authority and additional sections, packed for a question name of QNameLen
	// bytes.
	Tail     []byte
	QNameLen int
	Fixups   []Fixup
	// Cuts lists every RRset boundary in order; the last one is the whole Tail.
	Cuts []Cut
	// MustFit is the Cut index below which dropping records means TC=1 (answer and authority).
	// Records after it (additional data) may be dropped silently (RFC 2181 §9).
	MustFit int
}

const optLen = 11 // root owner, type, class, TTL, RDLENGTH 0

// Limits of one rendering.
type Limits struct {
	// UDPPayload is the server's largest EDNS payload (RFC 6891 §6.2.5); 1232 by default.
	UDPPayload uint16
}

// MaxSize is the response size limit for req: 512 without EDNS over UDP, the smaller of the client's
// and the server's payload with it, 65535 over TCP.
func (l Limits) MaxSize(req *query.Request) int {
	if req.Transport == query.TCP {
		return 65535
	}
	if !req.HasEDNS {
		return 512
	}
	size := int(req.UDPSize)
	if size < 512 {
		size = 512
	}
	if size > int(l.UDPPayload) {
		size = int(l.UDPPayload)
	}
	return size
}

// Render writes the response to req built from t into out (whose capacity must be at least the size
// limit) and returns it.
func (l Limits) Render(out []byte, req *query.Request, t *Template) []byte {
	qend := req.QuestionEnd
	limit := l.MaxSize(req)
	opt := 0
	if req.HasEDNS {
		opt = optLen
	}
	room := limit - qend - opt
	cut := len(t.Cuts) - 1
	for cut >= 0 && int(t.Cuts[cut].End) > room {
		cut--
	}
	tc := cut < t.MustFit-1
	if tc && req.Transport == query.UDP {
		// Keep the question only, as Knot does: a partial answer could be cached as complete.
		cut = -1
	}
	var end int
	var c Cut
	if cut >= 0 {
		c = t.Cuts[cut]
		end = int(c.End)
	}
	if cap(out) < qend+end+opt {
		out = make([]byte, 0, qend+end+opt)
	}
	out = out[:qend+end]
	writeHeader(out, req, t.Rcode, t.AA, tc)
	copy(out[query.HeaderLen:], req.Wire[query.HeaderLen:qend])
	copy(out[qend:], t.Tail[:end])
	qlen := len(req.QName)
	if qlen != t.QNameLen {
		for _, f := range t.Fixups {
			if int(f.Pos) >= end {
				continue
			}
			var target int
			switch {
			case f.FromEnd == WholeName:
				target = query.HeaderLen
			case f.FromEnd > 0:
				target = query.HeaderLen + qlen - int(f.FromEnd)
			default:
				target = qend + int(f.TailOff)
			}
			binary.BigEndian.PutUint16(out[qend+int(f.Pos):], 0xC000|uint16(target))
		}
	}
	binary.BigEndian.PutUint16(out[6:], c.An)
	binary.BigEndian.PutUint16(out[8:], c.Ns)
	ar := c.Ar
	if req.HasEDNS {
		out = appendOPT(out, l.UDPPayload, 0, req.DO)
		ar++
	}
	binary.BigEndian.PutUint16(out[10:], ar)
	return out
}

// RenderRcode writes a response that carries only a header, the question when there is one, and
// the OPT record when the query had one. extRcode may exceed 15 (BADVERS); its upper bits go in OPT.
func (l Limits) RenderRcode(out []byte, req *query.Request, rcode uint16, aa bool) []byte {
	qend := req.QuestionEnd
	if qend == 0 {
		qend = query.HeaderLen
	}
	if cap(out) < qend+optLen {
		out = make([]byte, 0, qend+optLen)
	}
	out = out[:qend]
	writeHeader(out, req, uint8(rcode&0xF), aa, false)
	copy(out[query.HeaderLen:], req.Wire[query.HeaderLen:qend])
	if req.QuestionEnd == 0 {
		binary.BigEndian.PutUint16(out[4:], 0)
	}
	binary.BigEndian.PutUint16(out[6:], 0)
	binary.BigEndian.PutUint16(out[8:], 0)
	var ar uint16
	if req.HasEDNS {
		out = appendOPT(out, l.UDPPayload, uint8(rcode>>4), req.DO)
		ar = 1
	}
	binary.BigEndian.PutUint16(out[10:], ar)
	return out
}

func writeHeader(out []byte, req *query.Request, rcode uint8, aa, tc bool) {
	binary.BigEndian.PutUint16(out[0:], req.ID)
	// Keep the opcode, RD and CD bits of the query (RFC 1035 §4.1.1, RFC 4035 §3.2.2).
	flags := req.Flags&(0x7800|query.FlagRD|query.FlagCD) | query.FlagQR | uint16(rcode&0xF)
	if aa {
		flags |= query.FlagAA
	}
	if tc {
		flags |= query.FlagTC
	}
	binary.BigEndian.PutUint16(out[2:], flags)
	if req.QuestionEnd > 0 {
		binary.BigEndian.PutUint16(out[4:], 1)
	}
}

func appendOPT(out []byte, payload uint16, extRcode uint8, do bool) []byte {
	var ttl uint32 = uint32(extRcode) << 24
	if do {
		ttl |= 1 << 15
	}
	return append(out, 0, 0, 41, byte(payload>>8), byte(payload),
		byte(ttl>>24), byte(ttl>>16), byte(ttl>>8), byte(ttl), 0, 0)
}
