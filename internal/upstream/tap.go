package upstream

import (
	"net"
	"net/netip"
	"time"

	"warden/internal/query"
)

// Tap is told of every query an Upstream sent and of the reply it accepted, for dnstap's
// RESOLVER_ and FORWARDER_ messages. It must not block and must not keep the Exchange's byte
// slices past the call. Options.Tap is nil when nothing listens, and then an exchange costs one
// comparison more.
type Tap interface {
	Exchanged(x *Exchange)
}

// Exchange is one query sent and its accepted reply, as the Upstream saw them.
type Exchange struct {
	Transport query.Transport
	// Local is the address the query left from; invalid when the transport hides it (DoH).
	Local, Server netip.AddrPort
	// Query is the message as sent (ID and 0x20 case included); Reply is nil when no reply was
	// accepted (timeout, error).
	Query, Reply []byte
	// Zone is Query.Zone: the zone cut the query went to, in wire format; nil when not known.
	Zone           []byte
	Sent, Received time.Time
}

// tap hands one exchange to opts.Tap. Received is left zero without a reply.
func (o *Options) tap(t query.Transport, local, server netip.AddrPort, out *outgoing, reply []byte, sent time.Time) {
	x := Exchange{Transport: t, Local: local, Server: server, Query: out.msg, Zone: out.zone, Reply: reply, Sent: sent}
	if reply != nil {
		x.Received = time.Now()
	}
	o.Tap.Exchanged(&x)
}

// addrPortOf reads a TCP or UDP address without allocating; other kinds give the zero value.
func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort()
	case *net.TCPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}
