package signer

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

// A rollover is planned whole when it starts: the new key's and the old key's timing fields are
// written at once, so that the schedule is in the key files (it outlives a restart, and BIND's
// dnssec-settime shows it), and what the zone holds at any instant follows from the fields alone.
// The one step no clock can decide is the parent's DS for a new KSK: that waits for DSSeen.
//
//   - ZSK, pre-publication (RFC 7583 §3.2.1): at the old key's Activate + zsk_lifetime the new key
//     is published; Ipub later (propagation delay + DNSKEY TTL, when every cache that holds the
//     DNSKEY set holds the new key) it signs and the old key stops; Iret later (propagation
//     delay + the zone's largest TTL, when no cache holds a signature of the old key) the old
//     DNSKEY goes.
//   - KSK or CSK, double signature (RFC 7583 §3.3.2, §3.3.4): at Activate + ksk_lifetime the new
//     key is published and signs at once beside the old; Ipub later the CDS and CDNSKEY change
//     to the new key. Once the parent is known to hold its DS (DSSeen), the old key signs and
//     stays published for the parent's DS TTL plus the propagation delay, then goes.
//   - Algorithm (RFC 6781 §4.1.4, RFC 7583 §3.3.5), when the policy's algorithm is not the keys':
//     new keys of the new algorithm sign at once and are published Iret later; the CDS names the
//     new KSK Ipub after that. Once the parent's DS is seen, the old algorithm's keys are
//     unpublished with the old DS gone from caches, and their signatures go Ipub later.

// rollTimes are the waits of RFC 7583 for one zone.
type rollTimes struct {
	ipub time.Duration // a new DNSKEY reaches every cache: Dprp + TTLkey
	iret time.Duration // an old signature leaves every cache: Dprp + the largest TTL (Dsgn is 0: the zone is re-signed at once)
	ds   time.Duration // an old DS leaves every cache once the parent holds the new: Dprp + TTLds
}

// TTLs are the TTLs of an unsigned zone that its rollovers wait out.
type TTLs struct {
	SOA uint32 // the DNSKEY TTL unless the policy sets one
	// Largest is the largest TTL of any RRset or negative answer: how long a signature may stay
	// in a cache.
	Largest uint32
}

// TTLsOf reads u's TTLs. It walks the whole zone, so a caller keeps the result for as long as
// it signs the same version.
func TTLsOf(u *zone.Zone) TTLs {
	t := TTLs{SOA: u.SOA.Hdr.TTL, Largest: max(u.SOA.Hdr.TTL, u.NegativeTTL())}
	for n := range u.Nodes() {
		for _, s := range n.Sets {
			t.Largest = max(t.Largest, s.RRs[0].Header().TTL)
		}
	}
	return t
}

func timesOf(t TTLs, p Policy) rollTimes {
	keyTTL := p.DNSKEYTTL
	if keyTTL == 0 {
		keyTTL = t.SOA
	}
	sec := func(ttl uint32) time.Duration { return time.Duration(ttl) * time.Second }
	return rollTimes{
		ipub: p.PropagationDelay + sec(keyTTL),
		iret: p.PropagationDelay + sec(max(keyTTL, t.Largest)),
		ds:   p.PropagationDelay + p.ParentDSTTL,
	}
}

// CheckLifetimes reports a key lifetime shorter than the rollover it starts, for a zone with
// TTLs t: the next rollover would be due before the last is over.
func (p Policy) CheckLifetimes(t TTLs) error {
	rt := timesOf(t, p)
	if p.ZSKLifetime > 0 && !p.SingleTypeSigning && p.ZSKLifetime <= rt.ipub+rt.iret {
		return fmt.Errorf("zsk_lifetime %s is not longer than a ZSK rollover takes: %s (propagation_delay + DNSKEY TTL = %s, then propagation_delay + the zone's largest TTL = %s)",
			p.ZSKLifetime, rt.ipub+rt.iret, rt.ipub, rt.iret)
	}
	if p.KSKLifetime > 0 && p.KSKLifetime <= rt.ipub+rt.ds {
		return fmt.Errorf("ksk_lifetime %s is not longer than a KSK rollover takes at least: %s (propagation_delay + DNSKEY TTL = %s, then propagation_delay + parent_ds_ttl = %s)",
			p.KSKLifetime, rt.ipub+rt.ds, rt.ipub, rt.ds)
	}
	return nil
}

