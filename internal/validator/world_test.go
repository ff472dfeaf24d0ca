package validator

import (
	"context"
	"crypto"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
)

// testNow is the clock of the unit tests: signatures are made relative to it.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// signingKey is a DNSKEY with its private half.
type signingKey struct {
	pub  *dns.DNSKEY
	priv crypto.Signer
}

func newKey(tb testing.TB, zone string, flags uint16, alg uint8) signingKey {
	tb.Helper()
	k := &dns.DNSKEY{Hdr: dns.Header{Name: zone, Class: dns.ClassINET, TTL: 3600}}
	k.Flags, k.Protocol, k.Algorithm = flags, 3, alg
	bits := 256
	switch alg {
	case dns.RSASHA256, dns.RSASHA512:
		bits = 1024
	case dns.ECDSAP384SHA384:
		bits = 384
	}
	priv, err := k.Generate(bits)
	if err != nil {
		tb.Fatalf("generate key for %s: %v", zone, err)
	}
	return signingKey{pub: k, priv: priv.(crypto.Signer)}
}

// testZone is a zone of the test world. Its records are given unsigned; build adds the
// DNSKEYs, the denial chain and the signatures.
type testZone struct {
	origin   string
	unsigned bool
	alg      uint8
	nsec3    bool
	optOut   bool
	iters    uint16
	// inception and expiration of every signature, relative to testNow.
	from, until time.Duration
	records     []string

	ksk, zsk signingKey
	rrs      []dns.RR // after build: everything, signatures included
}

func rr(tb testing.TB, s string) dns.RR {
	tb.Helper()
	r, err := dns.New(s)
	if err != nil {
		tb.Fatalf("%q: %v", s, err)
	}
	return r
}

// world is a signed hierarchy in memory, a Fetcher that answers as the authoritative servers of
// its zones would (the resolver in front of them is assumed: DS from the parent side).
type world struct {
	zones map[string]*testZone
	// calls counts the questions fetched, to check what is cached.
	calls int
}

func (w *world) keysOf(zone string) *testZone { return w.zones[zone] }

// build signs every zone; children before parents do not matter since DS records are made from
// the children's keys here.
func buildWorld(tb testing.TB, zones ...*testZone) *world {
	tb.Helper()
	w := &world{zones: map[string]*testZone{}}
	for _, z := range zones {
		if z.alg == 0 {
			z.alg = dns.ECDSAP256SHA256
		}
		if z.until == 0 {
			z.from, z.until = -time.Hour, 30*24*time.Hour
		}
		if !z.unsigned {
			z.ksk = newKey(tb, z.origin, 257, z.alg)
			z.zsk = newKey(tb, z.origin, 256, z.alg)
		}
		w.zones[z.origin] = z
	}
	for _, z := range zones {
		var recs []dns.RR
		for _, s := range z.records {
			recs = append(recs, rr(tb, s))
		}
		// A child of this world gets its DS here, unless the records say otherwise.
		for _, c := range zones {
			if c.unsigned || c.origin == z.origin || parentName(c.origin) != z.origin || hasDSLine(z.records, c.origin) {
				continue
			}
			ds := c.ksk.pub.ToDS(dns.SHA256)
			recs = append(recs, ds)
		}
		if !z.unsigned {
			recs = append(recs, z.ksk.pub, z.zsk.pub)
		}
		z.rrs = recs
		if !z.unsigned {
			z.sign(tb)
		}
	}
	return w
}

func hasDSLine(lines []string, owner string) bool {
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) > 3 && strings.EqualFold(f[0], owner) && slices.Contains(f, "DS") {
			return true
		}
	}
	return false
}

// cuts are the delegations inside z: owners of NS records other than the apex.
func (z *testZone) cuts() []string {
	var out []string
	for _, r := range z.rrs {
		if _, ok := r.(*dns.NS); ok && !sameName(r.Header().Name, z.origin) && !slices.Contains(out, strings.ToLower(r.Header().Name)) {
			out = append(out, strings.ToLower(r.Header().Name))
		}
	}
	return out
}

func (z *testZone) belowCut(name string) (string, bool) {
	for _, c := range z.cuts() {
		if isBelow(c, name) {
			return c, true
		}
	}
	return "", false
}

