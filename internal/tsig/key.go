// Package tsig signs and verifies DNS messages with transaction signatures (RFC 8945), working on
// packed wire bytes. Zone transfers in and out, NOTIFY and SOA checks use it to prove that a
// message came from a peer holding the shared secret; the digest covers the exact bytes sent, so
// signing happens last, just before a message leaves, and verifying first, before it is parsed.
package tsig

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"

	"warden/internal/wire"
)

// Key is one shared secret and the name and algorithm it is known by.
type Key struct {
	Name      string // lower-case, fully qualified
	Algorithm string // lower-case, fully qualified: "hmac-sha256."
	Secret    []byte
}

// algorithms maps the algorithm names RFC 8945 §6 lets us implement to their hash. HMAC-MD5 is
// left out on purpose: it is deprecated, and accepting it would only invite weak keys.
var algorithms = map[string]func() hash.Hash{
	"hmac-sha1.":   sha1.New,
	"hmac-sha224.": sha256.New224,
	"hmac-sha256.": sha256.New,
	"hmac-sha384.": sha512.New384,
	"hmac-sha512.": sha512.New,
}

// ParseKey reads "NAME:ALGORITHM:BASE64SECRET", the form of the --tsig flag and of kdig -y (in
// another order), for example "xfr:hmac-sha256:c2VjcmV0".
func ParseKey(spec string) (Key, error) {
	parts := strings.SplitN(spec, ":", 3)
	if len(parts) != 3 {
		return Key{}, fmt.Errorf("--tsig %q: want NAME:ALGORITHM:BASE64SECRET", spec)
	}
	name, alg, secret := parts[0], parts[1], parts[2]
	k := Key{Name: fqdn(name), Algorithm: fqdn(alg)}
	if name == "" {
		return Key{}, fmt.Errorf("--tsig: name is empty")
	}
	if _, err := wire.AppendName(nil, k.Name); err != nil {
		return Key{}, fmt.Errorf("--tsig: name %q: %v", name, err)
	}
	if _, ok := algorithms[k.Algorithm]; !ok {
		return Key{}, fmt.Errorf("--tsig: algorithm %q: want one of hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512", alg)
	}
	b, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		return Key{}, fmt.Errorf("--tsig: secret of key %q: not base64: %v", name, err)
	}
	if len(b) == 0 {
		return Key{}, fmt.Errorf("--tsig: secret of key %q is empty", name)
	}
	k.Secret = b
	return k, nil
}

func fqdn(s string) string {
	s = strings.ToLower(s)
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// check says whether k can sign: a valid name, a known algorithm, a secret.
func (k Key) check() error {
	if _, err := wire.AppendName(nil, fqdn(k.Name)); err != nil {
		return fmt.Errorf("tsig key %q: %v", k.Name, err)
	}
	if _, ok := algorithms[fqdn(k.Algorithm)]; !ok {
		return fmt.Errorf("tsig key %q: algorithm %q is not supported", k.Name, k.Algorithm)
	}
	if len(k.Secret) == 0 {
		return fmt.Errorf("tsig key %q: empty secret", k.Name)
	}
	return nil
}

func (k Key) mac() hash.Hash { return hmac.New(algorithms[fqdn(k.Algorithm)], k.Secret) }

// Keyring holds the keys a server accepts, by name.
type Keyring struct {
	keys map[string]Key
}

// NewKeyring returns a keyring of keys; two keys of one name are an error, since a peer could not
// say which it means.
func NewKeyring(keys ...Key) (*Keyring, error) {
	r := &Keyring{keys: make(map[string]Key, len(keys))}
	for _, k := range keys {
		if err := k.check(); err != nil {
			return nil, err
		}
		k.Name, k.Algorithm = fqdn(k.Name), fqdn(k.Algorithm)
		if _, dup := r.keys[k.Name]; dup {
			return nil, fmt.Errorf("tsig key %q is defined twice", k.Name)
		}
		r.keys[k.Name] = k
	}
	return r, nil
}

// Get returns the key called name, compared without regard to case.
func (r *Keyring) Get(name string) (Key, bool) {
	if r == nil {
		return Key{}, false
	}
	k, ok := r.keys[fqdn(name)]
	return k, ok
}
