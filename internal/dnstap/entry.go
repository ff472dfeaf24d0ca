package dnstap

import (
	"encoding/binary"
	"net/netip"
	"time"

	"warden/internal/query"
)

// role is which side of which exchange an entry records; with the query/response half it picks
// the dnstap message type.
type role uint8

const (
	roleAuth role = iota
	roleClient
	roleResolver
	roleForwarder
	numRoles
)

// entry is one exchange as a producer hands it to the framer; nothing of it outlives the call.
type entry struct {
	role                 role
	transport            query.Transport
	initiator, responder netip.AddrPort
	queried, responded   time.Time
	query, response      []byte
	// zone is the zone cut an upstream query went to (dnstap's query_zone), in wire format;
	// empty for the listeners' entries and when the upstream did not say.
	zone        []byte
	hasResponse bool
}

// framer turns an entry into its Frame Streams data frames, in the form they go on the wire, so
// that a ring holds finished frames and the Writer's goroutine only hands ring bytes to the
// kernel. Encoding here rather than there costs the producer little more than the copy it
// made anyway, and saves a copy into a batch and a second pass over every byte.
type framer struct {
	// prefix holds the Dnstap fields that are the same in every frame: identity and version.
	prefix []byte
	want   [2][numRoles]bool // [response][role]
}

func newFramer(identity, version []byte, want [2][numRoles]bool) framer {
	var p []byte
	if identity != nil {
		p = append(p, tagIdentity)
		p = binary.AppendUvarint(p, uint64(len(identity)))
		p = append(p, identity...)
	}
	if version != nil {
		p = append(p, tagVersion)
		p = binary.AppendUvarint(p, uint64(len(version)))
		p = append(p, version...)
	}
	return framer{prefix: p, want: want}
}

// One-byte protobuf tags (field number << 3 | wire type) of the fields Warden writes; every
// field number is below 16.
const (
	wireVarint, wireFixed32, wireBytes = 0, 5, 2

	tagIdentity = fieldIdentity<<3 | wireBytes
	tagVersion  = fieldVersion<<3 | wireBytes
	tagMessage  = fieldMessage<<3 | wireBytes
	tagType     = fieldType<<3 | wireVarint

	tagMsgType          = msgType<<3 | wireVarint
	tagSocketFamily     = msgSocketFamily<<3 | wireVarint
	tagSocketProtocol   = msgSocketProtocol<<3 | wireVarint
	tagQueryAddress     = msgQueryAddress<<3 | wireBytes
	tagResponseAddress  = msgResponseAddress<<3 | wireBytes
	tagQueryPort        = msgQueryPort<<3 | wireVarint
	tagResponsePort     = msgResponsePort<<3 | wireVarint
	tagQueryTimeSec     = msgQueryTimeSec<<3 | wireVarint
	tagQueryTimeNsec    = msgQueryTimeNsec<<3 | wireFixed32
	tagQueryMessage     = msgQueryMessage<<3 | wireBytes
	tagQueryZone        = msgQueryZone<<3 | wireBytes
	tagResponseTimeSec  = msgResponseTimeSec<<3 | wireVarint
	tagResponseTimeNsec = msgResponseTimeNsec<<3 | wireFixed32
	tagResponseMessage  = msgResponseMessage<<3 | wireBytes
)

// normalize prepares e for sizing and encoding: IPv4 addresses in their 4-byte form (a dual
// stack socket reports them 4-in-6), and a zone longer than a wire name may be (which no
// upstream sends) left out rather than cut.
func (e *entry) normalize() {
	if e.initiator.Addr().Is4In6() {
		e.initiator = netip.AddrPortFrom(e.initiator.Addr().Unmap(), e.initiator.Port())
	}
	if e.responder.Addr().Is4In6() {
		e.responder = netip.AddrPortFrom(e.responder.Addr().Unmap(), e.responder.Port())
	}
	if len(e.zone) > 255 {
		e.zone = nil
	}
}

// halves says which of e's two messages are sent.
func (f *framer) halves(e *entry) (queryHalf, responseHalf bool) {
	return f.want[0][e.role], f.want[1][e.role] && e.hasResponse
}

// plan is the layout of one entry's frames, worked out once for sizing and for writing.
type plan struct {
	queryHalf, responseHalf bool
	// common holds the fields both halves share (family to query time), encoded: their
	// length is needed before the slot is reserved, and encoding them is as cheap as
	// measuring them. commonLen is the part of common in use.
	common    [maxCommon]byte
	commonLen int
	// queryMsg and responseMsg are the lengths of the two Messages.
	queryMsg, responseMsg int
	// size is the room the frames take: 0 when neither half is wanted.
	size int
}

// maxCommon bounds what appendCommon writes: family and protocol (4 bytes), two 16-byte
// addresses with their tags and lengths (36), two ports (8), and a query time whose seconds take
// the longest varint (16).
const maxCommon = 64

