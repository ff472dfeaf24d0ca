package dnstap

import "warden/internal/query"

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
func socketProtocol(t query.Transport) byte {
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
