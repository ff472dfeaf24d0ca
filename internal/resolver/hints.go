package resolver

import (
	"bytes"
	_ "embed" // the IANA root hints are built in
	"fmt"
	"net/netip"
	"strings"

	"codeberg.org/miekg/dns"
)

// ianaRootHints is the root hints file IANA publishes (named.root), as facts: the root servers'
// names and addresses. It is used only when an operator asks for it (`--root-hints iana`); no test
// or default configuration sends a query to these addresses.
//
//go:embed named.root
var ianaRootHints []byte

// IANARootHints returns the built-in hints for the real root.
func IANARootHints() []NameServer {
	hints, err := ParseHints(ianaRootHints, "built-in named.root")
	if err != nil {
		panic("resolver: built-in root hints: " + err.Error()) // a broken build, caught by tests
	}
	return hints
}

// ParseHints reads a root hints file (master-file text: NS records for the root and the addresses
// of those names). name is used in messages. Every NS name must have at least one address.
func ParseHints(data []byte, name string) ([]NameServer, error) {
	zp := dns.NewZoneParser(bytes.NewReader(data), ".", name)
	zp.SetDefaultTTL(3600000)
	var order []string
	addrs := map[string][]netip.Addr{}
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		owner := strings.ToLower(rr.Header().Name)
		switch x := rr.(type) {
		case *dns.NS:
			if owner != "." {
				return nil, fmt.Errorf("%s: NS record for %q: root hints hold NS records of the root only", name, owner)
			}
			order = append(order, strings.ToLower(x.Ns))
		case *dns.A:
			addrs[owner] = append(addrs[owner], x.A.Addr)
		case *dns.AAAA:
			addrs[owner] = append(addrs[owner], x.AAAA.Addr)
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("root hints: %w", err)
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("%s: no NS records for the root", name)
	}
	out := make([]NameServer, 0, len(order))
	for _, ns := range order {
		if len(addrs[ns]) == 0 {
			return nil, fmt.Errorf("%s: root server %s has no address", name, ns)
		}
		out = append(out, NameServer{Name: ns, Addrs: addrs[ns]})
	}
	return out, nil
}