func isSEP(k *Key) bool { return k.DNSKEY.Flags&dns.FlagSEP != 0 }

// live are the keys of one kind (SEP or not) with no end planned.
func (s *KeySet) live(sep bool) []*Key {
	var out []*Key
	for _, k := range s.Keys {
		if isSEP(k) == sep && k.Timing.Inactive.IsZero() && k.Timing.Delete.IsZero() {
			out = append(out, k)
		}
	}
	return out
}

// rollAt is when the rollover of the one live key of a kind starts; zero when none is due to:
// no lifetime, a rollover under way (two live keys, or a successor not signing yet).
func (s *KeySet) rollAt(sep bool, lifetime time.Duration, now time.Time) (*Key, time.Time) {
	live := s.live(sep)
	if lifetime <= 0 || len(live) != 1 || live[0].Timing.Activate.After(now) {
		return nil, time.Time{}
	}
	return live[0], live[0].Timing.Activate.Add(lifetime)
}

// Roll starts the rollovers of set that are due at now, for a zone with TTLs ttls, writing the
// new keys and the timing of both keys of each into dir. It returns a line per rollover started, for the log.
func Roll(set *KeySet, dir string, p Policy, ttls TTLs, now time.Time) ([]string, error) {
	now = now.UTC().Truncate(time.Second)
	rt := timesOf(ttls, p)
	if !set.hasLive(p.Algorithm) {
		return set.rollAlgorithm(dir, p, rt, now)
	}
	var started []string
	if old, at := set.rollAt(false, p.ZSKLifetime, now); old != nil && !p.SingleTypeSigning && !at.After(now) {
		switchAt := now.Add(rt.ipub)
		k, err := newKey(dir, set.Origin, old.DNSKEY.Algorithm, dns.FlagZONE, Timing{Created: now, Publish: now, Activate: switchAt}, set.Keys)
		if err != nil {
			return started, fmt.Errorf("zone %s: ZSK rollover: new key in %s: %w", set.Origin, dir, err)
		}
		old.Timing.Inactive, old.Timing.Delete = switchAt, switchAt.Add(rt.iret)
		if err := saveTiming(old); err != nil {
			return started, fmt.Errorf("zone %s: ZSK rollover: key %d: %w", set.Origin, old.Tag(), err)
		}
		set.Keys = append(set.Keys, k)
		started = append(started, fmt.Sprintf("ZSK rollover: key %d published; it signs from %s, when key %d stops; key %d is removed at %s",
			k.Tag(), stamp(switchAt), old.Tag(), old.Tag(), stamp(old.Timing.Delete)))
	}
	if old, at := set.rollAt(true, p.KSKLifetime, now); old != nil && !at.After(now) {
		ready := now.Add(rt.ipub)
		k, err := newKey(dir, set.Origin, old.DNSKEY.Algorithm, dns.FlagZONE|dns.FlagSEP, Timing{Created: now, Publish: now, Activate: now, SyncPublish: ready}, set.Keys)
		if err != nil {
			return started, fmt.Errorf("zone %s: KSK rollover: new key in %s: %w", set.Origin, dir, err)
		}
		old.Timing.SyncDelete = ready
		if err := saveTiming(old); err != nil {
			return started, fmt.Errorf("zone %s: KSK rollover: key %d: %w", set.Origin, old.Tag(), err)
		}
		set.Keys = append(set.Keys, k)
		started = append(started, fmt.Sprintf("%s rollover: key %d published and signing beside key %d; CDS and CDNSKEY name it from %s; key %d retires once the parent's DS for key %d is seen",
			old.Role, k.Tag(), old.Tag(), stamp(ready), old.Tag(), k.Tag()))
	}
	if len(started) > 0 {
		setRoles(set.Keys, p.SingleTypeSigning)
		sortKeys(set.Keys)
	}
	return started, nil
}

