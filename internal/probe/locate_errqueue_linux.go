package probe

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// ICMP types and codes that IP_RECVERR reports in sock_extended_err (RFC 792, RFC 4443).
const (
	icmp4Unreachable    = 3
	icmp4TimeExceeded   = 11
	icmp6Unreachable    = 1
	icmp6TimeExceeded   = 3
	codeTTLExceeded     = 0 // the same in ICMP and ICMPv6: "hop limit exceeded in transit"
	sizeofExtendedErr   = 16
	sizeofSockaddrInet4 = 16
	sizeofSockaddrInet6 = 28
)

// icmpReport is one ICMP error the kernel queued for a socket: struct sock_extended_err and the
// address of the node that sent it (SO_EE_OFFENDER).
type icmpReport struct {
	Origin   uint8 // unix.SO_EE_ORIGIN_ICMP or _ICMP6 for errors from the network
	Type     uint8
	Code     uint8
	Offender netip.Addr
}

// record adds the report to what one TTL saw. Errors raised locally (origin LOCAL, such as
// EMSGSIZE) say nothing about the path and are left out.
func (r icmpReport) record(h *HopReport, target netip.Addr) {
	expired, unreachable := false, false
	switch r.Origin {
	case unix.SO_EE_ORIGIN_ICMP:
		expired = r.Type == icmp4TimeExceeded && r.Code == codeTTLExceeded
		unreachable = r.Type == icmp4Unreachable
	case unix.SO_EE_ORIGIN_ICMP6:
		expired = r.Type == icmp6TimeExceeded && r.Code == codeTTLExceeded
		unreachable = r.Type == icmp6Unreachable
	}
	if !expired && !unreachable {
		return
	}
	// The first router to answer stays: a second one at the same TTL would be a routing change
	// in mid-try, and the first is the one on the path the query took.
	if !h.Router.IsValid() {
		h.Router = r.Offender
	}
	h.Expired = h.Expired || expired
	h.Unreachable = h.Unreachable || unreachable && !expired
}

// parseErrQueue reads the control messages of one recvmsg(MSG_ERRQUEUE) and returns the ICMP
// errors among them. Other control messages are skipped. A report from the network (origin ICMP
// or ICMPv6) must carry its sender's address, since that address is what localisation is for.
func parseErrQueue(oob []byte) ([]icmpReport, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("icmp error queue: control messages (%d bytes): %w", len(oob), err)
	}
	var out []icmpReport
	for i, m := range msgs {
		ip4 := m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR
		ip6 := m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_RECVERR
		if !ip4 && !ip6 {
			continue
		}
		r, err := parseExtendedErr(m.Data)
		if err != nil {
			return nil, fmt.Errorf("icmp error queue: control message %d: %w", i, err)
		}
		if r.Origin != unix.SO_EE_ORIGIN_ICMP && r.Origin != unix.SO_EE_ORIGIN_ICMP6 {
			continue
		}
		if !r.Offender.IsValid() {
			return nil, fmt.Errorf("icmp error queue: control message %d: ICMP type %d code %d without the sender's address", i, r.Type, r.Code)
		}
		out = append(out, r)
	}
	return out, nil
}

// parseExtendedErr decodes struct sock_extended_err (host byte order) and the sockaddr after it.
func parseExtendedErr(b []byte) (icmpReport, error) {
	if len(b) < sizeofExtendedErr {
		return icmpReport{}, fmt.Errorf("sock_extended_err is %d bytes, want at least %d", len(b), sizeofExtendedErr)
	}
	r := icmpReport{Origin: b[4], Type: b[5], Code: b[6]}
	sa := b[sizeofExtendedErr:]
	if len(sa) < 2 {
		return r, nil
	}
	switch family := binary.NativeEndian.Uint16(sa); family {
	case unix.AF_UNSPEC:
	case unix.AF_INET:
		if len(sa) < sizeofSockaddrInet4 {
			return r, fmt.Errorf("offender sockaddr_in at byte %d is %d bytes, want %d", sizeofExtendedErr, len(sa), sizeofSockaddrInet4)
		}
		r.Offender = netip.AddrFrom4([4]byte(sa[4:8]))
	case unix.AF_INET6:
		if len(sa) < sizeofSockaddrInet6 {
			return r, fmt.Errorf("offender sockaddr_in6 at byte %d is %d bytes, want %d", sizeofExtendedErr, len(sa), sizeofSockaddrInet6)
		}
		r.Offender = netip.AddrFrom16([16]byte(sa[8:24])).Unmap()
	default:
		return r, fmt.Errorf("offender address family %d at byte %d is neither IPv4 nor IPv6", family, sizeofExtendedErr)
	}
	return r, nil
}
