package config

import (
	"fmt"
	"net/netip"
)

// Listeners are the addresses the server listens on. In YAML each is "IP:port"; an IPv6 address
// must be quoted, as "[::1]:53", because YAML reads a bare [ as the start of a list.
type Listeners []netip.AddrPort

// Validate checks that there is at least one listener and that none is listed twice.
func (l Listeners) Validate() error {
	var p problems
	if len(l) == 0 {
		p.add("", "at least one address is required")
	}
	first := make(map[netip.AddrPort]int, len(l))
	for i, a := range l {
		key := fmt.Sprintf("[%d]", i)
		if !a.IsValid() {
			p.add(key, "not a valid IP address and port")
			continue
		}
		// Port 0 asks the kernel for a free port each time, so two of them do not collide.
		if a.Port() == 0 {
			continue
		}
		if j, dup := first[a]; dup {
			p.add(key, "%s is already listen[%d]", a, j)
			continue
		}
		first[a] = i
	}
	return p.err()
}
