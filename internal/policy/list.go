package policy

import (
	"fmt"
	"net/netip"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/rdata"

	"warden/internal/policy/blocklist"
)

// NewBlocklistSet returns a rule set whose QNAME rules are the names of ix, all with one action:
// a name the index blocks matches, a name it does not know or that one of its exceptions (Allow
// entries, "@@||name^") covers does not. The names stay in the index, about 33 bytes each,
// instead of becoming a map entry and a Rule each as an RPZ zone's names do; a million-name list
// then costs tens of megabytes, not hundreds.
//
// action is NXDomain, NoData, Drop, TCPOnly or Local with data (NullAnswer for the "0.0.0.0"
// answers of Pi-hole and AdGuard Home). Options.Blocklist is set, so answers carry the Extended
// DNS Error Filtered. The one Rule of the set stands for every name of the index; its Owner is
// the set's name.
func NewBlocklistSet(ix *blocklist.Index, opts Options, action Action, data []dns.RR) (*RuleSet, error) {
	switch {
	case ix == nil:
		return nil, fmt.Errorf("blocklist %s: no index", opts.Name)
	case action == NoAction || action > Local:
		return nil, fmt.Errorf("blocklist %s: action %s", opts.Name, action)
	case action == Local && len(data) == 0:
		return nil, fmt.Errorf("blocklist %s: action local without data", opts.Name)
	case action != Local && len(data) > 0:
		return nil, fmt.Errorf("blocklist %s: data given for action %s", opts.Name, action)
	}
	opts.Blocklist = true
	c := newCompiler(opts)
	c.set.list = ix
	c.set.rules = []Rule{{Trigger: QName, Owner: opts.Name, Action: action, Data: data}}
	return c.finish()
}

// NullAnswer is the local data of "null" blocking: A 0.0.0.0 and AAAA ::, as Pi-hole and AdGuard
// Home answer for a blocked name (and NODATA for other types). Clients give up at once on these
// addresses instead of waiting for a server that is not there.
func NullAnswer(ttl uint32) []dns.RR {
	h := dns.Header{Name: ".", Class: dns.ClassINET, TTL: ttl}
	return []dns.RR{
		&dns.A{Hdr: h, A: rdata.A{Addr: netip.IPv4Unspecified()}},
		&dns.AAAA{Hdr: h, AAAA: rdata.AAAA{Addr: netip.IPv6Unspecified()}},
	}
}

// Index returns the compiled list behind the set, nil for an RPZ zone.
func (s *RuleSet) Index() *blocklist.Index { return s.list }

// listRule returns the set's blocklist rule when its index blocks name: wire, when not nil, is
// name in lower-case wire form (cheaper to look up), else name is converted.
func (s *RuleSet) listRule(name string, wire []byte) *Rule {
	var blocked bool
	if wire != nil {
		blocked, _ = s.list.MatchWire(wire)
	} else {
		blocked, _ = s.list.Match(name)
	}
	if !blocked {
		return nil
	}
	return &s.rules[0]
}