// hasLive says whether a key of algorithm alg is in use with no end planned.
func (s *KeySet) hasLive(alg uint8) bool {
	return slices.ContainsFunc(s.Keys, func(k *Key) bool {
		return k.DNSKEY.Algorithm == alg && k.Timing.Inactive.IsZero() && k.Timing.Delete.IsZero()
	})
}

// rollAlgorithm starts an algorithm rollover (RFC 6781 §4.1.4, RFC 7583 §3.3.5): the new
// algorithm's keys sign every RRset at once but are published only when no cache holds an RRset
// without their signatures (a validator may insist on a signature of every algorithm the DNSKEY
// set holds, RFC 4035 §2.2), and the CDS names the new KSK once its DNSKEY is in every cache.
// DSSeen then plans the end of the old algorithm's keys.
func (s *KeySet) rollAlgorithm(dir string, p Policy, rt rollTimes, now time.Time) ([]string, error) {
	publish := now.Add(rt.iret)
	ready := publish.Add(rt.ipub)
	flags := []uint16{dns.FlagZONE | dns.FlagSEP}
	if !p.SingleTypeSigning {
		flags = append(flags, dns.FlagZONE)
	}
	var tags []string
	for _, f := range flags {
		t := Timing{Created: now, Activate: now, Publish: publish}
		if f&dns.FlagSEP != 0 {
			t.SyncPublish = ready
		}
		k, err := newKey(dir, s.Origin, p.Algorithm, f, t, s.Keys)
		if err != nil {
			return nil, fmt.Errorf("zone %s: algorithm rollover: new key in %s: %w", s.Origin, dir, err)
		}
		s.Keys = append(s.Keys, k)
		tags = append(tags, fmt.Sprint(k.Tag()))
	}
	for _, old := range s.live(true) {
		if old.DNSKEY.Algorithm == p.Algorithm || !old.Timing.SyncDelete.IsZero() && !old.Timing.SyncDelete.After(ready) {
			continue
		}
		old.Timing.SyncDelete = ready
		if err := saveTiming(old); err != nil {
			return nil, fmt.Errorf("zone %s: algorithm rollover: key %d: %w", s.Origin, old.Tag(), err)
		}
	}
	setRoles(s.Keys, p.SingleTypeSigning)
	sortKeys(s.Keys)
	return []string{fmt.Sprintf("algorithm rollover to %s: keys %s sign from now, are published at %s, and the CDS names the new KSK from %s; the old keys retire once the parent's DS for it is seen",
		algorithmName(p.Algorithm), strings.Join(tags, ", "), stamp(publish), stamp(ready))}, nil
}

