package signer

import (
	"crypto/sha1"
	"encoding/base32"
	"slices"
	"strings"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

// link is one name of the denial chain: its place in the order (the canonical form of the name
// for NSEC, the raw hash for NSEC3) and the name of the node it stands for.
type link struct {
	key  string
	name string
}

// chain is the denial chain of a signed zone, in order. It is a plain sorted slice: an
// incremental change inserts and deletes a few links (memmove of pointers, fast even for a
// million names) instead of sorting every name again.
type chain []link

func (c chain) find(key string) (int, bool) {
	return slices.BinarySearchFunc(c, key, func(l link, k string) int { return strings.Compare(l.key, k) })
}

// next is the link after i, the first one after the last (the chain is a ring).
func (c chain) next(i int) link { return c[(i+1)%len(c)] }

// prev is the index before i, in the ring.
func (c chain) prev(i int) int { return (i - 1 + len(c)) % len(c) }

// canonicalKey turns a wire name (lower-case, as zone.Node.Key holds it) into a string whose
// byte order is the canonical order of names (RFC 4034 §6.1): the labels from the right, each
// followed by a zero byte, so that a name sorts before its descendants and labels compare as
// octet strings with the shorter first. Names in zones hold no zero bytes (escapes are refused).
func canonicalKey(wire string) string {
	var labels []string
	for i := 0; i < len(wire) && wire[i] != 0; i += int(wire[i]) + 1 {
		labels = append(labels, wire[i+1:i+1+int(wire[i])])
	}
	var b strings.Builder
	b.Grow(len(wire))
	for i := len(labels) - 1; i >= 0; i-- {
		b.WriteString(labels[i])
		b.WriteByte(0)
	}
	return b.String()
}

// hashName is the NSEC3 hash of a wire name with RFC 9276's parameters: SHA-1, no salt, no
// extra iterations.
func hashName(wire string) string {
	h := sha1.Sum([]byte(wire))
	return string(h[:])
}

var b32 = base32.HexEncoding.WithPadding(base32.NoPadding)

// hashOwner is the owner name of the NSEC3 record for a hash.
func hashOwner(hash, origin string) string {
	return strings.ToLower(b32.EncodeToString([]byte(hash))) + "." + origin
}

// chainKey is n's key in the chain of denial d.
func chainKey(n *zone.Node, d Denial) string {
	if d == NSEC3 {
		return hashName(n.Key)
	}
	return canonicalKey(n.Key)
}

// stripped says whether records of type t at a node are replaced by the signer: signatures and
// denial records anywhere, the key sets at the apex.
func stripped(t uint16, apex bool) bool {
	switch t {
	case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeNSEC3PARAM:
		return true
	case dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY:
		return apex
	}
	return false
}

// occluded says whether n lies below a zone cut: glue, not signed and not in the chain.
func occluded(n *zone.Node) bool { return n.Cut != nil && n.Cut != n }

// hasData says whether n holds records the signer keeps.
func hasData(n *zone.Node) bool {
	for _, s := range n.Sets {
		if !stripped(s.Type, n.IsApex()) {
			return true
		}
	}
	return false
}

// member says whether n has a link in the chain of denial d: every name with data that is not
// glue, and for NSEC3 the empty non-terminals too (RFC 5155 §7.1; no opt-out).
func member(n *zone.Node, d Denial) bool {
	if n == nil || occluded(n) {
		return false
	}
	return hasData(n) || d == NSEC3 && n.Empty()
}

// signable says whether the RRset of type t at n gets signatures: authoritative data, and at a
// delegation only its DS (RFC 4035 §2.2).
func signable(n *zone.Node, t uint16) bool {
	if stripped(t, n.IsApex()) || occluded(n) {
		return false
	}
	return !n.IsDelegation() || t == dns.TypeDS
}