// sign adds the denial chain and the RRSIGs.
func (z *testZone) sign(tb testing.TB) {
	types := map[string][]uint16{}
	for _, r := range z.rrs {
		owner := strings.ToLower(r.Header().Name)
		if cut, below := z.belowCut(owner); below && owner != cut {
			continue // glue
		}
		types[owner] = append(types[owner], dns.RRToType(r))
	}
	var names []string
	for n := range types {
		names = append(names, n)
	}
	if z.nsec3 {
		z.rrs = append(z.rrs, z.nsec3Chain(names, types)...)
	} else {
		sort.Slice(names, func(i, j int) bool { return compareNames(names[i], names[j]) < 0 })
		for i, n := range names {
			next := names[(i+1)%len(names)]
			bitmap := append(slices.Clone(types[n]), dns.TypeNSEC, dns.TypeRRSIG)
			if cut, ok := z.belowCut(n); ok && cut == n && !slices.Contains(types[n], dns.TypeDS) {
				bitmap = []uint16{dns.TypeNS, dns.TypeNSEC}
			}
			slices.Sort(bitmap)
			nsec := &dns.NSEC{Hdr: dns.Header{Name: n, Class: dns.ClassINET, TTL: 300}}
			nsec.NextDomain, nsec.TypeBitMap = next, slices.Compact(bitmap)
			z.rrs = append(z.rrs, nsec)
		}
	}
	var sigs []dns.RR
	for _, s := range rrsets(z.rrs) {
		if cut, below := z.belowCut(s.owner); below && (s.owner != cut || s.typ != dns.TypeDS && s.typ != dns.TypeNSEC) {
			continue // delegation NS and glue are not signed
		}
		key := z.zsk
		if s.typ == dns.TypeDNSKEY {
			key = z.ksk
		}
		sigs = append(sigs, z.signSet(tb, key, s.rrs))
	}
	z.rrs = append(z.rrs, sigs...)
}

func (z *testZone) signSet(tb testing.TB, key signingKey, set []dns.RR) *dns.RRSIG {
	sig := &dns.RRSIG{Hdr: dns.Header{Name: set[0].Header().Name, Class: dns.ClassINET, TTL: set[0].Header().TTL}}
	sig.Algorithm, sig.KeyTag, sig.SignerName = key.pub.Algorithm, key.pub.KeyTag(), z.origin
	sig.Inception = uint32(testNow.Add(z.from).Unix())
	sig.Expiration = uint32(testNow.Add(z.until).Unix())
	sig.OrigTTL = set[0].Header().TTL
	sig.Labels = uint8(countLabels(set[0].Header().Name))
	if strings.HasPrefix(set[0].Header().Name, "*.") {
		sig.Labels--
	}
	cp := make([]dns.RR, len(set))
	for i, r := range set {
		cp[i] = r.Clone()
	}
	if err := sig.Sign(key.priv, cp, &dns.SignOption{}); err != nil {
		tb.Fatalf("sign %s: %v", set[0].Header().Name, err)
	}
	return sig
}

func (z *testZone) nsec3Chain(names []string, types map[string][]uint16) []dns.RR {
	// Empty non-terminals get an NSEC3 of their own (RFC 5155 §7.1).
	all := map[string][]uint16{}
	for _, n := range names {
		all[n] = types[n]
		for p := parentName(n); isBelow(z.origin, p) && p != z.origin; p = parentName(p) {
			if _, ok := all[p]; !ok {
				all[p] = nil
			}
		}
	}
	for n, t := range types {
		all[n] = t
	}
	type h struct {
		hash string
		name string
	}
	var hs []h
	for n := range all {
		if z.optOut {
			if cut, ok := z.belowCut(n); ok && cut == n && !slices.Contains(all[n], dns.TypeDS) {
				continue // unsigned delegations stay out of an opt-out chain
			}
		}
		hs = append(hs, h{strings.ToLower(dnsutil.NSEC3Name(n, "", z.iters)), n})
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].hash < hs[j].hash })
	var out []dns.RR
	for i, x := range hs {
		n3 := &dns.NSEC3{Hdr: dns.Header{Name: x.hash + "." + z.origin, Class: dns.ClassINET, TTL: 300}}
		n3.Hash, n3.Iterations = dns.SHA1, z.iters
		if z.optOut {
			n3.Flags = 1
		}
		n3.NextDomain = strings.ToUpper(hs[(i+1)%len(hs)].hash)
		n3.HashLength = 20
		bitmap := slices.Clone(all[x.name])
		if cut, ok := z.belowCut(x.name); ok && cut == x.name && !slices.Contains(bitmap, dns.TypeDS) {
			bitmap = []uint16{dns.TypeNS}
		} else if len(bitmap) > 0 {
			bitmap = append(bitmap, dns.TypeRRSIG)
		}
		slices.Sort(bitmap)
		n3.TypeBitMap = slices.Compact(bitmap)
		out = append(out, n3)
	}
	return out
}

// zoneFor returns the zone that answers name and qtype: the deepest one at or above it, but the
// parent for a DS query at a zone's apex.
func (w *world) zoneFor(name string, qtype uint16) *testZone {
	name = strings.ToLower(name)
	if qtype == dns.TypeDS && name != "." {
		name = parentName(name)
	}
	for n := name; ; n = parentName(n) {
		if z := w.zones[n]; z != nil {
			return z
		}
		if n == "." {
			return nil
		}
	}
}