// DSSeen records that the parent holds the DS of the newest KSK (or CSK) that waits for it, as
// the parent's operator or a check of the parent says, and plans the end of the keys it
// replaces: they keep signing until every cache has lost their DS. It returns what it did.
func DSSeen(set *KeySet, p Policy, ttls TTLs, now time.Time) (string, error) {
	now = now.UTC().Truncate(time.Second)
	live := set.live(true)
	var waiting *Key
	for _, k := range live {
		if k.Timing.DSPublish.IsZero() && (waiting == nil || k.Timing.Created.After(waiting.Timing.Created)) {
			waiting = k
		}
	}
	if waiting == nil {
		return "", fmt.Errorf("no KSK of zone %s waits for its DS: the parent is already known to hold the DS of key %s", set.Origin, tagList(live))
	}
	rt := timesOf(ttls, p)
	waiting.Timing.DSPublish = now
	if err := saveTiming(waiting); err != nil {
		return "", fmt.Errorf("zone %s: key %d: %w", set.Origin, waiting.Tag(), err)
	}
	msg := fmt.Sprintf("the parent holds the DS of key %d since %s", waiting.Tag(), stamp(now))
	ready := waiting.Timing.Publish.Add(rt.ipub)
	for _, old := range live {
		if old == waiting {
			continue
		}
		// The old key goes once no cache holds the old DS, nor a DNSKEY set without the new key;
		// a CSK also once no cache holds a signature made before the new key signed.
		retire := latest(now.Add(rt.ds), ready)
		if old.SignsZone() {
			retire = latest(retire, waiting.Timing.Activate.Add(rt.iret))
		}
		retiring := []*Key{old}
		if old.DNSKEY.Algorithm != waiting.DNSKEY.Algorithm {
			// The old algorithm's ZSKs go with its KSK.
			for _, z := range set.live(false) {
				if z.DNSKEY.Algorithm == old.DNSKEY.Algorithm {
					retiring = append(retiring, z)
				}
			}
		}
		for _, k := range retiring {
			k.Timing.Delete, k.Timing.Inactive = retire, retire
			if k.DNSKEY.Algorithm != waiting.DNSKEY.Algorithm {
				// Its signatures stay until no cache holds a DNSKEY set with its algorithm.
				k.Timing.Inactive = retire.Add(rt.ipub)
			}
			if isSEP(k) {
				k.Timing.DSRemoved = retire
				if k.Timing.SyncDelete.IsZero() || k.Timing.SyncDelete.After(retire) {
					k.Timing.SyncDelete = retire
				}
			}
			if err := saveTiming(k); err != nil {
				return "", fmt.Errorf("zone %s: key %d: %w", set.Origin, k.Tag(), err)
			}
			msg += fmt.Sprintf("; key %d is removed at %s", k.Tag(), stamp(retire))
		}
	}
	return msg, nil
}

// WaitingForDS is the new KSK (or CSK) of a rollover whose CDS is published and whose DS the
// parent is not yet known to hold; nil when no rollover waits for the parent.
func (s *KeySet) WaitingForDS(now time.Time) *Key {
	live := s.live(true)
	if len(live) < 2 {
		return nil
	}
	var newest *Key
	for _, k := range live {
		if newest == nil || k.Timing.Created.After(newest.Timing.Created) {
			newest = k
		}
	}
	if !newest.Timing.DSPublish.IsZero() || !newest.SyncPublished(now) {
		return nil
	}
	return newest
}

// HasDS says whether ds is the DS of k.
func (k *Key) HasDS(ds *dns.DS) bool {
	if ds.KeyTag != k.Tag() || ds.Algorithm != k.DNSKEY.Algorithm {
		return false
	}
	mine := k.DNSKEY.ToDS(ds.DigestType)
	return mine != nil && strings.EqualFold(mine.Digest, ds.Digest)
}

// NextEvent is the first instant after now at which the zone must change for its keys: a key
// published, signing, stopping or removed, CDS and CDNSKEY changed, or a rollover starting. It
// is zero when nothing is planned (a KSK rollover waiting for the parent's DS waits for DSSeen).
func (s *KeySet) NextEvent(p Policy, now time.Time) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, k := range s.Keys {
		t := k.Timing
		for _, at := range []time.Time{t.Publish, t.Activate, t.Inactive, t.Delete, t.SyncPublish, t.SyncDelete} {
			consider(at)
		}
	}
	// A rollover already due (the server was down when it was) starts at the next event.
	if _, at := s.rollAt(false, p.ZSKLifetime, now); !at.IsZero() && !p.SingleTypeSigning {
		consider(later(at, now))
	}
	if _, at := s.rollAt(true, p.KSKLifetime, now); !at.IsZero() {
		consider(later(at, now))
	}
	return next
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func later(at, now time.Time) time.Time {
	if at.After(now) {
		return at
	}
	return now.Add(time.Second)
}

