package blocklist

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// hostsLine reads "ADDRESS NAME [NAME...] [# comment]". Only the addresses hosts-file blockers use
// to say "nowhere" count (0.0.0.0, ::, 127.0.0.0/8, ::1): a line that maps a name to a real
// address is a local override, not a block, and is skipped rather than silently turned into one.
// A line with one field and no address is taken as a bare name, as Pi-hole does.
func (p *parser) hostsLine(b []byte) {
	b = cutComment(b)
	if len(b) == 0 {
		return
	}
	first, rest := cutField(b)
	addr, ok := parseAddr(first)
	if !ok {
		if rest == nil {
			if !localName(first) {
				p.add(first, false, false)
			}
			return
		}
		p.skip(p.text, fmt.Sprintf("%q is not an IP address", clip(first)))
		return
	}
	if rest == nil {
		p.skip(p.text, "address without a name")
		return
	}
	if !addr.IsUnspecified() && !addr.IsLoopback() {
		if !allLocal(rest) { // "255.255.255.255 broadcasthost", "ff02::1 ip6-allnodes" are no news
			p.skip(p.text, fmt.Sprintf("address %s is not a blocking address (0.0.0.0, ::, 127.0.0.0/8 or ::1)", addr))
		}
		return
	}
	for len(rest) > 0 {
		var name []byte
		name, rest = cutField(rest)
		if !localName(name) {
			p.add(name, false, false)
		}
	}
}

// parseAddr parses a field as an IP address. The addresses of almost every line of a hosts file are
// recognised without converting the field to a string.
func parseAddr(f []byte) (netip.Addr, bool) {
	switch string(f) {
	case "0.0.0.0":
		return netip.IPv4Unspecified(), true
	case "127.0.0.1":
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), true
	case "::":
		return netip.IPv6Unspecified(), true
	case "::1":
		return netip.IPv6Loopback(), true
	}
	if len(f) == 0 || len(f) > 45 || !(f[0] >= '0' && f[0] <= '9' || f[0] == ':' || bytes.IndexByte(f, ':') > 0) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(string(f))
	return a, err == nil
}

// localName reports the names hosts files list for the machine itself, which blockers leave
// alone, as Pi-hole does: "127.0.0.1 localhost" is in every hosts file and blocks nothing.
func localName(f []byte) bool {
	s := strings.TrimSuffix(strings.ToLower(string(f)), ".")
	switch s {
	case "localhost", "localhost.localdomain", "local", "broadcasthost", "0.0.0.0":
		return true
	}
	return strings.HasPrefix(s, "ip6-")
}

func allLocal(names []byte) bool {
	for len(names) > 0 {
		var name []byte
		name, names = cutField(names)
		if !localName(name) {
			return false
		}
	}
	return true
}

// domainsLine reads "NAME" or "*.NAME" (the name and every name below it, as Blocky reads it),
// with comments after '#' and whole-line comments starting with '!'.
func (p *parser) domainsLine(b []byte) {
	if len(b) == 0 || b[0] == '!' {
		return
	}
	b = cutComment(b)
	if len(b) == 0 {
		return
	}
	name, rest := cutField(b)
	if rest != nil {
		p.skip(p.text, "more than one field on the line (a hosts file? read it as hosts)")
		return
	}
	if name[0] == '|' || bytes.HasPrefix(name, []byte("@@")) {
		p.skip(p.text, "an Adblock rule in a list of names (read it as adblock)")
		return
	}
	wildcard := false
	if bytes.HasPrefix(name, []byte("*.")) {
		wildcard, name = true, name[2:]
	}
	p.add(name, wildcard, false)
}

