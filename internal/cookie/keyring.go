package cookie

import "net/netip"

// MaxPrevious bounds the retired secrets a Keyring accepts: each one costs a wrong cookie one
// more SipHash, and a rotation needs one (two when a second follows before the first's
// cookies have aged out).
const MaxPrevious = 3

// Keyring is the secret that makes server cookies and the retired ones whose cookies are still
// accepted while clients move over (BIND's repeated cookie-secret, Knot's old secret after
// secret-lifetime). Immutable once made: a rotation builds a new one.
type Keyring struct {
	current  Secret
	previous []Secret
}

// NewKeyring returns the keyring that makes cookies with current and also accepts those made
// with previous; previous beyond MaxPrevious are ignored.
func NewKeyring(current Secret, previous ...Secret) *Keyring {
	previous = previous[:min(len(previous), MaxPrevious)]
	return &Keyring{current: current, previous: append([]Secret(nil), previous...)}
}

// Current is the secret that makes cookies.
func (k *Keyring) Current() Secret { return k.current }

// Equal says whether k and o make and accept the same cookies.
func (k *Keyring) Equal(o *Keyring) bool {
	if k == nil || o == nil {
		return k == o
	}
	if k.current != o.current || len(k.previous) != len(o.previous) {
		return false
	}
	for i := range k.previous {
		if k.previous[i] != o.previous[i] {
			return false
		}
	}
	return true
}

// Make writes into dst the server cookie for client asking from addr at now, under the current
// secret.
func (k *Keyring) Make(dst *[Len]byte, client []byte, addr netip.Addr, now uint32) {
	k.current.Make(dst, client, addr, now)
}

// Check says whether server is a valid cookie for client and addr under any secret of the
// keyring. Only one the current secret made may be sent back unchanged: a cookie under a
// retired secret is replaced, so that the client holds a current one before that secret goes.
func (k *Keyring) Check(client, server []byte, addr netip.Addr, now uint32) (valid, reuse bool) {
	// Size, version and age are checked once and the hashed message is built once; then one
	// hash per secret, current first, so that a valid current cookie (the common case) costs
	// one hash.
	age, ok := usable(client, server, now)
	if !ok {
		return false, false
	}
	var in hashInput
	msg := in.fill(client, server[:8], addr)
	if k.current.matches(msg, server) {
		return true, age < reuseAge
	}
	for i := range k.previous {
		if k.previous[i].matches(msg, server) {
			return true, false
		}
	}
	return false, false
}
