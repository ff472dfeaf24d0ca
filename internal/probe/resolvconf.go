package probe

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"codeberg.org/miekg/dns"
)

// ParseResolver reads a resolver address: an IP address (port 53) or IP:port.
func ParseResolver(s string) (netip.AddrPort, error) {
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(ip.Unmap(), 53), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("resolver %q: want IP or IP:port", s)
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("resolver %q: port 0", s)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// SystemResolver returns the first nameserver of a resolv.conf file (usually /etc/resolv.conf).
func SystemResolver(path string) (netip.AddrPort, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("system resolver: %w", err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		ip, err := netip.ParseAddr(fields[1])
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("%s:%d: nameserver %q is not an IP address", path, i+1, fields[1])
		}
		return netip.AddrPortFrom(ip.Unmap(), 53), nil
	}
	return netip.AddrPort{}, fmt.Errorf("system resolver: no nameserver line in %s; give --resolver", path)
}

// ParseType reads a --type value: A, AAAA, or both as "A,AAAA".
func ParseType(s string) ([]uint16, error) {
	var out []uint16
	for part := range strings.SplitSeq(s, ",") {
		var t uint16
		switch strings.ToUpper(strings.TrimSpace(part)) {
		case "A":
			t = dns.TypeA
		case "AAAA":
			t = dns.TypeAAAA
		default:
			return nil, fmt.Errorf("type %q: want A, AAAA or A,AAAA", part)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}
