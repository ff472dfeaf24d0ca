package validator

import (
	"fmt"
	"strings"
	"time"

	"codeberg.org/miekg/dns"
)

// KeyState is where a key stands in the life of a trust anchor under RFC 5011 §4.
type KeyState string

const (
	// KeyAddPend: seen in a validated DNSKEY RRset, not trusted before the add hold-down.
	KeyAddPend KeyState = "addpend"
	// KeyValid: a trust anchor.
	KeyValid KeyState = "valid"
	// KeyMissing: a trust anchor absent from the last RRset; still trusted (§4: the zone
	// may bring it back).
	KeyMissing KeyState = "missing"
	// KeyRevoked: the key revoked itself; never trusted again, forgotten after the remove
	// hold-down.
	KeyRevoked KeyState = "revoked"
)

// HoldDown is RFC 5011's add and remove hold-down time: 30 days.
const HoldDown = 30 * 24 * time.Hour

// TrackedKey is one key-signing key of an anchored zone and its state.
type TrackedKey struct {
	Key       string    `json:"key"` // the DNSKEY record in zone-file form
	State     KeyState  `json:"state"`
	FirstSeen time.Time `json:"first_seen"`
	Changed   time.Time `json:"changed"`

	dnskey *dns.DNSKEY
}

// Tracker follows the key-signing keys of one anchored zone as RFC 5011 says: a new key becomes
// an anchor only after it has been in every validated DNSKEY RRset for the add hold-down, and a
// key that signs its own revocation stops being one at once. It keeps no clock and does no I/O:
// Update is given each DNSKEY RRset fetched, with the time; the daemon keeps it on disk.
type Tracker struct {
	Zone string `json:"zone"`
	// DS is the anchor's DS records, trusted until a key they match is known.
	DS   []string     `json:"ds,omitempty"`
	Keys []TrackedKey `json:"keys"`
}

// NewTracker starts tracking from a configured anchor: its DNSKEYs are valid from now.
func NewTracker(a *Anchor, now time.Time) *Tracker {
	t := &Tracker{Zone: a.Zone}
	for _, d := range a.DS {
		t.DS = append(t.DS, d.String())
	}
	for _, k := range a.Keys {
		t.Keys = append(t.Keys, TrackedKey{Key: k.String(), State: KeyValid, FirstSeen: now, Changed: now, dnskey: k})
	}
	return t
}

// Load parses the keys of a tracker read back from its JSON.
func (t *Tracker) Load() error {
	for i := range t.Keys {
		k, err := parseDNSKEY(t.Keys[i].Key)
		if err != nil {
			return fmt.Errorf("trust anchor state of %s: key %d: %w", t.Zone, i, err)
		}
		t.Keys[i].dnskey = k
		switch t.Keys[i].State {
		case KeyAddPend, KeyValid, KeyMissing, KeyRevoked:
		default:
			return fmt.Errorf("trust anchor state of %s: key %d: unknown state %q", t.Zone, i, t.Keys[i].State)
		}
	}
	for _, d := range t.DS {
		if _, err := dns.New(d); err != nil {
			return fmt.Errorf("trust anchor state of %s: DS %q: %w", t.Zone, d, err)
		}
	}
	return nil
}

func parseDNSKEY(s string) (*dns.DNSKEY, error) {
	rr, err := dns.New(s)
	if err != nil {
		return nil, err
	}
	k, ok := rr.(*dns.DNSKEY)
	if !ok {
		return nil, fmt.Errorf("%q is not a DNSKEY record", s)
	}
	return k, nil
}

// Anchor returns the anchor the tracker stands for now: its valid and missing keys, and the DS
// records while no key is known.
func (t *Tracker) Anchor() *Anchor {
	a := &Anchor{Zone: t.Zone}
	for _, k := range t.Keys {
		if k.State == KeyValid || k.State == KeyMissing {
			a.Keys = append(a.Keys, k.dnskey)
		}
	}
	for _, s := range t.DS {
		if rr, err := dns.New(s); err == nil {
			if d, ok := rr.(*dns.DS); ok {
				a.DS = append(a.DS, d)
			}
		}
	}
	return a
}

