package blocklist

import (
	"fmt"
	"net/netip"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits of a domain name in presentation form without its trailing dot (RFC 1035 §2.3.4: 255
// octets in wire form, which is 253 characters of text).
const (
	maxNameLen  = 253
	maxLabelLen = 63
)

// canonicalName checks one name as written in a list and returns it lower-case, with a trailing dot,
// appended to dst; why says what is wrong when it is not a name a list can block.
//
// Accepted: ASCII letters, digits, '-' and '_' (underscores are not hostname characters, but real
// lists carry names such as "_dmarc.example.com" and ad servers named with them, and DNS itself
// allows any octet), at most 63 per label and 253 in all. Names in Unicode are converted to their
// ASCII (punycode) form with IDNA's lookup rules. An IP address, or a name whose last label is all
// digits, is no name a query would ask for, and is refused rather than read as one.
func canonicalName(dst, raw []byte) (out []byte, why string) {
	if len(raw) == 0 {
		return dst, "empty name"
	}
	if len(raw) > 4*maxNameLen {
		return dst, "name longer than 253 characters"
	}
	for _, c := range raw {
		if c >= utf8.RuneSelf {
			return idnaName(dst, raw)
		}
	}
	if raw[len(raw)-1] == '.' {
		raw = raw[:len(raw)-1]
		if len(raw) == 0 {
			return dst, "the root, not a name"
		}
	}
	if len(raw) > maxNameLen {
		return dst, "name longer than 253 characters"
	}
	start := len(dst)
	labelStart, digitsOnly := 0, true
	for i, c := range raw {
		switch {
		case c == '.':
			if i == labelStart {
				return dst[:start], "empty label"
			}
			if i-labelStart > maxLabelLen {
				return dst[:start], "label longer than 63 characters"
			}
			labelStart, digitsOnly = i+1, true
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
			digitsOnly = false
		case c >= 'a' && c <= 'z', c == '-', c == '_':
			digitsOnly = false
		case c >= '0' && c <= '9':
		default:
			if c == ':' && isAddr(raw) {
				return dst[:start], "an IP address, not a name"
			}
			return dst[:start], fmt.Sprintf("character %q not allowed in a name", rune(c))
		}
		dst = append(dst, c)
	}
	if len(raw) == labelStart {
		return dst[:start], "empty label"
	}
	if len(raw)-labelStart > maxLabelLen {
		return dst[:start], "label longer than 63 characters"
	}
	if digitsOnly {
		if isAddr(raw) {
			return dst[:start], "an IP address, not a name"
		}
		return dst[:start], "last label is all digits: an address, not a name"
	}
	return append(dst, '.'), ""
}

// isAddr reports whether raw is an IPv4 or IPv6 address (hosts files put "0.0.0.0" among the
// names; some lists carry bare addresses). It is asked only once a name has failed for another
// reason, so that good names are not converted to strings for it.
func isAddr(raw []byte) bool {
	_, err := netip.ParseAddr(string(raw))
	return err == nil
}

// idnaProfile converts names written in Unicode to the ASCII form DNS carries. It is the lookup
// profile (UTS #46 mapping, so "Bücher.Example" and "bücher.example" are one name) without the
// STD3 restriction, so that a label with an underscore is judged by canonicalName like any other.
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.StrictDomainName(false))

func idnaName(dst, raw []byte) ([]byte, string) {
	if !utf8.Valid(raw) {
		return dst, "not valid UTF-8"
	}
	ascii, err := idnaProfile.ToASCII(string(raw))
	if err != nil {
		return dst, "invalid international name"
	}
	for i := 0; i < len(ascii); i++ {
		if ascii[i] >= utf8.RuneSelf {
			return dst, "invalid international name"
		}
	}
	return canonicalName(dst, []byte(ascii))
}