// KeyState is what a key does at an instant and what it does next.
type KeyState struct {
	State string // created, published, ready, active, retiring, retired, removed
	// Next is the key's next event, at NextAt; a zero NextAt is an event that waits for the
	// operator (the parent's DS). Empty when nothing is planned.
	Next   string
	NextAt time.Time
}

// State says what k, one of s's keys, does at now.
func (s *KeySet) State(k *Key, p Policy, now time.Time) KeyState {
	t := k.Timing
	switch {
	case !t.Delete.IsZero() && !t.Delete.After(now) && k.signs(now):
		return KeyState{State: "unpublished", Next: "its signatures removed (algorithm rollover)", NextAt: t.Inactive}
	case !t.Delete.IsZero() && !t.Delete.After(now):
		return KeyState{State: "removed"}
	case t.Publish.After(now) && k.signs(now):
		return KeyState{State: "signing", Next: "published (algorithm rollover)", NextAt: t.Publish}
	case t.Publish.After(now):
		return KeyState{State: "created", Next: "published", NextAt: t.Publish}
	}
	if !isSEP(k) {
		switch {
		case t.Activate.After(now):
			return KeyState{State: "published", Next: "signs the zone (the old ZSK stops)", NextAt: t.Activate}
		case !t.Inactive.IsZero() && !t.Inactive.After(now):
			return KeyState{State: "retired", Next: "removed", NextAt: t.Delete}
		case !t.Delete.IsZero() && t.Delete.Before(t.Inactive):
			return KeyState{State: "active", Next: "unpublished (algorithm rollover)", NextAt: t.Delete}
		case !t.Inactive.IsZero():
			return KeyState{State: "active", Next: "stops signing (the next ZSK takes over)", NextAt: t.Inactive}
		}
		if _, at := s.rollAt(false, p.ZSKLifetime, now); !at.IsZero() && !p.SingleTypeSigning {
			return KeyState{State: "active", Next: "rollover starts", NextAt: at}
		}
		return KeyState{State: "active"}
	}
	switch {
	case !t.Inactive.IsZero():
		return KeyState{State: "retiring", Next: "removed (the parent's DS of its successor is in every cache)", NextAt: t.Delete}
	case t.SyncPublish.After(now):
		return KeyState{State: "published", Next: "ready: CDS and CDNSKEY name it", NextAt: t.SyncPublish}
	}
	live := s.live(true)
	if len(live) > 1 {
		if t.DSPublish.IsZero() && slices.IndexFunc(live, func(o *Key) bool { return o != k && o.Timing.Created.After(t.Created) }) < 0 {
			return KeyState{State: "ready", Next: "waits for its DS at the parent: warden ctl zone ds-seen " + s.Origin}
		}
		if t.SyncDelete.After(now) {
			return KeyState{State: "active", Next: "CDS and CDNSKEY name its successor", NextAt: t.SyncDelete}
		}
		return KeyState{State: "active", Next: "retires once its successor's DS is seen at the parent"}
	}
	if _, at := s.rollAt(true, p.KSKLifetime, now); !at.IsZero() {
		return KeyState{State: "active", Next: "rollover starts", NextAt: at}
	}
	return KeyState{State: "active"}
}

// SyncPublished says whether the zone's CDS and CDNSKEY name k at now: a published KSK or CSK
// within its SyncPublish..SyncDelete window. A key made before rollovers existed has no
// SyncPublish and is named from its publication on.
func (k *Key) SyncPublished(now time.Time) bool {
	if !isSEP(k) || !k.published(now) {
		return false
	}
	t := k.Timing
	from := t.SyncPublish
	if from.IsZero() {
		from = t.Publish
	}
	return !from.After(now) && (t.SyncDelete.IsZero() || t.SyncDelete.After(now))
}

// SameKeys says whether a and b are the same keys with the same timing.
func SameKeys(a, b *KeySet) bool { return sameKeys(a, b) }

