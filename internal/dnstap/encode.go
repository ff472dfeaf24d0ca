package dnstap

import (
	"net/netip"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"warden/internal/query"
)

// Field numbers and enum values of dnstap.proto (the dnstap project's schema, proto2).
const (
	fieldIdentity = 1
	fieldVersion  = 2
	fieldMessage  = 14
	fieldType     = 15
	typeMessage   = 1

	msgType              = 1
	msgSocketFamily      = 2
	msgSocketProtocol    = 3
	msgQueryAddress      = 4
	msgResponseAddress   = 5
	msgQueryPort         = 6
	msgResponsePort      = 7
	msgQueryTimeSec      = 8
	msgQueryTimeNsec     = 9
	msgQueryMessage      = 10
	msgQueryZone         = 11
	msgResponseTimeSec   = 12
	msgResponseTimeNsec  = 13
	msgResponseMessage   = 14
	familyINET, familyV6 = 1, 2
)

// MessageType is dnstap's Message.Type: the role of the sender and which half of the exchange.
type MessageType uint8

// The message types Warden sends; the values are dnstap.proto's.
const (
	AuthQuery         MessageType = 1
	AuthResponse      MessageType = 2
	ResolverQuery     MessageType = 3
	ResolverResponse  MessageType = 4
	ClientQuery       MessageType = 5
	ClientResponse    MessageType = 6
	ForwarderQuery    MessageType = 7
	ForwarderResponse MessageType = 8
)

// queryType and responseType map a role to its two message types.
var (
	queryType    = [numRoles]MessageType{roleAuth: AuthQuery, roleClient: ClientQuery, roleResolver: ResolverQuery, roleForwarder: ForwarderQuery}
	responseType = [numRoles]MessageType{roleAuth: AuthResponse, roleClient: ClientResponse, roleResolver: ResolverResponse, roleForwarder: ForwarderResponse}
)

// socketProtocol maps Warden's transports onto dnstap's SocketProtocol.
func socketProtocol(t query.Transport) uint64 {
	switch t {
	case query.TCP:
		return 2
	case query.DoT:
		return 3
	case query.DoH:
		return 4
	case query.DoQ:
		return 7
	}
	return 1
}

// encoder turns entries into dnstap payloads. It belongs to the Writer's goroutine and reuses
// its buffers, so a steady stream allocates nothing.
type encoder struct {
	identity, version []byte
	msg               []byte
}

// appendPayload appends the Dnstap message for one half of e (the response half when response
// is true) to b.
func (c *encoder) appendPayload(b []byte, e *entry, response bool) []byte {
	c.msg = appendMessage(c.msg[:0], e, response)
	if c.identity != nil {
		b = protowire.AppendTag(b, fieldIdentity, protowire.BytesType)
		b = protowire.AppendBytes(b, c.identity)
	}
	if c.version != nil {
		b = protowire.AppendTag(b, fieldVersion, protowire.BytesType)
		b = protowire.AppendBytes(b, c.version)
	}
	b = protowire.AppendTag(b, fieldMessage, protowire.BytesType)
	b = protowire.AppendBytes(b, c.msg)
	b = protowire.AppendTag(b, fieldType, protowire.VarintType)
	return protowire.AppendVarint(b, typeMessage)
}

func appendMessage(b []byte, e *entry, response bool) []byte {
	typ := queryType[e.role]
	if response {
		typ = responseType[e.role]
	}
	b = appendVarint(b, msgType, uint64(typ))
	addr := e.initiator.Addr()
	if !addr.IsValid() {
		addr = e.responder.Addr()
	}
	if addr.IsValid() {
		family := uint64(familyINET)
		if addr.Is6() {
			family = familyV6
		}
		b = appendVarint(b, msgSocketFamily, family)
	}
	b = appendVarint(b, msgSocketProtocol, socketProtocol(e.transport))
	if e.initiator.IsValid() {
		b = appendAddr(b, msgQueryAddress, e.initiator.Addr())
	}
	if e.responder.IsValid() {
		b = appendAddr(b, msgResponseAddress, e.responder.Addr())
	}
	if e.initiator.IsValid() {
		b = appendVarint(b, msgQueryPort, uint64(e.initiator.Port()))
	}
	if e.responder.IsValid() {
		b = appendVarint(b, msgResponsePort, uint64(e.responder.Port()))
	}
	b = appendTime(b, msgQueryTimeSec, msgQueryTimeNsec, e.queried)
	if !response {
		b = protowire.AppendTag(b, msgQueryMessage, protowire.BytesType)
		b = protowire.AppendBytes(b, e.query)
		return appendZone(b, e.zone)
	}
	b = appendZone(b, e.zone)
	b = appendTime(b, msgResponseTimeSec, msgResponseTimeNsec, e.responded)
	b = protowire.AppendTag(b, msgResponseMessage, protowire.BytesType)
	return protowire.AppendBytes(b, e.response)
}

// appendZone writes query_zone when the entry has one: both halves of an upstream exchange carry
// it, as BIND's and Unbound's RESOLVER_ messages do.
func appendZone(b, zone []byte) []byte {
	if len(zone) == 0 {
		return b
	}
	b = protowire.AppendTag(b, msgQueryZone, protowire.BytesType)
	return protowire.AppendBytes(b, zone)
}

func appendVarint(b []byte, field protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, field, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendAddr writes a as 4 bytes (IPv4) or 16, as dnstap.proto asks for each family.
func appendAddr(b []byte, field protowire.Number, a netip.Addr) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	if a.Is4() {
		a4 := a.As4()
		return protowire.AppendBytes(b, a4[:])
	}
	a16 := a.As16()
	return protowire.AppendBytes(b, a16[:])
}

func appendTime(b []byte, secField, nsecField protowire.Number, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = appendVarint(b, secField, uint64(t.Unix()))
	b = protowire.AppendTag(b, nsecField, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, uint32(t.Nanosecond()))
}
