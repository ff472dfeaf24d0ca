package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"warden/internal/authority"
	"warden/internal/zone"
)

// SpecialUseZones are the names a resolver answers itself instead of asking the Internet
// (RFC 6761 §6, RFC 6303, RFC 7686, RFC 8375), as Unbound does by default: queries for them leak
// private information and load the root and the reverse servers for nothing.
var SpecialUseZones = []string{
	"localhost.", "invalid.", "test.", "onion.", "home.arpa.",
	"127.in-addr.arpa.", "0.in-addr.arpa.", "10.in-addr.arpa.", "254.169.in-addr.arpa.",
	"16.172.in-addr.arpa.", "17.172.in-addr.arpa.", "18.172.in-addr.arpa.", "19.172.in-addr.arpa.",
	"20.172.in-addr.arpa.", "21.172.in-addr.arpa.", "22.172.in-addr.arpa.", "23.172.in-addr.arpa.",
	"24.172.in-addr.arpa.", "25.172.in-addr.arpa.", "26.172.in-addr.arpa.", "27.172.in-addr.arpa.",
	"28.172.in-addr.arpa.", "29.172.in-addr.arpa.", "30.172.in-addr.arpa.", "31.172.in-addr.arpa.",
	"168.192.in-addr.arpa.", "2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.", "113.0.203.in-addr.arpa.",
	"255.255.255.255.in-addr.arpa.",
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	"d.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.", "b.e.f.ip6.arpa.",
	"8.b.d.0.1.0.0.2.ip6.arpa.",
}

// specialUseData is what those zones hold besides SOA and NS: localhost and its reverse names.
var specialUseData = map[string]string{
	// Names below localhost are loopback too (RFC 6761 §6.3), as a wildcard makes them.
	"localhost.":        "@ 10800 IN A 127.0.0.1\n@ 10800 IN AAAA ::1\n* 10800 IN A 127.0.0.1\n* 10800 IN AAAA ::1\n",
	"127.in-addr.arpa.": "1.0.0 10800 IN PTR localhost.\n",
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.": "@ 10800 IN PTR localhost.\n",
}

// NewSpecialUse builds the zones of SpecialUseZones, except those in off. Each has the SOA and NS
// Unbound gives its local zones.
func NewSpecialUse(off []string) (*authority.Set, error) {
	var zones []*zone.Zone
	for _, origin := range SpecialUseZones {
		if slices.Contains(off, origin) {
			continue
		}
		text := fmt.Sprintf("$ORIGIN %s\n@ 10800 IN SOA localhost. nobody.invalid. 1 3600 1200 604800 10800\n@ 10800 IN NS localhost.\n%s",
			origin, specialUseData[origin])
		z, _, err := zone.Load(origin, "special-use zone "+origin, []byte(text))
		if err != nil {
			return nil, err
		}
		zones = append(zones, z)
	}
	return authority.New(zones)
}

// under says whether name is one of zones or below one of them.
func under(name string, zones []string) bool {
	for _, z := range zones {
		if name == z || strings.HasSuffix(name, "."+z) {
			return true
		}
	}
	return false
}
