package upstream

import (
	"encoding/binary"
	"syscall"

	"golang.org/x/sys/unix"
)

// recvTTL asks the kernel to hand over the IP TTL (IPv6: hop limit) of each datagram the socket
// receives, as a control message: the TTL a reply arrives with says how many routers it crossed,
// which is the same for every reply from one server and rarely the same for an injector's.
func recvTTL(network, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if network == "udp6" {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1)
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVTTL, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// ipTTL reads the IP TTL or IPv6 hop limit from a datagram's control messages, -1 when they hold
// neither or are malformed.
func ipTTL(oob []byte) int {
	for len(oob) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return -1
		}
		if (h.Level == unix.IPPROTO_IP && h.Type == unix.IP_TTL || h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_HOPLIMIT) && len(data) >= 4 {
			ttl := int(binary.NativeEndian.Uint32(data))
			if ttl < 0 || ttl > 255 {
				return -1
			}
			return ttl
		}
		oob = rest
	}
	return -1
}
