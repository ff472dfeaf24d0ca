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
	// Tail is the answer, authority and additional sections, packed for a question name of QNameLen
	// bytes.
	Tail []byte
	// Fixups are the pointers to move when the question name is not QNameLen bytes long; a
	// template rendered only for names of that length (a cached answer) needs none.
	Fixups []Fixup
	// TTLs lists the TTL fields of a stored answer, in Tail order, for RenderAged; empty when
	// the TTLs are rendered as they are.
	TTLs []TTL
	// Cuts lists every RRset boundary in order; the last one is the whole Tail. It is nil when
	// there is no additional RRset: a truncated answer is then all or nothing, and Whole says
	// where all ends.
	Cuts []Cut
	// Whole is the last Cut, kept here so that the usual case reads no other memory.
	Whole    Cut
	QNameLen uint16
	// MustFit counts the Cuts of the answer and authority sections. When one of them does not fit,
	// the response is sent empty with TC=1, as Knot does: a partial answer could be taken as whole.
	MustFit uint16
	Rcode   uint8 // RCODE (4 bits)
	AA      bool
	RA      bool // recursion available: set on answers a resolver gives
	// Trunc holds the truncation rules of the answer (TruncGlue, TruncKeepFit, TruncSigs): one
	// byte, so that a cache entry keeps its allocation class.
	Trunc uint8
	// Open is the name the answer's CNAME chain ends at without an answer, lower case, because
	// the zones it was built from do not hold the name or delegate it; empty when the answer is
	// whole. An authoritative server sends the answer as it is, for the client to follow; one
	// that also resolves goes on from there.
	Open string
}

// Truncation rules, the bits of Template.Trunc.
const (
	// TruncGlue: additional records are glue of a referral, so dropping one sets TC (RFC 9471
	// §3). Otherwise additional records that do not fit are dropped silently (RFC 2181 §9).
	TruncGlue uint8 = 1 << iota
	// TruncKeepFit: when the answer and authority sections do not fit, the RRsets of theirs that
	// fit, up to the first that does not, are sent with TC=1, as Knot does (a CNAME without its
	// target, an RRset without its RRSIG). Otherwise such a response goes out with no records.
	TruncKeepFit
	// TruncSigs: the additional section ends with the RRSIGs of the RRsets before them, which
	// Knot sends none of once any additional RRset has been left out.
	TruncSigs
)

const optLen = 11 // root owner, type, class, TTL, RDLENGTH 0

// Limits of one rendering.
type Limits struct {
	// UDPPayload is the server's largest EDNS payload (RFC 6891 §6.2.5); 1232 by default.
	UDPPayload uint16
}

// MaxSize is the room the renderers have for the response to req: 512 without EDNS over UDP, the
// smaller of the client's and the server's payload with it, 65535 over TCP and the encrypted
// transports (DoT, DoH, DoQ), which are streams (RFC 7858 §3.3, RFC 8484 §6, RFC 9250 §4.2) and
// never truncate. A query with a client cookie leaves query.CookieReserve bytes of that for the
// server cookie added to the OPT record after rendering.
func (l Limits) MaxSize(req *query.Request) int {
	return l.maxSize(req) - cookieReserve(req)
}

