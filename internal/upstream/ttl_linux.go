package upstream

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

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
