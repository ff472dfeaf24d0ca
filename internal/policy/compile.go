package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
	"codeberg.org/miekg/dns/rdata"
)

// Problem is one finding about a policy record. Line is filled in by LoadRPZFile (0 when unknown).
type Problem struct {
	File  string
	Line  int
	Owner string
	Type  uint16
	Msg   string
}

func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	}
	if p.Owner != "" {
		b.WriteString(p.Owner)
		if p.Type != 0 {
			b.WriteString(" ")
			b.WriteString(dns.TypeToString[p.Type])
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// CompileError lists what made a policy source unusable.
type CompileError struct {
	Name     string
	Problems []Problem
}

func (e *CompileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy %s:", e.Name)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// maxProblems stops listing after this many; one mistake a million times is one message.
const maxProblems = 20

// Warnings returns what was skipped while compiling the set (records BIND also ignores, such as a
// malformed address trigger), each naming its record.
func (s *RuleSet) Warnings() []Problem { return s.warnings }

// The special CNAME targets of RPZ actions (draft-ietf-dnsop-dns-rpz §5).
const (
	targetPassthru = "rpz-passthru."
	targetDrop     = "rpz-drop."
	targetTCPOnly  = "rpz-tcp-only."
)

// Label suffixes that select the trigger of an owner name (draft-ietf-dnsop-dns-rpz §4).
const (
	labelClientIP = "rpz-client-ip"
	labelIP       = "rpz-ip"
	labelNSDName  = "rpz-nsdname"
	labelNSIP     = "rpz-nsip"
)

// CompileRPZ compiles the records of the policy zone origin (as a zone file or transfer gives them)
// into a rule set. Records at the apex other than the SOA are ignored, as BIND does. Malformed
// triggers are skipped with a warning (BIND logs and skips them too); what makes the zone unusable
// (no SOA, a record outside the zone, a CNAME beside other data) is an error.
func CompileRPZ(origin string, rrs []dns.RR, opts Options) (*RuleSet, error) {
	origin = lowerName(origin)
	if opts.Name == "" {
		opts.Name = origin
	}
	c := newCompiler(opts)
	c.set.origin = origin
	// Records of one owner normally sit together; a group is a run of them in kept. An owner that
	// comes back later is merged into its rule when the rule is added.
	type group struct {
		owner    string
		from, to int
	}
	var order []group
	kept := make([]dns.RR, 0, len(rrs))
	for _, rr := range rrs {
		if rr == nil {
			continue
		}
		owner := lowerName(rr.Header().Name)
		if owner != origin && !strings.HasSuffix(owner, "."+origin) && origin != "." {
			c.errorf(rr, "record outside the policy zone %s", origin)
			continue
		}
		if owner == origin {
			if soa, ok := rr.(*dns.SOA); ok {
				if c.set.soa != nil {
					c.errorf(rr, "second SOA record")
					continue
				}
				c.set.soa = soa
			}
			continue
		}
		kept = append(kept, rr)
		if n := len(order); n > 0 && order[n-1].owner == owner {
			order[n-1].to++
			continue
		}
		order = append(order, group{owner: owner, from: len(kept) - 1, to: len(kept)})
	}
	c.set.qname.exact = make(map[string]int32, len(order))
	c.set.rules = make([]Rule, 0, len(order))
	if c.set.soa == nil {
		c.errs = append(c.errs, Problem{Owner: origin, Msg: "no SOA record at the apex"})
	}
	c.set.qname.exact = make(map[string]int32, len(order))
	c.set.rules = make([]Rule, 0, len(order))
	for _, g := range order {
		if len(c.errs) >= maxProblems {
			break
		}
		rel := strings.TrimSuffix(g.owner, origin)
		if origin == "." {
			rel = g.owner
		}
		rel = strings.TrimSuffix(rel, ".")
		c.addOwner(g.owner, rel, kept[g.from:g.to:g.to])
	}
	return c.finish()
}

// compiler accumulates one rule set.
type compiler struct {
	set   *RuleSet
	errs  []Problem
	warns []Problem
}

func newCompiler(opts Options) *compiler {
	c := &compiler{set: &RuleSet{opts: opts}}
	if opts.Override == OverrideCNAME {
		target := lowerName(opts.OverrideCNAME)
		if !dnsutil.IsName(target) || opts.OverrideCNAME == "" {
			c.errs = append(c.errs, Problem{Msg: fmt.Sprintf("override cname: %q is not a domain name", opts.OverrideCNAME)})
		} else {
			cn := &dns.CNAME{Hdr: dns.Header{Name: "*.", Class: dns.ClassINET, TTL: 300}, CNAME: rdata.CNAME{Target: target}}
			c.set.override = &Rule{Set: c.set, Action: Local, Data: []dns.RR{cn}}
		}
	}
	return c
}

func (c *compiler) errorf(rr dns.RR, format string, args ...any) {
	c.errs = append(c.errs, problemOf(rr, format, args...))
}

func (c *compiler) warnf(rr dns.RR, format string, args ...any) {
	if len(c.warns) < maxProblems {
		c.warns = append(c.warns, problemOf(rr, format, args...))
	}
}

func problemOf(rr dns.RR, format string, args ...any) Problem {
	p := Problem{Msg: fmt.Sprintf(format, args...)}
	if rr != nil {
		p.Owner, p.Type = rr.Header().Name, dns.RRToType(rr)
	}
	return p
}

func (c *compiler) finish() (*RuleSet, error) {
	if len(c.errs) > 0 {
		return nil, &CompileError{Name: c.set.opts.Name, Problems: c.errs}
	}
	c.set.warnings = c.warns
	// Rules were appended while the maps were filled; fix up the back pointers now that the
	// slice no longer moves.
	for i := range c.set.rules {
		c.set.rules[i].Set = c.set
		c.set.rules[i].index = int32(i)
	}
	return c.set, nil
}

// addOwner compiles the records of one owner name; rel is the owner without the origin.
func (c *compiler) addOwner(owner, rel string, rrs []dns.RR) {
	action, data, ok := c.action(owner, rel, rrs)
	if !ok {
		return
	}
	labels := strings.Split(rel, ".")
	last := labels[len(labels)-1]
	switch last {
	case labelClientIP, labelIP, labelNSIP:
		pfx, err := decodePrefix(labels[:len(labels)-1])
		if err != nil {
			c.warnf(rrs[0], "%s trigger skipped: %v", last, err)
			return
		}
		t := map[string]Trigger{labelClientIP: ClientIP, labelIP: ResponseIP, labelNSIP: NSIP}[last]
		target := map[Trigger]*prefixes{ClientIP: &c.set.clientIP, ResponseIP: &c.set.ip, NSIP: &c.set.nsip}[t]
		i := int32(len(c.set.rules))
		if !target.add(pfx, i) {
			c.merge(rrs[0], target.m[pfx], owner, action, data)
			return
		}
		c.set.rules = append(c.set.rules, Rule{Trigger: t, Owner: owner, Action: action, Data: data})
	case labelNSDName:
		name := strings.Join(labels[:len(labels)-1], ".")
		c.addName(rrs[0], &c.set.nsdname, NSDName, name, owner, action, data)
	default:
		c.addName(rrs[0], &c.set.qname, QName, rel, owner, action, data)
	}
}

func (c *compiler) addName(rr dns.RR, n *names, t Trigger, name, owner string, a Action, data []dns.RR) {
	wildcard := false
	switch {
	case name == "*":
		wildcard, name = true, ""
	case strings.HasPrefix(name, "*."):
		wildcard, name = true, name[2:]
	case name == "":
		c.warnf(rr, "%s trigger without a name skipped", t)
		return
	}
	if strings.Contains(name, "*") {
		c.warnf(rr, "%s trigger skipped: '*' is allowed only as the first label", t)
		return
	}
	name += "."
	if name == ".." {
		name = "."
	}
	i := int32(len(c.set.rules))
	if !n.add(name, wildcard, i) {
		m := n.exact
		if wildcard {
			m = n.wild
		}
		c.merge(rr, m[name], owner, a, data)
		return
	}
	c.set.rules = append(c.set.rules, Rule{Trigger: t, Owner: owner, Action: a, Data: data})
}

// merge adds the records of an owner seen again further down the zone to its rule i. Only local
// data merges; anything else is a second policy for one trigger, which BIND refuses too.
func (c *compiler) merge(rr dns.RR, i int32, owner string, a Action, data []dns.RR) {
	r := &c.set.rules[i]
	if r.Owner != owner {
		c.warnf(rr, "a second rule for the same %s trigger (%s) is ignored", r.Trigger, r.Owner)
		return
	}
	if a != Local || r.Action != Local || hasCNAME(data) || hasCNAME(r.Data) {
		c.errorf(rr, "CNAME and other data")
		return
	}
	r.Data = append(r.Data[:len(r.Data):len(r.Data)], data...)
}

func hasCNAME(rrs []dns.RR) bool {
	for _, rr := range rrs {
		if _, ok := rr.(*dns.CNAME); ok {
			return true
		}
	}
	return false
}

// action decodes what the records of one owner say to do.
func (c *compiler) action(owner, rel string, rrs []dns.RR) (Action, []dns.RR, bool) {
	var cname *dns.CNAME
	for _, rr := range rrs {
		switch x := rr.(type) {
		case *dns.CNAME:
			cname = x
		case *dns.SOA, *dns.NS, *dns.DNAME:
			c.warnf(rr, "%s records below the apex of a policy zone are ignored", dns.TypeToString[dns.RRToType(rr)])
			return 0, nil, false
		}
	}
	if cname == nil {
		return Local, rrs, true
	}
	if len(rrs) > 1 {
		c.errorf(cname, "CNAME and other data")
		return 0, nil, false
	}
	target := lowerName(cname.Target)
	switch target {
	case ".":
		return NXDomain, nil, true
	case "*.":
		return NoData, nil, true
	case targetPassthru:
		return Passthru, nil, true
	case targetDrop:
		return Drop, nil, true
	case targetTCPOnly:
		return TCPOnly, nil, true
	}
	if target == rel+"." && !strings.HasPrefix(rel, "*") {
		return Passthru, nil, true // the old PASSTHRU encoding: a CNAME to the name itself
	}
	if strings.HasPrefix(rel, "*.") && target == rel[2:]+"." {
		return Passthru, nil, true
	}
	return Local, rrs, true
}

// decodePrefix reads the address of an IP trigger from its labels: prefix length first, then the
// address with its least significant part first; for IPv6, "zz" stands for the "::" run
// (draft-ietf-dnsop-dns-rpz §4.1.1). The address must have no bits beyond the prefix.
func decodePrefix(labels []string) (netip.Prefix, error) {
	if len(labels) < 2 {
		return netip.Prefix{}, errors.New("want a prefix length and an address")
	}
	bits, err := strconv.Atoi(labels[0])
	if err != nil || labels[0] != strconv.Itoa(bits) {
		return netip.Prefix{}, fmt.Errorf("bad prefix length %q", labels[0])
	}
	parts := labels[1:]
	var addr netip.Addr
	if len(parts) == 4 && !strings.Contains(strings.Join(parts, ""), "zz") && allDecimal(parts) {
		if bits < 1 || bits > 32 {
			return netip.Prefix{}, fmt.Errorf("IPv4 prefix length %d out of 1..32", bits)
		}
		addr, err = netip.ParseAddr(parts[3] + "." + parts[2] + "." + parts[1] + "." + parts[0])
		if err != nil || !addr.Is4() {
			return netip.Prefix{}, fmt.Errorf("bad IPv4 address %s", strings.Join(parts, "."))
		}
	} else {
		if bits < 1 || bits > 128 {
			return netip.Prefix{}, fmt.Errorf("IPv6 prefix length %d out of 1..128", bits)
		}
		words := make([]string, len(parts))
		zz := 0
		for i, p := range parts {
			w := parts[len(parts)-1-i]
			if w == "zz" {
				zz++
				w = ""
			} else if len(w) == 0 || len(w) > 4 || !isHex(w) {
				return netip.Prefix{}, fmt.Errorf("bad IPv6 word %q", p)
			}
			words[i] = w
		}
		if zz > 1 || (zz == 0 && len(words) != 8) || (zz == 1 && len(words) > 7) {
			return netip.Prefix{}, fmt.Errorf("bad IPv6 address %s", strings.Join(parts, "."))
		}
		text := strings.Join(words, ":")
		if strings.HasPrefix(text, ":") {
			text = ":" + text
		}
		if strings.HasSuffix(text, ":") {
			text += ":"
		}
		addr, err = netip.ParseAddr(text)
		if err != nil || !addr.Is6() {
			return netip.Prefix{}, fmt.Errorf("bad IPv6 address %s", strings.Join(parts, "."))
		}
	}
	pfx := netip.PrefixFrom(addr, bits)
	if pfx.Masked() != pfx {
		return netip.Prefix{}, fmt.Errorf("address %s has bits set beyond the prefix length %d", addr, bits)
	}
	return pfx, nil
}

func allDecimal(parts []string) bool {
	for _, p := range parts {
		if p == "" || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// EncodePrefix is the owner-name form of an IP trigger for pfx (without the rpz-ip label and the
// origin): the inverse of what CompileRPZ reads, for tests and tools.
func EncodePrefix(pfx netip.Prefix) string {
	a := pfx.Addr()
	if a.Is4() {
		b := a.As4()
		return fmt.Sprintf("%d.%d.%d.%d.%d", pfx.Bits(), b[3], b[2], b[1], b[0])
	}
	b := a.As16()
	words := make([]string, 8)
	for i := range words {
		words[i] = strconv.FormatUint(uint64(b[2*i])<<8|uint64(b[2*i+1]), 16)
	}
	// The longest run of zero words (at least two) becomes "zz", as in RFC 5952's "::".
	bestAt, bestLen := -1, 1
	for i := 0; i < 8; {
		if words[i] != "0" {
			i++
			continue
		}
		j := i
		for j < 8 && words[j] == "0" {
			j++
		}
		if j-i > bestLen {
			bestAt, bestLen = i, j-i
		}
		i = j
	}
	if bestAt >= 0 {
		words = append(words[:bestAt:bestAt], append([]string{"zz"}, words[bestAt+bestLen:]...)...)
	}
	out := []string{strconv.Itoa(pfx.Bits())}
	for i := len(words) - 1; i >= 0; i-- {
		out = append(out, words[i])
	}
	return strings.Join(out, ".")
}

// Builder compiles rules given one by one, for policy sources that are not RPZ zones (blocklists).
type Builder struct {
	c *compiler
}

// NewBuilder starts a rule set with opts; Options.Blocklist is set.
func NewBuilder(opts Options) *Builder {
	opts.Blocklist = true
	return &Builder{c: newCompiler(opts)}
}

// AddQName adds a QNAME rule: name (fully qualified or not, any case), or with wildcard set every
// name below it (not name itself; add both for a domain and its subdomains). data is the local
// data of a Local action, owner the rule as its source wrote it (a list line, say). A second rule
// for the same trigger is ignored, as in an RPZ zone, and reported by Build's set's Warnings.
func (b *Builder) AddQName(name string, wildcard bool, a Action, data []dns.RR, owner string) error {
	name = lowerName(strings.TrimSpace(name))
	if !dnsutil.IsName(name) || strings.Contains(name, "*") || strings.Contains(name, `\`) {
		return fmt.Errorf("%s: %q is not a domain name", owner, name)
	}
	if a == NoAction || a > Local || a == Local && len(data) == 0 {
		return fmt.Errorf("%s: action %s without data", owner, a)
	}
	i := int32(len(b.c.set.rules))
	if !b.c.set.qname.add(name, wildcard, i) {
		b.c.warns = append(b.c.warns, Problem{Owner: owner, Msg: "a second rule for the same name is ignored"})
		return nil
	}
	b.c.set.rules = append(b.c.set.rules, Rule{Trigger: QName, Owner: owner, Action: a, Data: data})
	return nil
}

// Build returns the rule set. The builder must not be used afterwards.
func (b *Builder) Build() (*RuleSet, error) { return b.c.finish() }