func (l Limits) maxSize(req *query.Request) int {
	if !req.Transport.Datagram() {
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

// Limit is the size limit of the response to req itself, the server cookie included.
func (l Limits) Limit(req *query.Request) int { return l.maxSize(req) }

func cookieReserve(req *query.Request) int {
	if req.CookieLen == 0 {
		return 0
	}
	return query.CookieReserve
}

// TTL is the TTL field of one record in Template.Tail of a stored answer, whose TTLs count down.
type TTL struct {
	Pos uint16 // offset of the field in Tail
	// Own is the record's own TTL for additional records, whose lifetime does not bound the
	// answer's; EntryTTL marks answer and authority records, which show Age.TTL.
	Own uint32
}

// EntryTTL is the TTL.Own of records that show the stored answer's remaining lifetime.
const EntryTTL = ^uint32(0)

// Age is how long a stored answer has been kept, for rendering its TTLs.
type Age struct {
	// TTL is what answer and authority records show: the answer's remaining lifetime.
	TTL uint32
	// Elapsed is the seconds since the answer was stored: an additional record shows its own TTL
	// less Elapsed (not below 0), and never more than TTL.
	Elapsed uint32
}

// Render writes the response to req built from t into out (whose capacity should be at least the
// size limit) and returns it. The TTLs are those in t.Tail.
func (l Limits) Render(out []byte, req *query.Request, t *Template) []byte {
	return l.RenderAged(out, req, t, Age{})
}

// RenderAged is Render for a stored answer: the TTL fields listed in t.TTLs show age (a template
// without TTLs renders as Render does). It is the one routine by which every answer, authoritative,
// cached or synthesised by a policy, reaches the wire: the same header, the same size limit and the
// same truncation.
func (l Limits) RenderAged(out []byte, req *query.Request, t *Template, age Age) []byte {
	qend := req.QuestionEnd
	opt := 0
	if req.HasEDNS {
		opt = optLen
	}
	room := l.MaxSize(req) - qend - opt
	last := t.Whole
	if int(last.End) > room {
		return l.renderTruncated(out, req, t, room, age)
	}
	end := int(last.End)
	if cap(out) < qend+end+opt {
		out = make([]byte, 0, qend+end+opt)
	}
	out = out[:qend+end]
	writeHeader(out, req, t, false)
	copy(out[query.HeaderLen:], req.Wire[query.HeaderLen:qend])
	copy(out[qend:], t.Tail)
	if len(req.QName) != int(t.QNameLen) {
		for _, f := range t.Fixups {
			f.apply(out, qend, int(f.Pos), len(req.QName))
		}
	}
	if len(t.TTLs) > 0 {
		age.patch(out[qend:], t.TTLs, 0, last.End, 0)
	}
	return l.finish(out, req, last)
}

// renderTruncated writes what fits in room bytes after the question. If the answer and authority
// sections do not fit, nothing does and TC is set. Additional RRsets that do not fit are skipped one
// by one, later smaller ones still going in, as Knot does; TC is set only for referral glue. Names in
// the additional section are never compression targets (see Builder), so any subset of its RRsets
// can be sent.
func (l Limits) renderTruncated(out []byte, req *query.Request, t *Template, room int, age Age) []byte {
	qend := req.QuestionEnd
	must := t.Whole // no Cuts: no additional RRsets
	if int(t.MustFit) < len(t.Cuts) {
		must = Cut{}
		if t.MustFit > 0 {
			must = t.Cuts[t.MustFit-1]
		}
	}
	if int(must.End) > room {
		if t.Trunc&TruncKeepFit != 0 {
			return l.renderFitting(out, req, t, room, age)
		}
		out = l.RenderRcode(out, req, uint16(t.Rcode), NoEDE)
		writeHeader(out, req, t, true)
		return out
	}
	if cap(out) < qend+room+optLen {
		out = make([]byte, 0, qend+room+optLen)
	}
	out = out[:qend+int(must.End)]
	copy(out[query.HeaderLen:], req.Wire[query.HeaderLen:qend])
	copy(out[qend:], t.Tail[:must.End])
	relocate := len(req.QName) != int(t.QNameLen)
	if relocate {
		for _, f := range t.Fixups {
			if f.Pos < must.End {
				f.apply(out, qend, int(f.Pos), len(req.QName))
			}
		}
	}
	if len(t.TTLs) > 0 {
		age.patch(out[qend:], t.TTLs, 0, must.End, 0)
	}
	counts := must
	dropped, droppedAny := false, false
	for i := int(t.MustFit); i < len(t.Cuts); i++ {
		start := uint16(0)
		if i > 0 {
			start = t.Cuts[i-1].End
		}
		seg := t.Tail[start:t.Cuts[i].End]
		sigs := t.Trunc&TruncSigs != 0 && isRRSIG(seg)
		if sigs && droppedAny {
			break
		}
		if len(out)-qend+len(seg) > room {
			droppedAny = true
			if !sigs {
				dropped = true // a signature left out is no glue left out
			}
			continue
		}
		at := len(out) - qend
		out = append(out, seg...)
		if relocate {
			for _, f := range t.Fixups {
				if f.Pos >= start && f.Pos < t.Cuts[i].End {
					f.apply(out, qend, at+int(f.Pos-start), len(req.QName))
				}
			}
		}
		if len(t.TTLs) > 0 {
			age.patch(out[qend:], t.TTLs, start, t.Cuts[i].End, at-int(start))
		}
		var prev Cut
		if i > 0 {
			prev = t.Cuts[i-1]
		}
		counts.Ar += t.Cuts[i].Ar - prev.Ar
	}
	writeHeader(out, req, t, dropped && t.Trunc&TruncGlue != 0)
	return l.finish(out, req, counts)
}

// isRRSIG says whether the RRset that starts seg, a part of a template's Tail, is of type RRSIG.
func isRRSIG(seg []byte) bool {
	i := 0
	for i < len(seg) {
		l := int(seg[i])
		if l == 0 {
			i++
			break
		}
		if l&0xC0 == 0xC0 {
			i += 2
			break
		}
		i += 1 + l
	}
	return i+2 <= len(seg) && seg[i] == 0 && seg[i+1] == 46
}

// renderFitting writes the answer and authority RRsets of t that fit in room, up to the first that
// does not, with TC set and no additional records.
func (l Limits) renderFitting(out []byte, req *query.Request, t *Template, room int, age Age) []byte {
	qend := req.QuestionEnd
	var keep Cut
	for i := 0; i < int(t.MustFit) && i < len(t.Cuts); i++ {
		if int(t.Cuts[i].End) > room {
			break
		}
		keep = t.Cuts[i]
	}
	if cap(out) < qend+int(keep.End)+optLen {
		out = make([]byte, 0, qend+int(keep.End)+optLen)
	}
	out = out[:qend+int(keep.End)]
	copy(out[query.HeaderLen:], req.Wire[query.HeaderLen:qend])
	copy(out[qend:], t.Tail[:keep.End])
	if len(req.QName) != int(t.QNameLen) {
		for _, f := range t.Fixups {
			if f.Pos < keep.End {
				f.apply(out, qend, int(f.Pos), len(req.QName))
			}
		}
	}
	if len(t.TTLs) > 0 {
		age.patch(out[qend:], t.TTLs, 0, keep.End, 0)
	}
	writeHeader(out, req, t, true)
	return l.finish(out, req, keep)
}

// patch writes the TTLs of the fields of ttls (in Tail order) that lie in Tail[start:end] into
// sections, where Tail offset p now sits at p+shift.
func (a Age) patch(sections []byte, ttls []TTL, start, end uint16, shift int) {
	for _, f := range ttls {
		if f.Pos < start {
			continue
		}
		if f.Pos >= end {
			return
		}
		ttl := a.TTL
		if f.Own != EntryTTL {
			ttl = min(ttl, f.Own-min(f.Own, a.Elapsed))
		}
		binary.BigEndian.PutUint32(sections[int(f.Pos)+shift:], ttl)
	}
}

// apply writes the pointer of f at tail offset pos for a question name of qlen bytes.
func (f Fixup) apply(out []byte, qend, pos, qlen int) {
	var target int
	switch {
	case f.FromEnd == WholeName:
		target = query.HeaderLen
	case f.FromEnd > 0:
		target = query.HeaderLen + qlen - int(f.FromEnd)
	default:
		target = qend + int(f.TailOff)
	}
	binary.BigEndian.PutUint16(out[qend+pos:], 0xC000|uint16(target))
}

// finish writes the section counts and appends the OPT record when the query had one.
func (l Limits) finish(out []byte, req *query.Request, c Cut) []byte {
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

// NoEDE is RenderRcode's ede argument for "no Extended DNS Error".
const NoEDE = -1

// EDE info codes Warden sends (RFC 8914 §5.2).
const EDENotAuthoritative = 20

// EDENotSupported (RFC 8914 §4.22): the server does not do what was asked, as a zone transfer over
// DNS over HTTPS.
const EDENotSupported = 21

// RenderRcode writes a response that carries only a header, the question when there is one, and
// the OPT record when the query had one. rcode may exceed 15 (BADVERS); its upper bits go in OPT.
// ede, unless NoEDE, adds an Extended DNS Error option with that info code to the OPT record.
func (l Limits) RenderRcode(out []byte, req *query.Request, rcode uint16, ede int) []byte {
	qend := req.QuestionEnd
	if qend == 0 {
		qend = query.HeaderLen
	}
	if cap(out) < qend+optLen+6 {
		out = make([]byte, 0, qend+optLen+6)
	}
	out = out[:qend]
	writeFlags(out, req, uint8(rcode&0xF), false, false)
	copy(out[query.HeaderLen:], req.Wire[query.HeaderLen:qend])
	if req.QuestionEnd == 0 {
		binary.BigEndian.PutUint16(out[4:], 0)
	}
	binary.BigEndian.PutUint16(out[6:], 0)
	binary.BigEndian.PutUint16(out[8:], 0)
	var ar uint16
	if req.HasEDNS {
		out = appendOPT(out, l.UDPPayload, uint8(rcode>>4), req.DO)
		if ede != NoEDE {
			// RDLENGTH 6: option code 15, length 2, the info code; no extra text.
			out[len(out)-1] = 6
			out = append(out, 0, 15, 0, 2, byte(ede>>8), byte(ede))
		}
		ar = 1
	}
	binary.BigEndian.PutUint16(out[10:], ar)
	return out
}

// writeHeader writes the header of an answer from t; tc sets TC.
func writeHeader(out []byte, req *query.Request, t *Template, tc bool) {
	writeFlags(out, req, t.Rcode, t.AA, tc)
	if t.RA {
		// A resolver's answer: CD comes back as asked (RFC 4035 §3.2.2). AD stays clear, as
		// nothing here records whether data was validated.
		out[3] |= query.FlagRA | byte(req.Flags&query.FlagCD)
	}
}

func writeFlags(out []byte, req *query.Request, rcode uint8, aa, tc bool) {
	binary.BigEndian.PutUint16(out[0:], req.ID)
	// Keep the opcode and RD of the query (RFC 1035 §4.1.1). CD is not copied: an authoritative
	// server does no validation for it to disable, and Knot clears it too.
	flags := req.Flags&(0x7800|query.FlagRD) | query.FlagQR | uint16(rcode&0xF)
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

// AppendEDE adds an Extended DNS Error option (RFC 8914) with info code ede to a response that
// Render or RenderRcode just wrote for req; the OPT record is the last record they write. Nothing
// is added when the query had no EDNS or the option would not fit the size limit.
func (l Limits) AppendEDE(out []byte, req *query.Request, ede int) []byte {
	if !req.HasEDNS || ede < 0 || len(out) < query.HeaderLen+optLen || len(out)+6 > l.MaxSize(req) {
		return out
	}
	opt := out[len(out)-optLen:]
	if opt[0] != 0 || binary.BigEndian.Uint16(opt[1:]) != 41 || binary.BigEndian.Uint16(opt[9:]) != 0 {
		return out // not the bare OPT record this package writes
	}
	binary.BigEndian.PutUint16(opt[9:], 6)
	return append(out, 0, 15, 0, 2, byte(ede>>8), byte(ede))
}
