package probe

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"codeberg.org/miekg/dns"
)

// Answer is what one reply said about one question, reduced to what tampering changes: the
// response code and the addresses of the asked type. CNAMEs are followed implicitly, since every
// address of the asked type in the answer section counts, whatever its owner.
type Answer struct {
	Rcode uint16
	// Addrs is sorted and without duplicates, so that two answers compare with slices.Equal.
	Addrs []netip.Addr
	// Filter is the resolver's own statement that it filtered the name (an Extended DNS Error
	// of FilterCodes), nil when it made none. It is not part of Equal: two replies that differ
	// only in it give the same answer.
	Filter *ExtendedError
}

// ExtendedError is an Extended DNS Error option of a reply (RFC 8914).
type ExtendedError struct {
	Code uint16
	Text string // EXTRA-TEXT, as the resolver sent it
}

// FilterCodes are the Extended DNS Errors by which a resolver declares that it filters a name
// (RFC 8914 §4.16–4.18): Blocked by its operator's policy, Censored on an outside authority's
// demand, Filtered at the client's request. Declared filtering is not tampering: the resolver
// says what it did.
var FilterCodes = map[uint16]string{15: "Blocked", 16: "Censored", 17: "Filtered"}

func (e ExtendedError) String() string {
	s := fmt.Sprintf("EDE %d (%s)", e.Code, FilterCodes[e.Code])
	if e.Text != "" {
		s += fmt.Sprintf(" %q", e.Text)
	}
	return s
}

// parseAnswer reads a reply's wire bytes into an Answer.
func parseAnswer(b []byte, qtype uint16) (Answer, error) {
	m := &dns.Msg{Data: b}
	if err := m.Unpack(); err != nil {
		return Answer{}, fmt.Errorf("unpack reply: %w", err)
	}
	a := Answer{Rcode: m.Rcode}
	for _, o := range m.Pseudo {
		if e, ok := o.(*dns.EDE); ok && FilterCodes[e.InfoCode] != "" && a.Filter == nil {
			a.Filter = &ExtendedError{Code: e.InfoCode, Text: e.ExtraText}
		}
	}
	for _, rr := range m.Answer {
		switch r := rr.(type) {
		case *dns.A:
			if qtype == dns.TypeA {
				a.Addrs = append(a.Addrs, r.Addr)
			}
		case *dns.AAAA:
			if qtype == dns.TypeAAAA {
				a.Addrs = append(a.Addrs, r.Addr)
			}
		}
	}
	a.normalise()
	return a, nil
}

func (a *Answer) normalise() {
	for i, ip := range a.Addrs {
		a.Addrs[i] = ip.Unmap()
	}
	slices.SortFunc(a.Addrs, netip.Addr.Compare)
	a.Addrs = slices.Compact(a.Addrs)
}

// Equal reports whether a and b give the same response code and the same addresses.
func (a Answer) Equal(b Answer) bool {
	return a.Rcode == b.Rcode && slices.Equal(a.Addrs, b.Addrs)
}

// String is the answer as evidence shows it: "NXDOMAIN", "NOERROR 192.0.2.1 192.0.2.2",
// "NOERROR (no addresses)".
func (a Answer) String() string {
	var b strings.Builder
	b.WriteString(rcodeName(a.Rcode))
	if a.Rcode == dns.RcodeSuccess && len(a.Addrs) == 0 {
		b.WriteString(" (no addresses)")
	}
	for _, ip := range a.Addrs {
		b.WriteByte(' ')
		b.WriteString(ip.String())
	}
	return b.String()
}

// addrStrings returns the addresses as text for Result, nil when there are none.
func (a Answer) addrStrings() []string {
	if len(a.Addrs) == 0 {
		return nil
	}
	out := make([]string, len(a.Addrs))
	for i, ip := range a.Addrs {
		out[i] = ip.String()
	}
	return out
}

func rcodeName(rcode uint16) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rcode)
}

// sameNetwork reports whether every address of got lies in the /24 (IPv4) or /48 (IPv6) of some
// address of want: the spread a CDN shows when two resolvers are sent to different nodes of one
// site, which is not tampering.
func sameNetwork(got, want []netip.Addr) bool {
	if len(got) == 0 || len(want) == 0 {
		return false
	}
	nets := make([]netip.Prefix, 0, len(want))
	for _, w := range want {
		nets = append(nets, cdnPrefix(w))
	}
	for _, g := range got {
		if !slices.ContainsFunc(nets, func(p netip.Prefix) bool { return p.Contains(g) }) {
			return false
		}
	}
	return true
}

func cdnPrefix(ip netip.Addr) netip.Prefix {
	bits := 48
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return p
}
