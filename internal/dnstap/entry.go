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

// entry is one exchange as it waits in a ring: a fixed header, then the query's bytes, then the
// response's. The producer writes it with put and the Writer reads it with parseEntry; nothing
// outside this package sees the layout.
//
//	0      role
//	1      transport (query.Transport)
//	2      flags: hasInitiator, hasResponder, hasResponse
//	3      zone length
//	4..5   query length, 6..7 response length
//	8..9   initiator port, 10..11 responder port
//	12..27 initiator address (16 bytes), 28..43 responder address
//	44..51 query time, 52..59 response time (Unix nanoseconds)
//
// The zone follows the response.
const entryHeader = 60

const (
	hasInitiator = 1 << iota
	hasResponder
	hasResponse
)

// entry is the decoded header of one queued exchange, with its messages aliasing the ring.
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

// size is the room e takes in a ring.
func (e *entry) size() int { return entryHeader + len(e.query) + len(e.response) + len(e.zoneKept()) }

// zoneKept is the zone as put stores it: a wire name is at most 255 bytes, and anything longer
// (which no upstream sends) is left out rather than cut.
func (e *entry) zoneKept() []byte {
	if len(e.zone) > 255 {
		return nil
	}
	return e.zone
}

// put writes e into b, which is e.size() long.
func (e *entry) put(b []byte) {
	_ = b[entryHeader-1]
	zone := e.zoneKept()
	b[0], b[1], b[3] = byte(e.role), byte(e.transport), byte(len(zone))
	var flags byte
	if e.initiator.IsValid() {
		flags |= hasInitiator
	}
	if e.responder.IsValid() {
		flags |= hasResponder
	}
	if e.hasResponse {
		flags |= hasResponse
	}
	b[2] = flags
	binary.LittleEndian.PutUint16(b[4:], uint16(len(e.query)))
	binary.LittleEndian.PutUint16(b[6:], uint16(len(e.response)))
	binary.LittleEndian.PutUint16(b[8:], e.initiator.Port())
	binary.LittleEndian.PutUint16(b[10:], e.responder.Port())
	putAddr(b[12:28], e.initiator.Addr())
	putAddr(b[28:44], e.responder.Addr())
	binary.LittleEndian.PutUint64(b[44:], uint64(unixNano(e.queried)))
	binary.LittleEndian.PutUint64(b[52:], uint64(unixNano(e.responded)))
	n := copy(b[entryHeader:], e.query)
	n += copy(b[entryHeader+n:], e.response)
	copy(b[entryHeader+n:], zone)
}

// putAddr stores a as 16 bytes; an IPv4 address keeps its 4-in-6 form, which parseEntry unmaps.
func putAddr(b []byte, a netip.Addr) {
	if !a.IsValid() {
		clear(b[:16])
		return
	}
	a16 := a.As16()
	copy(b, a16[:])
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// parseEntry reads back what put wrote. Entries come from this process only, so a short one is
// a bug in put: it is reported rather than read past.
func parseEntry(b []byte, e *entry) bool {
	if len(b) < entryHeader {
		return false
	}
	ql, rl, zl := int(binary.LittleEndian.Uint16(b[4:])), int(binary.LittleEndian.Uint16(b[6:])), int(b[3])
	if len(b) != entryHeader+ql+rl+zl {
		return false
	}
	e.role, e.transport = role(b[0]), query.Transport(b[1])
	flags := b[2]
	e.initiator, e.responder = netip.AddrPort{}, netip.AddrPort{}
	if flags&hasInitiator != 0 {
		e.initiator = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[12:28])).Unmap(), binary.LittleEndian.Uint16(b[8:]))
	}
	if flags&hasResponder != 0 {
		e.responder = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[28:44])).Unmap(), binary.LittleEndian.Uint16(b[10:]))
	}
	e.hasResponse = flags&hasResponse != 0
	e.queried = fromNano(int64(binary.LittleEndian.Uint64(b[44:])))
	e.responded = fromNano(int64(binary.LittleEndian.Uint64(b[52:])))
	e.query = b[entryHeader : entryHeader+ql]
	e.response = b[entryHeader+ql : entryHeader+ql+rl]
	e.zone = b[entryHeader+ql+rl:]
	return true
}

func fromNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