// Rekey re-signs prev for a change of its keys' states at now (or of the keys themselves): the
// DNSKEY, CDS and CDNSKEY RRsets are made again, and every other RRset whose signatures are not
// exactly those of the keys that sign at now (a ZSK switch, a CSK joining or leaving) or that
// expire within the refresh window is signed again. The rest keeps its signatures. It returns
// the new version and the change from prev.
func Rekey(prev *Signed, keys *KeySet, now time.Time) (*Signed, zone.Diff, error) {
	u := prev.Unsigned
	j, err := newJob(u, keys, prev.Policy, now)
	if err != nil {
		return nil, zone.Diff{}, err
	}
	e := &edit{j: j, prev: prev.Zone, gone: map[dns.RR]bool{}}
	sets := map[uint16][]dns.RR{}
	for _, set := range j.apexKeySets() {
		sets[dns.RRToType(set[0])] = set
	}
	for _, t := range []uint16{dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY} {
		e.replace(prev.Zone.Key, t, sets[t])
	}
	var signing []uint16
	for _, k := range j.zsks {
		signing = append(signing, k.tag)
	}
	window := uint32(now.Add(prev.Expires.Sub(prev.RefreshAt)).Unix())
	var covered [8]uint16 // a node's signed types; a few, so a slice beats a map
	for n := range prev.Zone.Nodes() {
		sigs := n.RRset(dns.TypeRRSIG)
		types := covered[:0]
		for _, rr := range sigs {
			if t := rr.(*dns.RRSIG).TypeCovered; !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
		for _, t := range types {
			if t == dns.TypeSOA || n.Key == prev.Zone.Key && (t == dns.TypeDNSKEY || t == dns.TypeCDS || t == dns.TypeCDNSKEY) {
				continue
			}
			if !stale(sigs, t, signing, window) {
				continue
			}
			e.dropSigs(n.Key, t)
			e.tasks = append(e.tasks, taskFor(n.RRset(t)))
		}
	}
	diff, err := e.diff(soaWithSerial(prev.Zone.SOA, prev.Zone.Serial()+1))
	if err != nil {
		return nil, zone.Diff{}, err
	}
	z, err := prev.Zone.Apply(diff)
	if err != nil {
		return nil, zone.Diff{}, fmt.Errorf("zone %s: re-signing for a key change: %w", u.Origin, err)
	}
	return finish(z, u, keys, prev.Policy, prev.chain), diff, nil
}

// stale says whether the signatures over type t among sigs must be made again: one expires
// within the window, or they are not one by each of the signing keys.
func stale(sigs []dns.RR, t uint16, signing []uint16, window uint32) bool {
	n := 0
	for _, rr := range sigs {
		sig := rr.(*dns.RRSIG)
		if sig.TypeCovered != t {
			continue
		}
		if dns.CompareSerial(sig.Expiration, window) <= 0 || !slices.Contains(signing, sig.KeyTag) {
			return true
		}
		n++
	}
	return n != len(signing)
}

// sortKeys puts keys in one order however they were read or made (roles, then age, then tag),
// so that two reads of the same keys compare equal.
func sortKeys(keys []*Key) {
	slices.SortFunc(keys, func(a, b *Key) int {
		if a.Role != b.Role {
			return int(b.Role) - int(a.Role)
		}
		if c := a.Timing.Created.Compare(b.Timing.Created); c != 0 {
			return c
		}
		return int(a.Tag()) - int(b.Tag())
	})
}

func tagList(keys []*Key) string {
	var tags []string
	for _, k := range keys {
		tags = append(tags, fmt.Sprint(k.Tag()))
	}
	if len(tags) == 0 {
		return "none"
	}
	return strings.Join(tags, ", ")
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// errAllRemoved is what OpenKeys says when every key of a zone is past its Delete time: making
// new keys then would break the chain of trust without a word, so it is left to the operator.
var errAllRemoved = errors.New("every key of the zone is past its Delete time; move the key files away to make new keys")
