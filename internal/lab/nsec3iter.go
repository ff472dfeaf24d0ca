package lab

import (
	"crypto"
	"crypto/sha1"
	"encoding/base32"
	"fmt"
	"slices"
	"strings"
	"time"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
)

// signIterated signs a small zone with NSEC3 of the given iteration count. dnssec-signzone and
// Warden's signer both refuse counts above 150 (RFC 9276 advises 0), which is what the bed needs
// to show a validator's limit, so this signs the few records of that branch itself: new ECDSA
// P-256 keys, a KSK over the DNSKEY RRset and a ZSK over the rest, no salt, no opt-out. It handles
// zones without delegations or empty non-terminals, which the branch does not need; it refuses
// others rather than sign them wrongly.
func signIterated(origin, text string, from, until time.Time, iterations uint16) (string, *dns.DNSKEY, error) {
	sets := map[string]map[uint16][]dns.RR{}
	add := func(rr dns.RR) {
		name := strings.ToLower(rr.Header().Name)
		if sets[name] == nil {
			sets[name] = map[uint16][]dns.RR{}
		}
		sets[name][dns.RRToType(rr)] = append(sets[name][dns.RRToType(rr)], rr)
	}
	var soa *dns.SOA
	zp := dns.NewZoneParser(strings.NewReader(text), origin, origin)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := strings.ToLower(rr.Header().Name)
		if name != origin && dnsutil.Labels(name) != dnsutil.Labels(origin)+1 {
			return "", nil, fmt.Errorf("%s: only names one label below the apex are signed here", name)
		}
		if dns.RRToType(rr) == dns.TypeNS && name != origin {
			return "", nil, fmt.Errorf("%s: delegations are not signed here", name)
		}
		if s, ok := rr.(*dns.SOA); ok {
			soa = s
		}
		add(rr)
	}
	if err := zp.Err(); err != nil {
		return "", nil, err
	}
	if soa == nil {
		return "", nil, fmt.Errorf("zone %s has no SOA", origin)
	}
	ksk, kskSigner, err := newKey(origin, 257)
	if err != nil {
		return "", nil, err
	}
	zsk, zskSigner, err := newKey(origin, 256)
	if err != nil {
		return "", nil, err
	}
	add(ksk)
	add(zsk)
	param, err := dns.New(fmt.Sprintf("%s 0 IN NSEC3PARAM 1 0 %d -", origin, iterations))
	if err != nil {
		return "", nil, err
	}
	add(param)

	// One NSEC3 per name, chained in hash order.
	ttl := soa.Minttl
	names := make([]string, 0, len(sets))
	for n := range sets {
		names = append(names, n)
	}
	hashes := make(map[string]string, len(names))
	for _, n := range names {
		hashes[n] = nsec3Hash(n, iterations)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(hashes[a], hashes[b]) })
	var nsec3s []dns.RR
	for i, n := range names {
		// In type order: the bitmap is packed as listed, and a validator reads it sorted.
		codes := []uint16{dns.TypeRRSIG}
		for t := range sets[n] {
			codes = append(codes, t)
		}
		slices.Sort(codes)
		types := make([]string, len(codes))
		for i, t := range codes {
			types[i] = dns.TypeToString[t]
		}
		next := hashes[names[(i+1)%len(names)]]
		rr, err := dns.New(fmt.Sprintf("%s.%s %d IN NSEC3 1 0 %d - %s %s", hashes[n], origin, ttl, iterations, next, strings.Join(types, " ")))
		if err != nil {
			return "", nil, err
		}
		nsec3s = append(nsec3s, rr)
	}

	var out strings.Builder
	sign := func(rrset []dns.RR, key *dns.DNSKEY, signer crypto.Signer) error {
		for _, rr := range rrset {
			out.WriteString(rr.String() + "\n")
		}
		sig := dns.NewRRSIG(origin, key.Algorithm, key.KeyTag(), uint32(from.Unix()), uint32(until.Unix()))
		if err := sig.Sign(signer, rrset, &dns.SignOption{}); err != nil {
			return fmt.Errorf("sign %s %s: %w", rrset[0].Header().Name, dns.TypeToString[dns.RRToType(rrset[0])], err)
		}
		out.WriteString(sig.String() + "\n")
		return nil
	}
	slices.Sort(names)
	for _, n := range names {
		types := make([]uint16, 0, len(sets[n]))
		for t := range sets[n] {
			types = append(types, t)
		}
		slices.Sort(types)
		for _, t := range types {
			key, signer := zsk, zskSigner
			if t == dns.TypeDNSKEY {
				key, signer = ksk, kskSigner
			}
			if err := sign(sets[n][t], key, signer); err != nil {
				return "", nil, err
			}
		}
	}
	for _, rr := range nsec3s {
		if err := sign([]dns.RR{rr}, zsk, zskSigner); err != nil {
			return "", nil, err
		}
	}
	return out.String(), ksk, nil
}

// newKey makes an ECDSA P-256 DNSKEY for origin with the given flags (257 a KSK, 256 a ZSK).
func newKey(origin string, flags uint16) (*dns.DNSKEY, crypto.Signer, error) {
	rr, err := dns.New(fmt.Sprintf("%s %d IN DNSKEY %d 3 %d AAAA", origin, bedKeyTTL, flags, dns.ECDSAP256SHA256))
	if err != nil {
		return nil, nil, err
	}
	key := rr.(*dns.DNSKEY)
	priv, err := key.Generate(256)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("key of type %T cannot sign", priv)
	}
	return key, signer, nil
}

// nsec3Hash is RFC 5155 §5's hash of a lower-case name with SHA-1, no salt, in base32hex.
func nsec3Hash(name string, iterations uint16) string {
	var wire []byte
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if label == "" {
			continue
		}
		wire = append(wire, byte(len(label)))
		wire = append(wire, label...)
	}
	wire = append(wire, 0)
	sum := sha1.Sum(wire)
	for range iterations {
		sum = sha1.Sum(sum[:])
	}
	return strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))
}
