package signer

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"crypto"

	"codeberg.org/miekg/dns"
)

// Role is what a key signs.
type Role uint8

const (
	ZSK Role = iota // every RRset but the apex key sets
	KSK             // the DNSKEY, CDS and CDNSKEY RRsets
	CSK             // both
)

func (r Role) String() string {
	switch r {
	case KSK:
		return "KSK"
	case CSK:
		return "CSK"
	}
	return "ZSK"
}

// Key is one DNSSEC key of a zone.
type Key struct {
	DNSKEY *dns.DNSKEY
	Signer crypto.Signer
	Timing Timing
	Role   Role
	// Base is the key's files' path without .key or .private.
	Base string
}

// Tag is the key tag (RFC 4034 appendix B).
func (k *Key) Tag() uint16 { return k.DNSKEY.KeyTag() }

// SignsKeys says whether the key signs the apex key sets.
func (k *Key) SignsKeys() bool { return k.Role != ZSK }

// SignsZone says whether the key signs the zone's other RRsets.
func (k *Key) SignsZone() bool { return k.Role != KSK }

// active says whether the key signs at now.
func (k *Key) active(now time.Time) bool {
	t := k.Timing
	return !t.Activate.After(now) && (t.Inactive.IsZero() || t.Inactive.After(now))
}

// signs says whether the key signs at now. Outside its publication it signs only where its
// timing says so outright: before a Publish later than its Activate, or after its Delete up to
// an Inactive set later (an algorithm rollover, RFC 6781 §4.1.4). A key given only a Delete
// stops signing then, as BIND has it.
func (k *Key) signs(now time.Time) bool {
	t := k.Timing
	return k.active(now) && (k.published(now) || t.Publish.After(now) || !t.Inactive.IsZero())
}

// gone says whether the key's part in the zone is over at now: unpublished and not signing.
func (k *Key) gone(now time.Time) bool {
	t := k.Timing
	return !t.Delete.IsZero() && !t.Delete.After(now) && !k.signs(now)
}

// published says whether the DNSKEY is in the zone at now.
func (k *Key) published(now time.Time) bool {
	t := k.Timing
	return !t.Publish.After(now) && (t.Delete.IsZero() || t.Delete.After(now))
}

// KeySet is the keys of one zone.
type KeySet struct {
	Origin string
	Keys   []*Key
}

// Published are the keys whose DNSKEY is in the zone at now.
func (s *KeySet) Published(now time.Time) []*Key {
	var out []*Key
	for _, k := range s.Keys {
		if k.published(now) {
			out = append(out, k)
		}
	}
	return out
}

// signers are the keys that sign the apex key sets (keys) or the rest (!keys) at now.
func (s *KeySet) signers(now time.Time, keys bool) []*Key {
	var out []*Key
	for _, k := range s.Keys {
		if k.signs(now) && (keys && k.SignsKeys() || !keys && k.SignsZone()) {
			out = append(out, k)
		}
	}
	return out
}

// OpenKeys returns origin's keys in dir for policy p, making the keys the policy needs when dir
// holds none for the zone (the first start): a KSK and a ZSK, or one CSK. Existing keys are never
// replaced, so a restart keeps the zone's keys and its DS at the parent valid; keys of another
// algorithm than the policy's are returned as they are, for Roll to replace by an algorithm
// rollover. dir is made, mode 0700, when missing. made says whether keys were created.
func OpenKeys(dir, origin string, p Policy, now time.Time) (set *KeySet, made bool, err error) {
	origin = strings.ToLower(origin)
	keys, err := readKeys(dir, origin)
	if err != nil {
		return nil, false, err
	}
	// Keys of an algorithm Warden does not sign with are left alone; keys whose rollover is
	// over stay in the directory, as BIND leaves them, but are no longer the zone's.
	var usable []*Key
	for _, k := range keys {
		if _, ok := algorithmNames[k.DNSKEY.Algorithm]; ok {
			usable = append(usable, k)
		}
	}
	inUse := slices.DeleteFunc(slices.Clone(usable), func(k *Key) bool { return k.gone(now) })
	if len(usable) > 0 && len(inUse) == 0 {
		return nil, false, fmt.Errorf("zone %s: %s: %w", origin, dir, errAllRemoved)
	}
	usable = inUse
	if len(usable) == 0 {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, false, fmt.Errorf("zone %s: key directory: %w", origin, err)
		}
		flags := []uint16{dns.FlagZONE | dns.FlagSEP}
		if !p.SingleTypeSigning {
			flags = append(flags, dns.FlagZONE)
		}
		for _, f := range flags {
			now := now.UTC().Truncate(time.Second)
			k, err := newKey(dir, origin, p.Algorithm, f, Timing{Created: now, Publish: now, Activate: now}, append(keys, usable...))
			if err != nil {
				return nil, false, fmt.Errorf("zone %s: new key in %s: %w", origin, dir, err)
			}
			usable = append(usable, k)
		}
		made = true
	}
	setRoles(usable, p.SingleTypeSigning)
	sortKeys(usable)
	return &KeySet{Origin: origin, Keys: usable}, made, nil
}