func (w *world) Fetch(_ context.Context, name string, qtype uint16) (Reply, error) {
	w.calls++
	z := w.zoneFor(name, qtype)
	if z == nil {
		return Reply{}, fmt.Errorf("no zone for %s", name)
	}
	return z.answer(strings.ToLower(name), qtype), nil
}

func (z *testZone) answer(name string, qtype uint16) Reply {
	var ans []dns.RR
	exists := false
	for _, r := range z.rrs {
		owner := strings.ToLower(r.Header().Name)
		if isBelow(name, owner) && !isDenial(r) {
			exists = true
		}
		if owner != name {
			continue
		}
		t := dns.RRToType(r)
		if sig, ok := r.(*dns.RRSIG); ok {
			t = sig.TypeCovered
		}
		if t == qtype || t == dns.TypeCNAME {
			ans = append(ans, r)
		}
	}
	if len(ans) > 0 {
		return Reply{Answer: ans}
	}
	if !exists {
		// A wildcard at the parent answers with its records renamed.
		wild := "*." + parentName(name)
		for _, r := range z.rrs {
			if sameName(r.Header().Name, wild) {
				t := dns.RRToType(r)
				if sig, ok := r.(*dns.RRSIG); ok {
					t = sig.TypeCovered
				}
				if t == qtype {
					c := r.Clone()
					c.Header().Name = name
					ans = append(ans, c)
				}
			}
		}
		if len(ans) > 0 {
			return Reply{Answer: ans, Ns: z.denial(name)}
		}
		for _, r := range z.rrs {
			exists = exists || sameName(r.Header().Name, wild)
		}
	}
	rcode := uint16(dns.RcodeSuccess)
	if !exists {
		rcode = dns.RcodeNameError
	}
	ns := z.denial(name)
	for _, r := range z.rrs {
		t := dns.RRToType(r)
		if sig, ok := r.(*dns.RRSIG); ok {
			t = sig.TypeCovered
		}
		if t == dns.TypeSOA {
			ns = append(ns, r)
		}
	}
	return Reply{Rcode: rcode, Ns: ns}
}

func isDenial(r dns.RR) bool {
	switch x := r.(type) {
	case *dns.NSEC, *dns.NSEC3:
		return true
	case *dns.RRSIG:
		return x.TypeCovered == dns.TypeNSEC || x.TypeCovered == dns.TypeNSEC3
	}
	return false
}

// denial returns the NSEC or NSEC3 records, with their signatures, that match or cover name, its
// ancestors in the zone or the wildcards below them: a superset of every proof about name, and
// no more than a few records, as a server sends.
func (z *testZone) denial(name string) []dns.RR {
	var wanted []string
	for n := strings.ToLower(name); isBelow(z.origin, n); n = parentName(n) {
		wanted = append(wanted, n, "*."+n)
		if n == z.origin {
			break
		}
	}
	relevant := func(r dns.RR) bool {
		for _, w := range wanted {
			switch x := r.(type) {
			case *dns.NSEC:
				if sameName(x.Hdr.Name, w) || covers(x.Hdr.Name, x.NextDomain, w) {
					return true
				}
			case *dns.NSEC3:
				p := nsec3Params{salt: x.Salt, iterations: x.Iterations}
				d := Denial{Zone: z.origin, NSEC3: []*dns.NSEC3{x}}
				if matchingNSEC3(d, p, w) != nil || coveringNSEC3(d, p, w) != nil {
					return true
				}
			}
		}
		return false
	}
	keep := map[string]bool{}
	var out []dns.RR
	for _, r := range z.rrs {
		if _, ok := r.(*dns.RRSIG); !ok && isDenial(r) && relevant(r) {
			keep[strings.ToLower(r.Header().Name)] = true
			out = append(out, r)
		}
	}
	for _, r := range z.rrs {
		if sig, ok := r.(*dns.RRSIG); ok && isDenial(r) && keep[strings.ToLower(sig.Hdr.Name)] {
			out = append(out, r)
		}
	}
	return out
}

func soaLine(origin string) string {
	return origin + " 300 IN SOA ns." + strings.TrimPrefix(origin, ".") + " host.invalid. 1 3600 600 86400 300"
}

func anchorFor(tb testing.TB, z *testZone) *Anchors {
	tb.Helper()
	a, err := ParseAnchors(strings.NewReader(z.ksk.pub.ToDS(dns.SHA256).String()), "test anchor")
	if err != nil {
		tb.Fatal(err)
	}
	return a
}