// adblockLine reads the rules of Adblock syntax that say something about a DNS name, as AdGuard
// Home documents them:
//
//	||example.com^    example.com and every name below it (also without the ^)
//	|example.com^     example.com only (also "|example.com|" and "|example.com")
//	example.com       example.com only
//	example.com^      example.com and every name below it
//	@@RULE            an exception to blocking, in any of the forms above
//	0.0.0.0 NAME      hosts syntax, which AdGuard accepts in any list
//
// Everything else is skipped with a reason: rules with modifiers ($important, $client, ...: AdGuard
// ignores a rule whose modifiers it does not know, and Warden knows none), regular expressions,
// wildcards, URL paths, cosmetic and HTML rules. Comments ('!' or '#') and "[Adblock Plus 2.0]"
// headers are ignored.
func (p *parser) adblockLine(b []byte) {
	if len(b) == 0 || b[0] == '!' || b[0] == '#' || b[0] == '[' {
		return
	}
	if first, rest := cutField(b); rest != nil {
		if _, ok := parseAddr(first); ok {
			p.hostsLine(b)
			return
		}
	}
	allow := false
	if bytes.HasPrefix(b, []byte("@@")) {
		allow, b = true, b[2:]
	}
	if i := bytes.IndexByte(b, '#'); i >= 0 {
		if i == 0 || !isSpace(b[i-1]) {
			p.skip(p.text, "cosmetic rule: not a DNS rule")
			return
		}
		b = trimSpace(b[:i]) // "example.com # comment"
	}
	if len(b) > 0 && b[0] == '/' {
		p.skip(p.text, "regular expression: not supported")
		return
	}
	if bytes.Contains(b, []byte("$$")) {
		p.skip(p.text, "HTML filtering rule: not a DNS rule")
		return
	}
	if i := bytes.IndexByte(b, '$'); i >= 0 {
		p.skip(p.text, modifierProblem(b[i+1:]))
		return
	}
	if len(b) == 0 {
		p.skip(p.text, "empty rule")
		return
	}
	for _, c := range b {
		if isSpace(c) {
			p.skip(p.text, "white space inside a rule")
			return
		}
	}
	anchored, exact := false, false
	switch {
	case bytes.HasPrefix(b, []byte("||")):
		anchored, b = true, b[2:]
	case b[0] == '|':
		exact, b = true, b[1:]
	}
	ended := false
	for len(b) > 0 && (b[len(b)-1] == '^' || b[len(b)-1] == '|') {
		ended, b = true, b[:len(b)-1]
	}
	switch {
	case bytes.IndexByte(b, '/') >= 0 || bytes.IndexByte(b, ':') >= 0:
		p.skip(p.text, "URL rule (scheme, port or path): not a DNS rule")
		return
	case len(b) == 0 || string(b) == "*" || string(b) == "*.":
		p.skip(p.text, "matches every name: not supported")
		return
	case bytes.HasPrefix(b, []byte("*.")):
		p.skip(p.text, "pattern not supported: a leading *. matches only the names below (write ||name^ for the name and all below it)")
		return
	case bytes.IndexByte(b, '*') >= 0:
		p.skip(p.text, "pattern not supported: wildcard inside a name")
		return
	case bytes.IndexByte(b, '^') >= 0 || bytes.IndexByte(b, '|') >= 0:
		p.skip(p.text, "pattern not supported: separator inside a name")
		return
	}
	p.add(b, anchored || ended && !exact, allow)
}

// modifierProblem names the modifiers of a skipped rule, so a reader can see whether the list is
// meant for a browser ($third-party, $script) or uses AdGuard Home's DNS modifiers ($client,
// $important, $badfilter, $dnsrewrite, ...).
func modifierProblem(mods []byte) string {
	var names []string
	for m := range strings.SplitSeq(string(mods), ",") {
		name, _, _ := strings.Cut(m, "=")
		name = strings.TrimSpace(name)
		if name != "" {
			names = append(names, "$"+name)
		}
		if len(names) == 3 {
			names = append(names, "...")
			break
		}
	}
	if len(names) == 0 {
		return "empty modifier list: not supported"
	}
	return "modifier " + strings.Join(names, ", ") + ": not supported"
}
