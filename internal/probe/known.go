package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"codeberg.org/miekg/dns"

	"warden/internal/upstream"
)

// Known is a trusted channel read from a file of known answers, one per line:
//
//	www.example.  A     192.0.2.1
//	www.example.  AAAA  2001:db8::1
//	gone.example. NXDOMAIN
//
// Several lines for one name and type add up to one address set. Text after # is a comment.
type Known struct {
	source  string
	answers map[knownKey][]netip.Addr
	nx      map[string]bool
}

type knownKey struct {
	name  string
	qtype uint16
}

var _ Trusted = (*Known)(nil)

// LoadKnown reads a known-answers file.
func LoadKnown(path string) (*Known, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("known answers: %w", err)
	}
	defer f.Close()
	return ParseKnown(f, path)
}

// ParseKnown reads known answers from r; source names r in errors ("file:line: ...").
func ParseKnown(r io.Reader, source string) (*Known, error) {
	k := &Known{source: source, answers: map[knownKey][]netip.Addr{}, nx: map[string]bool{}}
	err := eachLine(r, source, func(fields []string) error {
		name, err := CanonicalName(fields[0])
		if err != nil {
			return err
		}
		if len(fields) == 2 && strings.EqualFold(fields[1], "NXDOMAIN") {
			if k.hasAddrs(name) {
				return fmt.Errorf("%s is NXDOMAIN here but has addresses on an earlier line", name)
			}
			k.nx[name] = true
			return nil
		}
		if len(fields) != 3 {
			return fmt.Errorf("want NAME A ADDR, NAME AAAA ADDR or NAME NXDOMAIN, got %d fields", len(fields))
		}
		qtype, ok := map[string]uint16{"A": dns.TypeA, "AAAA": dns.TypeAAAA}[strings.ToUpper(fields[1])]
		if !ok {
			return fmt.Errorf("type %q: want A, AAAA or NXDOMAIN", fields[1])
		}
		ip, err := netip.ParseAddr(fields[2])
		if err != nil {
			return fmt.Errorf("address %q: %w", fields[2], err)
		}
		if ip.Zone() != "" {
			return fmt.Errorf("address %q: a zone has no place in a DNS answer", fields[2])
		}
		ip = ip.Unmap()
		if (qtype == dns.TypeA) != ip.Is4() {
			return fmt.Errorf("address %s does not fit type %s", ip, strings.ToUpper(fields[1]))
		}
		if k.nx[name] {
			return fmt.Errorf("%s has an address here but is NXDOMAIN on an earlier line", name)
		}
		key := knownKey{name, qtype}
		k.answers[key] = append(k.answers[key], ip)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Known) hasAddrs(name string) bool {
	return len(k.answers[knownKey{name, dns.TypeA}]) > 0 || len(k.answers[knownKey{name, dns.TypeAAAA}]) > 0
}

func (k *Known) String() string { return k.source }

// Lookup returns the file's answer. A name with addresses of the other type only is answered
// NOERROR without addresses: the file says the name exists.
func (k *Known) Lookup(_ context.Context, name string, qtype uint16) (Answer, bool, error) {
	name, err := CanonicalName(name)
	if err != nil {
		return Answer{}, false, err
	}
	if k.nx[name] {
		return Answer{Rcode: dns.RcodeNameError}, true, nil
	}
	if !k.hasAddrs(name) {
		return Answer{}, false, nil
	}
	a := Answer{Rcode: dns.RcodeSuccess, Addrs: append([]netip.Addr(nil), k.answers[knownKey{name, qtype}]...)}
	a.normalise()
	return a, true, nil
}

// Forged is a list of addresses known to appear only in forged answers (the sinkholes and block
// pages of a known injector): one address or prefix per line, text after # a comment.
type Forged struct {
	prefixes []netip.Prefix
}

// LoadForged reads a forged-address file.
func LoadForged(path string) (*Forged, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("forged addresses: %w", err)
	}
	defer f.Close()
	return ParseForged(f, path)
}

// ParseForged reads a forged-address list from r; source names r in errors.
func ParseForged(r io.Reader, source string) (*Forged, error) {
	fl := &Forged{}
	err := eachLine(r, source, func(fields []string) error {
		if len(fields) != 1 {
			return fmt.Errorf("want one address or prefix, got %d fields", len(fields))
		}
		p, err := parsePrefix(fields[0])
		if err != nil {
			return err
		}
		fl.prefixes = append(fl.prefixes, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return fl, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("prefix %q: %w", s, err)
		}
		if p.Addr().Is4In6() {
			return netip.Prefix{}, fmt.Errorf("prefix %q: write IPv4 prefixes in IPv4 form", s)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("address %q: %w", s, err)
	}
	if ip.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("address %q: a zone has no place in a DNS answer", s)
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// Match returns the first listed prefix that holds one of addrs.
func (fl *Forged) Match(addrs []netip.Addr) (netip.Addr, netip.Prefix, bool) {
	if fl == nil {
		return netip.Addr{}, netip.Prefix{}, false
	}
	for _, ip := range addrs {
		for _, p := range fl.prefixes {
			if p.Contains(ip.Unmap()) {
				return ip, p, true
			}
		}
	}
	return netip.Addr{}, netip.Prefix{}, false
}

// maxLine bounds one line of an input file, so that a file without newlines cannot make a line
// buffer grow without limit.
const maxLine = 64 << 10

// eachLine calls fn with the fields of every line of r that is not blank or a comment, and
// prefixes its error with source and line number.
func eachLine(r io.Reader, source string, fn func(fields []string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if err := fn(fields); err != nil {
			return fmt.Errorf("%s:%d: %w", source, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	return nil
}

// CanonicalName lowercases a name and makes it fully qualified, refusing what cannot be sent as a
// query name (escapes, empty or long labels), so that files and the command line meet on one
// spelling.
func CanonicalName(s string) (string, error) {
	if _, err := upstream.NewQuery(s, dns.TypeA); err != nil {
		return "", errors.New(strings.TrimPrefix(err.Error(), upstream.ErrBadQuery.Error()+": "))
	}
	// Only ASCII letters fold, byte by byte: strings.ToLower and strings.Map would turn bytes
	// that are not UTF-8 into U+FFFD and so change, and lengthen, the name.
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	if !strings.HasSuffix(s, ".") {
		b = append(b, '.')
	}
	return string(b), nil
}

// LoadNames reads a file of names to probe, one per line, text after # a comment.
func LoadNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("names: %w", err)
	}
	defer f.Close()
	return ParseNames(f, path)
}

// ParseNames reads names, one per line, from r; source names r in errors.
func ParseNames(r io.Reader, source string) ([]string, error) {
	var names []string
	err := eachLine(r, source, func(fields []string) error {
		if len(fields) != 1 {
			return fmt.Errorf("want one name, got %d fields", len(fields))
		}
		n, err := CanonicalName(fields[0])
		if err != nil {
			return err
		}
		names = append(names, n)
		return nil
	})
	return names, err
}