// setRoles gives each key its role: with single-type signing the SEP keys sign everything;
// without, they sign the key sets, and a zone that has no other key (its ZSK lost) is signed
// with them too rather than not at all.
func setRoles(keys []*Key, single bool) {
	zsks := 0
	for _, k := range keys {
		if k.DNSKEY.Flags&dns.FlagSEP == 0 {
			zsks++
		}
	}
	for _, k := range keys {
		switch {
		case k.DNSKEY.Flags&dns.FlagSEP == 0:
			k.Role = ZSK
		case single || zsks == 0:
			k.Role = CSK
		default:
			k.Role = KSK
		}
	}
}

// readKeys reads every key of origin in dir; a missing dir holds none.
func readKeys(dir, origin string) ([]*Key, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("zone %s: key directory: %w", origin, err)
	}
	prefix := "K" + origin + "+"
	var keys []*Key
	for _, e := range entries {
		name := e.Name()
		// Names compare without regard to case, as origins do.
		if !strings.HasSuffix(name, ".private") || len(name) < len(prefix) || !strings.EqualFold(name[:len(prefix)], prefix) {
			continue
		}
		k, err := readKey(filepath.Join(dir, strings.TrimSuffix(name, ".private")), origin)
		if err != nil {
			return nil, fmt.Errorf("zone %s: key: %w", origin, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// generateKey makes the key material of pub; a variable so that a test can hand out a key that
// collides with one it already has.
var generateKey = func(pub *dns.DNSKEY, bits int) (crypto.PrivateKey, error) { return pub.Generate(bits) }

// maxKeyTries bounds the keys made in search of a tag no other key of the zone has. With tags
// spread over 65,536 values and a handful of keys, a second try is rare and a tenth never seen.
const maxKeyTries = 32

// newKey makes a key whose tag is its own among the zone's keys (existing), and writes its files;
// its timing is t. Two keys with one tag are legal (RFC 4034 §5.3.1 makes
// validators try both), but they would share one file name, so that the new key would overwrite
// the old, and a DS or a log line naming the tag would not say which key it means; BIND's and
// Knot's key generators draw again too. The tag a key has once revoked (RFC 5011) counts as well.
func newKey(dir, origin string, alg uint8, flags uint16, t Timing, existing []*Key) (*Key, error) {
	taken := map[uint16]bool{}
	for _, k := range existing {
		taken[k.Tag()] = true
		taken[revokedTag(k.DNSKEY)] = true
	}
	for range maxKeyTries {
		pub := &dns.DNSKEY{Hdr: dns.Header{Name: origin, Class: dns.ClassINET, TTL: 3600}}
		pub.Flags, pub.Protocol, pub.Algorithm = flags, 3, alg
		priv, err := generateKey(pub, keyBits(alg))
		if err != nil {
			return nil, err
		}
		tag := pub.KeyTag()
		base := filepath.Join(dir, fileName(origin, alg, tag))
		if taken[tag] || taken[revokedTag(pub)] || exists(base+".key") || exists(base+".private") {
			continue
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("algorithm %d keys cannot sign", alg)
		}
		k := &Key{DNSKEY: pub, Signer: signer, Timing: t}
		if err := writeKey(dir, k, priv); err != nil {
			return nil, err
		}
		return k, nil
	}
	return nil, fmt.Errorf("no key with a tag of its own after %d tries (tags taken: %d)", maxKeyTries, len(taken))
}

// revokedTag is the tag k has with the REVOKE flag set (RFC 5011 §3).
func revokedTag(k *dns.DNSKEY) uint16 {
	r := *k
	r.Flags |= dns.FlagREVOKE
	return r.KeyTag()
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func algorithmName(a uint8) string {
	if n, ok := algorithmNames[a]; ok {
		return n
	}
	return fmt.Sprintf("%d", a)
}