// plan lays out e's frames in p; e must be normalized.
func (f *framer) plan(e *entry, p *plan) {
	p.queryHalf, p.responseHalf = f.halves(e)
	p.size = 0
	if !p.queryHalf && !p.responseHalf {
		return
	}
	p.commonLen = len(appendCommon(p.common[:0], e))
	zone := 0
	if len(e.zone) > 0 {
		zone = bytesLen(len(e.zone))
	}
	if p.queryHalf {
		p.queryMsg = 2 + p.commonLen + bytesLen(len(e.query)) + zone
		p.size += f.frameLen(p.queryMsg)
	}
	if p.responseHalf {
		p.responseMsg = 2 + p.commonLen + zone + timeLen(e.responded) + bytesLen(len(e.response))
		p.size += f.frameLen(p.responseMsg)
	}
}

// put writes e's frames as p lays them out into b, which is p.size long, and returns how many
// it wrote; 0 when they did not come out at that size, which is a bug here, not bad input: the
// entry is then not published.
func (f *framer) put(b []byte, e *entry, p *plan) int {
	out, frames := b[:0:len(b)], 0
	common := p.common[:p.commonLen]
	if p.queryHalf {
		out = f.appendHead(out, p.queryMsg)
		out = append(out, tagMsgType, byte(queryType[e.role]))
		out = append(out, common...)
		out = appendBytes(out, tagQueryMessage, e.query)
		out = appendZone(out, e.zone)
		out = append(out, tagType, typeMessage)
		frames++
	}
	if p.responseHalf {
		out = f.appendHead(out, p.responseMsg)
		out = append(out, tagMsgType, byte(responseType[e.role]))
		out = append(out, common...)
		out = appendZone(out, e.zone)
		out = appendTime(out, tagResponseTimeSec, tagResponseTimeNsec, e.responded)
		out = appendBytes(out, tagResponseMessage, e.response)
		out = append(out, tagType, typeMessage)
		frames++
	}
	if len(out) != len(b) || (len(b) > 0 && &out[0] != &b[0]) {
		return 0
	}
	return frames
}

// frameLen is the size of a data frame whose Message is msgLen bytes: length prefix, the
// constant fields, the Message and the Dnstap type.
func (f *framer) frameLen(msgLen int) int {
	return 4 + f.payloadLen(msgLen)
}

func (f *framer) payloadLen(msgLen int) int {
	return len(f.prefix) + 1 + uvarintLen(uint64(msgLen)) + msgLen + 2
}

// appendHead writes a frame's length, the constant fields and the Message's tag and length.
func (f *framer) appendHead(b []byte, msgLen int) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(f.payloadLen(msgLen)))
	b = append(b, f.prefix...)
	b = append(b, tagMessage)
	return binary.AppendUvarint(b, uint64(msgLen))
}

// appendCommon writes the Message fields both halves of e carry, in dnstap.proto's order: from
// socket_family to query_time.
func appendCommon(b []byte, e *entry) []byte {
	if family := familyOf(e); family != 0 {
		b = append(b, tagSocketFamily, family)
	}
	b = append(b, tagSocketProtocol, socketProtocol(e.transport))
	if e.initiator.IsValid() {
		b = appendAddr(b, tagQueryAddress, e.initiator.Addr())
	}
	if e.responder.IsValid() {
		b = appendAddr(b, tagResponseAddress, e.responder.Addr())
	}
	if e.initiator.IsValid() {
		b = binary.AppendUvarint(append(b, tagQueryPort), uint64(e.initiator.Port()))
	}
	if e.responder.IsValid() {
		b = binary.AppendUvarint(append(b, tagResponsePort), uint64(e.responder.Port()))
	}
	return appendTime(b, tagQueryTimeSec, tagQueryTimeNsec, e.queried)
}

// familyOf is the socket family of e's addresses, 0 when it has none.
func familyOf(e *entry) byte {
	addr := e.initiator.Addr()
	if !addr.IsValid() {
		addr = e.responder.Addr()
	}
	switch {
	case !addr.IsValid():
		return 0
	case addr.Is4():
		return familyINET
	}
	return familyV6
}

// appendZone writes query_zone when the entry has one: both halves of an upstream exchange carry
// it, as BIND's and Unbound's RESOLVER_ messages do.
func appendZone(b, zone []byte) []byte {
	if len(zone) == 0 {
		return b
	}
	return appendBytes(b, tagQueryZone, zone)
}

func appendBytes(b []byte, tag byte, v []byte) []byte {
	b = binary.AppendUvarint(append(b, tag), uint64(len(v)))
	return append(b, v...)
}

// appendAddr writes a as 4 bytes (IPv4) or 16, as dnstap.proto asks for each family.
func appendAddr(b []byte, tag byte, a netip.Addr) []byte {
	if a.Is4() {
		a4 := a.As4()
		return append(b, tag, 4, a4[0], a4[1], a4[2], a4[3])
	}
	a16 := a.As16()
	return append(append(b, tag, 16), a16[:]...)
}

func appendTime(b []byte, secTag, nsecTag byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = binary.AppendUvarint(append(b, secTag), uint64(t.Unix()))
	return binary.LittleEndian.AppendUint32(append(b, nsecTag), uint32(t.Nanosecond()))
}

func addrLen(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 16
}

func timeLen(t time.Time) int {
	if t.IsZero() {
		return 0
	}
	return 1 + uvarintLen(uint64(t.Unix())) + 1 + 4
}

func bytesLen(n int) int { return 1 + uvarintLen(uint64(n)) + n }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
