// Package cookie makes and checks DNS server cookies (RFC 7873) in the interoperable form of
// RFC 9018: 16 bytes of version (1), three reserved bytes, a timestamp and a SipHash-2-4 of the
// client cookie, those fields and the client's address under a secret. Servers that share the
// secret (anycast instances, or BIND and Knot configured with it) accept each other's cookies.
//
// The pipeline checks the cookie a client presents and adds the server's to every response with
// an OPT record; neither allocates.
package cookie

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
)

// Len is the length of the server cookies this package makes.
const Len = 16

const (
	version = 1
	// A cookie is valid from 5 minutes in the future (clock skew between instances) to an hour
	// old; one younger than half an hour is sent back as it is (RFC 9018 §4.3).
	maxAhead = 300
	maxAge   = 3600
	reuseAge = 1800
)

// Secret is the 128-bit SipHash key of the server cookies.
type Secret struct {
	k0, k1 uint64
}

// NewSecret returns a random secret, for a server whose configuration sets none.
func NewSecret() (Secret, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Secret{}, fmt.Errorf("cookie secret: %w", err)
	}
	return SecretFrom(b), nil
}

// SecretFrom returns the secret of the 16 bytes b.
func SecretFrom(b [16]byte) Secret {
	return Secret{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

// ParseSecret reads a secret written as 32 hex digits (BIND's cookie-secret; Knot's secret
// without its 0x).
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "0x")
	var b [16]byte
	if len(s) != 2*len(b) {
		return Secret{}, fmt.Errorf("cookie secret: %d hex digits, want %d", len(s), 2*len(b))
	}
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return Secret{}, fmt.Errorf("cookie secret: %w", err)
	}
	return SecretFrom(b), nil
}

// Make writes into dst the server cookie for client (the 8-byte client cookie) asking from addr
// at now (Unix seconds).
func (s Secret) Make(dst *[Len]byte, client []byte, addr netip.Addr, now uint32) {
	dst[0], dst[1], dst[2], dst[3] = version, 0, 0, 0
	binary.BigEndian.PutUint32(dst[4:], now)
	binary.LittleEndian.PutUint64(dst[8:], s.hash(client, dst[:8], addr))
}

// Check says whether server is a cookie this secret made for client and addr that has not
// expired at now, and whether it is young enough to be sent back unchanged.
func (s Secret) Check(client, server []byte, addr netip.Addr, now uint32) (valid, reuse bool) {
	age, ok := usable(client, server, now)
	if !ok {
		return false, false
	}
	var in hashInput
	if !s.matches(in.fill(client, server[:8], addr), server) {
		return false, false
	}
	return true, age < reuseAge
}

// usable checks what a cookie says of itself, whatever the secret: its size, version and age.
func usable(client, server []byte, now uint32) (age int32, ok bool) {
	if len(server) != Len || server[0] != version || len(client) != 8 {
		return 0, false
	}
	// Serial-number arithmetic (RFC 1982), so that the 2106 wrap of the timestamp is no cliff.
	age = int32(now - binary.BigEndian.Uint32(server[4:]))
	return age, age >= -maxAhead && age <= maxAge
}

// matches says whether the hash in server is this secret's hash of msg.
func (s Secret) matches(msg, server []byte) bool {
	var want [8]byte
	binary.LittleEndian.PutUint64(want[:], sipHash24(s.k0, s.k1, msg))
	return subtle.ConstantTimeCompare(want[:], server[8:]) == 1
}

// hash is the hash of a server cookie whose first 8 bytes are head.
func (s Secret) hash(client, head []byte, addr netip.Addr) uint64 {
	var in hashInput
	return sipHash24(s.k0, s.k1, in.fill(client, head, addr))
}

// hashInput is the message a server cookie's hash is taken of: client cookie | version,
// reserved, timestamp | client address (RFC 9018 §4.4). A keyring fills it once and hashes it
// under each of its secrets.
type hashInput [8 + 8 + 16]byte

// fill writes the message and returns it; an IPv4-mapped IPv6 address is hashed as the IPv4
// address it is.
func (in *hashInput) fill(client, head []byte, addr netip.Addr) []byte {
	n := copy(in[:], client)
	n += copy(in[n:], head)
	addr = addr.Unmap()
	if addr.Is4() {
		a := addr.As4()
		n += copy(in[n:], a[:])
	} else {
		a := addr.As16()
		n += copy(in[n:], a[:])
	}
	return in[:n]
}