// Update applies one fetched DNSKEY RRset of the zone, with its signatures, at now. The RRset
// counts only if it validates with the anchor as it stands (RFC 5011 §2.2); it reports whether
// anything changed. Revoked keys that signed the RRset are revoked at once (§2.1); new SEP keys
// wait the add hold-down (§2.4.1); an absent trust anchor stays one (missing).
func (t *Tracker) Update(o Options, dnskeys []*dns.DNSKEY, sigs []*dns.RRSIG, now time.Time) (bool, error) {
	current := t.Anchor()
	res, _ := o.TrustKeys(t.Zone, dnskeys, sigs, current.DS, current.Keys)
	if res.State != Secure {
		// The RRset may also be signed only by a key that revokes itself: §2.1 still
		// honours that revocation, checked below, but nothing is added.
		if !t.revocations(o, dnskeys, sigs, now) {
			return false, fmt.Errorf("DNSKEY RRset of %s does not validate with the anchor: %v", t.Zone, res)
		}
		return true, nil
	}
	changed := t.revocations(o, dnskeys, sigs, now)
	seen := map[int]bool{}
	for _, k := range dnskeys {
		if k.Flags&dns.FlagSEP == 0 || k.Flags&dns.FlagREVOKE != 0 || !zoneKey(k) {
			continue
		}
		i := t.find(k)
		if i < 0 {
			t.Keys = append(t.Keys, TrackedKey{Key: k.String(), State: KeyAddPend, FirstSeen: now, Changed: now, dnskey: k})
			seen[len(t.Keys)-1] = true
			changed = true
			continue
		}
		seen[i] = true
		tk := &t.Keys[i]
		switch {
		case tk.State == KeyAddPend && now.Sub(tk.FirstSeen) >= HoldDown:
			tk.State, tk.Changed, changed = KeyValid, now, true
		case tk.State == KeyMissing:
			tk.State, tk.Changed, changed = KeyValid, now, true
		}
	}
	// A key found valid through the DS alone becomes a tracked anchor.
	if len(current.Keys) == 0 {
		for _, k := range dnskeys {
			if i := t.find(k); i >= 0 && t.Keys[i].State == KeyAddPend && matchesDS(k, current.DS, dsPreference(current.DS)) {
				t.Keys[i].State, t.Keys[i].Changed, changed = KeyValid, now, true
			}
		}
	}
	kept := t.Keys[:0]
	for i, tk := range t.Keys {
		switch {
		case seen[i] || tk.State == KeyMissing:
		case tk.State == KeyAddPend:
			changed = true
			continue // gone before it was trusted: forgotten (§4, AddPend to Start)
		case tk.State == KeyValid:
			tk.State, tk.Changed, changed = KeyMissing, now, true
		case tk.State == KeyRevoked && now.Sub(tk.Changed) >= HoldDown:
			changed = true
			continue
		}
		kept = append(kept, tk)
	}
	t.Keys = kept
	return changed, nil
}

// revocations marks revoked the tracked keys whose revoked form is in dnskeys and signed the
// RRset itself (RFC 5011 §2.1).
func (t *Tracker) revocations(o Options, dnskeys []*dns.DNSKEY, sigs []*dns.RRSIG, now time.Time) bool {
	changed := false
	set := make([]dns.RR, len(dnskeys))
	for i, k := range dnskeys {
		set[i] = k
	}
	for _, k := range dnskeys {
		if k.Flags&dns.FlagREVOKE == 0 {
			continue
		}
		i := t.find(k)
		if i < 0 || t.Keys[i].State == KeyRevoked {
			continue
		}
		if v := o.VerifyRRset(set, sigs, []*dns.DNSKEY{k}); v.State != Secure {
			continue // not self-signed: anyone could have added the bit
		}
		t.Keys[i].State, t.Keys[i].Changed, changed = KeyRevoked, now, true
	}
	return changed
}

// find returns the tracked key with k's algorithm and public key, whatever its REVOKE bit.
func (t *Tracker) find(k *dns.DNSKEY) int {
	for i, tk := range t.Keys {
		if tk.dnskey.Algorithm == k.Algorithm && strings.TrimSpace(tk.dnskey.PublicKey) == strings.TrimSpace(k.PublicKey) {
			return i
		}
	}
	return -1
}

// dsPreference is the digest preference TrustKeys uses for ds.
func dsPreference(ds []*dns.DS) int {
	best := 0
	for _, d := range ds {
		if SupportedAlgorithm(d.Algorithm) && SupportedDigest(d.DigestType) {
			best = max(best, digestPreference(d.DigestType))
		}
	}
	return best
}

// RefreshInterval is how long to wait before fetching the DNSKEY RRset of an anchored zone
// again (RFC 5011 §2.3): half its original TTL or half the time left on its signatures,
// at least an hour and at most 15 days.
func RefreshInterval(dnskeys []*dns.DNSKEY, sigs []*dns.RRSIG, now time.Time) time.Duration {
	d := 15 * 24 * time.Hour
	for _, k := range dnskeys {
		d = min(d, time.Duration(k.Hdr.TTL)*time.Second/2)
	}
	for _, s := range sigs {
		_, exp := window(s, now)
		d = min(d, exp.Sub(now)/2)
		d = min(d, time.Duration(s.OrigTTL)*time.Second/2)
	}
	return max(d, time.Hour)
}
