package signer

import (
	"crypto/sha1"
	"encoding/base32"
	"slices"
	"strings"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

// link is one name of the denial chain: its place in the order (for NSEC the node's wire name,
// ordered by compareCanonical; for NSEC3 the raw hash) and the node it stands for, by its wire
// name (the key of zone.Zone.Node) and its presentation name. The strings are the node's own.
type link struct {
	key  string
	node string
	name string
}

func linkOf(n *zone.Node, d Denial) link {
	return link{key: chainKey(n, d), node: n.Key, name: n.Name}
}

// chain is the denial chain of a signed zone, in order. It is a plain sorted slice: an
// incremental change inserts and deletes a few links (memmove of pointers, fast even for a
// million names) instead of sorting every name again.
type chain []link

func (c chain) find(key string, d Denial) (int, bool) {
	return slices.BinarySearchFunc(c, key, func(l link, k string) int { return d.compare(l.key, k) })
}

func (c chain) sort(d Denial) {
	slices.SortFunc(c, func(a, b link) int { return d.compare(a.key, b.key) })
}

// compare orders two chain keys of denial d.
func (d Denial) compare(a, b string) int {
	if d == NSEC3 {
		return strings.Compare(a, b)
	}
	return compareCanonical(a, b)
}

// next is the link after i, the first one after the last (the chain is a ring).
func (c chain) next(i int) link { return c[(i+1)%len(c)] }

// prev is the index before i, in the ring.
func (c chain) prev(i int) int { return (i - 1 + len(c)) % len(c) }

// compareCanonical orders two lower-case wire names (as zone.Node.Key holds them) in the
// canonical order of RFC 4034 §6.1: label by label from the right, each label compared as an
// octet string, so that a name sorts before its descendants. It reads the names where they lie:
// the label offsets go on the stack (a name has at most 127 labels; offsets are below 256).
func compareCanonical(a, b string) int {
	var offA, offB [128]uint8
	na, nb := labelOffsets(a, &offA), labelOffsets(b, &offB)
	for na > 0 && nb > 0 {
		na, nb = na-1, nb-1
		x, y := int(offA[na]), int(offB[nb])
		if c := strings.Compare(a[x+1:x+1+int(a[x])], b[y+1:y+1+int(b[y])]); c != 0 {
			return c
		}
	}
	return na - nb // the one with labels left is below the other
}

func labelOffsets(name string, offs *[128]uint8) int {
	n := 0
	for i := 0; i < len(name) && name[i] != 0 && n < len(offs); i += int(name[i]) + 1 {
		offs[n] = uint8(i)
		n++
	}
	return n
}

// hashName is the NSEC3 hash of a wire name with RFC 9276's parameters: SHA-1, no salt, no
// extra iterations.
func hashName(wire string) string {
	h := sha1.Sum([]byte(wire))
	return string(h[:])
}

var b32 = base32.HexEncoding.WithPadding(base32.NoPadding)

var b32lower = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// hashOwner is the owner name of the NSEC3 record for a hash, in lower case as every owner.
func hashOwner(hash, origin string) string {
	var label [52]byte // base32 of up to 32 bytes
	n := b32lower.EncodedLen(len(hash))
	b32lower.Encode(label[:n], []byte(hash))
	var b strings.Builder
	b.Grow(n + 1 + len(origin))
	b.Write(label[:n])
	b.WriteByte('.')
	b.WriteString(origin)
	return b.String()
}

// chainKey is n's key in the chain of denial d.
func chainKey(n *zone.Node, d Denial) string {
	if d == NSEC3 {
		return hashName(n.Key)
	}
	return n.Key
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

// DNSSECRecords counts the records of u the signer replaces with its own: signatures, denial
// records and the apex key sets. A zone file with any is signed already (or half so), and its
// operator should know that these records are not the ones served.
func DNSSECRecords(u *zone.Zone) int {
	n := 0
	for node := range u.Nodes() {
		for _, s := range node.Sets {
			if stripped(s.Type, node.IsApex()) {
				n += len(s.RRs)
			}
		}
	}
	return n
}
