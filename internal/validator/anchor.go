package validator

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"codeberg.org/miekg/dns"
)

// Anchor is the trust anchor of one zone: DS records, DNSKEY records, or both; a DNSKEY of the
// zone that matches any of them is trusted.
type Anchor struct {
	Zone string // lower case, fully qualified
	DS   []*dns.DS
	Keys []*dns.DNSKEY
}

// Anchors is a set of trust anchors, one per zone. It is not changed once built.
type Anchors struct {
	byZone map[string]*Anchor
}

// Zones lists the anchored zones in canonical order.
func (a *Anchors) Zones() []string {
	if a == nil {
		return nil
	}
	out := make([]string, 0, len(a.byZone))
	for z := range a.byZone {
		out = append(out, z)
	}
	sort.Slice(out, func(i, j int) bool { return compareNames(out[i], out[j]) < 0 })
	return out
}

// NewAnchors makes a set of the given anchors, one per zone (a later one for the same zone
// wins).
func NewAnchors(list ...*Anchor) *Anchors {
	a := &Anchors{byZone: map[string]*Anchor{}}
	for _, an := range list {
		a.byZone[strings.ToLower(an.Zone)] = an
	}
	return a
}

// All returns the anchors in canonical order of their zones.
func (a *Anchors) All() []*Anchor {
	var out []*Anchor
	for _, z := range a.Zones() {
		out = append(out, a.byZone[z])
	}
	return out
}

// Closest returns the anchor of the deepest anchored zone at or above name, or nil.
func (a *Anchors) Closest(name string) *Anchor {
	if a == nil || len(a.byZone) == 0 {
		return nil
	}
	for n := strings.ToLower(name); ; n = parentName(n) {
		if an := a.byZone[n]; an != nil {
			return an
		}
		if n == "." {
			return nil
		}
	}
}

// Len is the number of anchored zones.
func (a *Anchors) Len() int {
	if a == nil {
		return 0
	}
	return len(a.byZone)
}

// IANA is the name that stands for the built-in root anchors.
const IANA = "iana"

// ianaRoot is the root zone's key-signing keys as IANA publishes them (root-anchors.xml, and
// Debian's dns-root-data): KSK-2017 (key tag 20326) and KSK-2024 (key tag 38696), both as DS and
// as DNSKEY.
const ianaRoot = `. IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D
. IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16
. IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=
. IN DNSKEY 257 3 8 AwEAAa96jeuknZlaeSrvyAJj6ZHv28hhOKkx3rLGXVaC6rXTsDc449/cidltpkyGwCJNnOAlFNKF2jBosZBU5eeHspaQWOmOElZsjICMQMC3aeHbGiShvZsx4wMYSjH8e7Vrhbu6irwCzVBApESjbUdpWWmEnhathWu1jo+siFUiRAAxm9qyJNg/wOZqqzL/dL/q8PkcRU5oUKEpUge71M3ej2/7CPqpdVwuMoTvoB+ZOT4YeGyxMvHmbrxlFzGOHOijtzN+u1TQNatX2XBuzZNQ1K+s2CXkPIZo7s6JgZyvaBevYtxPvYLw4z9mR7K2vaF18UYH9Z9GNUUeayffKC73PYc=
`

// IANARoot returns the built-in root anchors.
func IANARoot() (*Anchors, error) {
	return ParseAnchors(strings.NewReader(ianaRoot), "built-in root anchors")
}

// LoadAnchors reads trust anchors from the file at path, or returns the built-in root anchors
// when path is "iana".
func LoadAnchors(path string) (*Anchors, error) {
	if path == IANA {
		return IANARoot()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trust anchor: %w", err)
	}
	defer f.Close()
	return ParseAnchors(f, path)
}

// maxAnchorRecords bounds what an anchor file may hold: a handful per zone is normal.
const maxAnchorRecords = 10000

// ParseAnchors reads DS and DNSKEY records in zone-file form (one or more owners; $ORIGIN and
// $TTL allowed). Any other record type, a DNSKEY without the zone key bit, or a file without a
// record is an error naming the file and line.
func ParseAnchors(r io.Reader, file string) (*Anchors, error) {
	zp := dns.NewZoneParser(r, ".", file)
	a := &Anchors{byZone: map[string]*Anchor{}}
	n := 0
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		n++
		if n > maxAnchorRecords {
			return nil, fmt.Errorf("%s: more than %d records", file, maxAnchorRecords)
		}
		owner := strings.ToLower(rr.Header().Name)
		if rr.Header().Class != dns.ClassINET {
			return nil, fmt.Errorf("%s: record %d (%s): class must be IN", file, n, owner)
		}
		an := a.byZone[owner]
		if an == nil {
			an = &Anchor{Zone: owner}
		}
		switch x := rr.(type) {
		case *dns.DS:
			if x.Digest == "" {
				return nil, fmt.Errorf("%s: record %d (%s DS): empty digest", file, n, owner)
			}
			an.DS = append(an.DS, x)
		case *dns.DNSKEY:
			if x.Flags&dns.FlagZONE == 0 || x.Protocol != 3 || x.PublicKey == "" {
				return nil, fmt.Errorf("%s: record %d (%s DNSKEY): not a zone key (flags %d, protocol %d)", file, n, owner, x.Flags, x.Protocol)
			}
			an.Keys = append(an.Keys, x)
		default:
			return nil, fmt.Errorf("%s: record %d (%s): type %s is not DS or DNSKEY", file, n, owner, dns.TypeToString[dns.RRToType(rr)])
		}
		a.byZone[owner] = an
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if n == 0 {
		return nil, errors.New(file + ": no DS or DNSKEY record")
	}
	return a, nil
}
