package signer

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/zone"
)

// version is one signed version of the zone and when it was in force.
type version struct {
	s        *Signed
	from, to time.Time // to is zero while in force
	parentDS []*dns.DS // what the parent held meanwhile
}

// rolloverRun drives a zone through its key events with a simulated clock, as internal/zones
// does with a real one: keys read again from their files and rollovers started at each event,
// the zone re-signed for the keys or its signatures refreshed, the parent's DS changed once
// the CDS names a new key, and DSSeen said a while later.
type rolloverRun struct {
	t        *testing.T
	dir      string
	p        Policy
	u        *zone.Zone
	clock    time.Time
	versions []*version
	parent   []*dns.DS
	dsAt     time.Time // when the parent's DS changed and DSSeen is still to be said
	log      []string
}

func (r *rolloverRun) keys() *KeySet {
	keys, _, err := OpenKeys(r.dir, r.u.Origin, r.p, r.clock)
	if err != nil {
		r.t.Fatalf("%s: %v", r.clock, err)
	}
	started, err := Roll(keys, r.dir, r.p, TTLsOf(r.u), r.clock)
	if err != nil {
		r.t.Fatalf("%s: %v", r.clock, err)
	}
	for _, s := range started {
		r.log = append(r.log, stamp(r.clock)+" "+s)
	}
	return keys
}

func (r *rolloverRun) install(s *Signed) {
	if n := len(r.versions); n > 0 {
		r.versions[n-1].to = r.clock
	}
	r.versions = append(r.versions, &version{s: s, from: r.clock, parentDS: r.parent})
	r.check()
}

// step moves the clock to the next event and does what it asks.
func (r *rolloverRun) step() {
	cur := r.versions[len(r.versions)-1].s
	next := cur.RefreshAt
	if e := cur.Keys.NextEvent(r.p, r.clock); !e.IsZero() && e.Before(next) {
		next = e
	}
	switch {
	case r.p != cur.Policy:
		// A new configuration is signed at once, as a reload is.
	case !r.dsAt.IsZero() && r.dsAt.Before(next):
		r.clock = r.dsAt
		r.dsAt = time.Time{}
		msg, err := DSSeen(r.keys(), r.p, TTLsOf(r.u), r.clock)
		if err != nil {
			r.t.Fatalf("%s: DSSeen: %v", r.clock, err)
		}
		r.log = append(r.log, stamp(r.clock)+" "+msg)
	default:
		r.clock = next
	}
	keys := r.keys()
	var s *Signed
	var err error
	if r.p != cur.Policy {
		s, _, err = Resign(cur, cur.Unsigned, keys, r.p, r.clock)
	} else {
		s, _, err = Rekey(cur, keys, r.clock)
	}
	if err != nil {
		r.t.Fatalf("%s: %v", r.clock, err)
	}
	// The parent takes the DS the CDS names, some time after it changes (RFC 7344).
	if cds := cdsOf(s.Zone); !sameDS(cds, r.parent) && r.dsAt.IsZero() {
		r.parent = cds
		r.dsAt = r.clock.Add(10 * time.Minute)
		r.log = append(r.log, fmt.Sprintf("%s parent DS now %s", stamp(r.clock), dsTags(cds)))
	}
	r.install(s)
}

// check is what validators see at r.clock: any version whose records a cache may still hold
// (in force less than the propagation delay plus the largest TTL ago), with the DNSKEY set of
// any version a cache may hold and the DS of any parent version a cache may hold, must
// validate. That is RFC 7583's condition for a rollover that no validator notices.
func (r *rolloverRun) check() {
	r.t.Helper()
	rt := timesOf(TTLsOf(r.u), r.p)
	keyWindow, dataWindow, dsWindow := rt.ipub, rt.iret, rt.ds
	// A cache that took a version the instant it went holds it for w, not longer.
	cached := func(v *version, w time.Duration) bool { return v.to.IsZero() || v.to.Add(w).After(r.clock) }
	// An RRset stays in caches for its own TTL, plus the propagation delay.
	held := func(v *version) func(ttl uint32) bool {
		return func(ttl uint32) bool { return cached(v, r.p.PropagationDelay+time.Duration(ttl)*time.Second) }
	}
	var datas, keysets, dss []*version
	for _, v := range r.versions {
		if cached(v, dataWindow) {
			datas = append(datas, v)
		}
		if cached(v, keyWindow) {
			keysets = append(keysets, v)
		}
		if cached(v, dsWindow) && !slices.ContainsFunc(dss, func(o *version) bool { return sameDS(o.parentDS, v.parentDS) }) {
			dss = append(dss, v)
		}
	}
	for _, keys := range keysets {
		for _, data := range datas {
			valid := validAlgorithms(data.s.Zone, keys.s.Zone, held(data))
			for _, ds := range dss {
				if err := coveredBy(valid, ds.parentDS); err != nil {
					r.t.Fatalf("at %s, data of the version from %s with the DNSKEY set of the version from %s and the parent's DS %s of %s: %v\n%s",
						stamp(r.clock), stamp(data.from), stamp(keys.from), dsTags(ds.parentDS), stamp(ds.from), err, strings.Join(r.log, "\n"))
				}
			}
		}
		for _, ds := range dss {
			if !keysetTrusted(keys.s.Zone, ds.parentDS) {
				r.t.Fatalf("at %s, the DNSKEY set of the version from %s has no key signing it that the parent's DS %s of %s names\n%s",
					stamp(r.clock), stamp(keys.from), dsTags(ds.parentDS), stamp(ds.from), strings.Join(r.log, "\n"))
			}
		}
	}
}

// validAlgorithms maps each signed RRset of data that caches may still hold ("owner type") to
// the algorithms of its signatures that verify with a key of keys' DNSKEY set.
func validAlgorithms(data, keys *zone.Zone, held func(ttl uint32) bool) map[string]map[uint8]bool {
	dnskeys := map[uint16]*dns.DNSKEY{}
	for _, rr := range keys.Node(keys.Key).RRset(dns.TypeDNSKEY) {
		k := rr.(*dns.DNSKEY)
		dnskeys[k.KeyTag()] = k
	}
	out := map[string]map[uint8]bool{}
	for n := range data.Nodes() {
		for _, rr := range n.RRset(dns.TypeRRSIG) {
			s := rr.(*dns.RRSIG)
			rrs := n.RRset(s.TypeCovered)
			if len(rrs) == 0 || !held(rrs[0].Header().TTL) {
				continue
			}
			name := n.Name + " " + dns.TypeToString[s.TypeCovered]
			if out[name] == nil {
				out[name] = map[uint8]bool{}
			}
			if k := dnskeys[s.KeyTag]; k != nil && k.Algorithm == s.Algorithm && s.Verify(k, rrs, &dns.SignOption{}) == nil {
				out[name][s.Algorithm] = true
			}
		}
	}
	return out
}

// coveredBy checks that every RRset has a valid signature of each algorithm the parent's DS
// names, as a validator that guards against algorithm downgrades wants (RFC 6840 §5.11 allows
// it; Unbound's harden-algo-downgrade), which also means at least one.
func coveredBy(valid map[string]map[uint8]bool, parent []*dns.DS) error {
	for name, algs := range valid {
		for _, d := range parent {
			if !algs[d.Algorithm] {
				return fmt.Errorf("%s: no valid signature of algorithm %d, which the parent's DS names", name, d.Algorithm)
			}
		}
	}
	return nil
}

// keysetTrusted says whether a key the parent's DS names is in z's DNSKEY set and signs it.
func keysetTrusted(z *zone.Zone, parent []*dns.DS) bool {
	apex := z.Node(z.Key)
	for _, rr := range apex.RRset(dns.TypeDNSKEY) {
		k := rr.(*dns.DNSKEY)
		if !slices.ContainsFunc(parent, func(d *dns.DS) bool { return d.KeyTag == k.KeyTag() }) {
			continue
		}
		for _, s := range apex.RRset(dns.TypeRRSIG) {
			if sig := s.(*dns.RRSIG); sig.TypeCovered == dns.TypeDNSKEY && sig.KeyTag == k.KeyTag() && sig.Verify(k, apex.RRset(dns.TypeDNSKEY), &dns.SignOption{}) == nil {
				return true
			}
		}
	}
	return false
}

func cdsOf(z *zone.Zone) []*dns.DS {
	var out []*dns.DS
	for _, rr := range z.Node(z.Key).RRset(dns.TypeCDS) {
		c := rr.(*dns.CDS)
		ds := c.DS
		out = append(out, &ds)
	}
	return out
}

func sameDS(a, b []*dns.DS) bool { return dsTags(a) == dsTags(b) }

func dsTags(ds []*dns.DS) string {
	var tags []string
	for _, d := range ds {
		tags = append(tags, fmt.Sprint(d.KeyTag))
	}
	slices.Sort(tags)
	return strings.Join(tags, ",")
}

func tagsOf(z *zone.Zone, t uint16) string {
	var tags []string
	for _, rr := range z.Node(z.Key).RRset(t) {
		switch r := rr.(type) {
		case *dns.DNSKEY:
			tags = append(tags, fmt.Sprint(r.KeyTag()))
		case *dns.CDS:
			tags = append(tags, fmt.Sprint(r.KeyTag))
		}
	}
	slices.Sort(tags)
	return strings.Join(tags, ",")
}

// Through two ZSK rollovers and a KSK rollover, and for CSKs through a CSK rollover, with a
// simulated clock: no validator, whatever DNSKEY, DS and data its cache holds from any moment a
// cache may keep them, sees the zone bogus; the DNSKEY set grows to the new key and shrinks back,
// the CDS names the new KSK before the parent is asked for its DS, and the schedule survives
// reading the keys again from their files at every step.
func TestRolloversKeepTheZoneValid(t *testing.T) {
	for _, single := range []bool{false, true} {
		name := "ksk+zsk"
		if single {
			name = "csk"
		}
		t.Run(name, func(t *testing.T) {
			p := Policy{
				SingleTypeSigning: single, DNSKEYTTL: 300, PropagationDelay: time.Minute, ParentDSTTL: 600 * time.Second,
				ZSKLifetime: 3 * time.Hour, KSKLifetime: 5 * time.Hour,
			}.Defaults()
			u := loadZone(t, testZone)
			if err := p.CheckLifetimes(TTLsOf(u)); err != nil {
				t.Fatal(err)
			}
			r := &rolloverRun{t: t, dir: t.TempDir(), p: p, u: u, clock: now}
			keys := r.keys()
			s, err := Sign(u, keys, p, r.clock, u.Serial())
			if err != nil {
				t.Fatal(err)
			}
			r.parent = cdsOf(s.Zone)
			r.install(s)
			first := tagsOf(s.Zone, dns.TypeDNSKEY)
			var dnskeySets, cdsSets []string
			for i := 0; i < 200 && r.clock.Sub(now) < 12*time.Hour; i++ {
				r.step()
				z := r.versions[len(r.versions)-1].s.Zone
				if d := tagsOf(z, dns.TypeDNSKEY); len(dnskeySets) == 0 || dnskeySets[len(dnskeySets)-1] != d {
					dnskeySets = append(dnskeySets, d)
				}
				if c := tagsOf(z, dns.TypeCDS); len(cdsSets) == 0 || cdsSets[len(cdsSets)-1] != c {
					cdsSets = append(cdsSets, c)
				}
			}
			t.Logf("DNSKEY sets: %s; CDS: %v\n%s", first, dnskeySets, strings.Join(r.log, "\n"))
			zsk, ksk := 0, 0
			for _, l := range r.log {
				switch {
				case strings.Contains(l, " ZSK rollover:"):
					zsk++
				case strings.Contains(l, "SK rollover:"):
					ksk++
				}
			}
			// Keys made at 0h with lifetimes of 3h (ZSK) and 5h (KSK, CSK): ZSK rollovers at
			// 3h, 6h06m and 9h12m, each new key signing 6 minutes after it starts; KSK or CSK
			// rollovers at 5h and 10h.
			if wantZSK := map[bool]int{false: 3, true: 0}[single]; zsk < wantZSK || ksk < 2 {
				t.Errorf("%d ZSK and %d KSK/CSK rollovers started in 12 hours, want %d and 2", zsk, ksk, wantZSK)
			}
			// The CDS names one key at a time: the old KSK until the new one is in every cache,
			// then the new one.
			if len(cdsSets) < 3 || slices.ContainsFunc(cdsSets, func(c string) bool { return strings.Contains(c, ",") || c == "" }) {
				t.Errorf("CDS sets %v; want one key each, changed at each rollover", cdsSets)
			}
			// Every rollover ends with as many keys as the zone started with, and new ones.
			ended := 0
			for _, set := range dnskeySets {
				if len(strings.Split(set, ",")) == len(strings.Split(first, ",")) && set != first {
					ended++
				}
			}
			if ended < 2 {
				t.Errorf("the DNSKEY set went back to %d keys %d times, want one for each rollover ended: %v", len(strings.Split(first, ",")), ended, dnskeySets)
			}
		})
	}
}

func TestLifetimeShorterThanRolloverRefused(t *testing.T) {
	u := loadZone(t, testZone) // largest TTL 3600
	p := Policy{DNSKEYTTL: 300, PropagationDelay: time.Minute, ZSKLifetime: time.Hour}.Defaults()
	if err := p.CheckLifetimes(TTLsOf(u)); err == nil || !strings.Contains(err.Error(), "zsk_lifetime 1h0m0s") {
		t.Errorf("a ZSK lifetime of an hour with a largest TTL of an hour: %v", err)
	}
	p = Policy{DNSKEYTTL: 300, PropagationDelay: time.Minute, KSKLifetime: 10 * time.Minute}.Defaults()
	if err := p.CheckLifetimes(TTLsOf(u)); err == nil || !strings.Contains(err.Error(), "ksk_lifetime") {
		t.Errorf("a KSK lifetime of 10 minutes with a parent DS TTL of a day: %v", err)
	}
}

// DSSeen with nothing waiting says so, and a KSK's DS seen is kept in its file.
func TestDSSeenKeptInTheKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := Policy{}.Defaults()
	u := loadZone(t, testZone)
	keys := testKeys(t, dir, p)
	if _, err := DSSeen(keys, p, TTLsOf(u), now); err != nil {
		t.Fatalf("the first KSK's DS: %v", err)
	}
	again := testKeys(t, dir, p)
	if again.Keys[0].Timing.DSPublish != now {
		t.Fatalf("DSPublish %v after reading the key again, want %v", again.Keys[0].Timing.DSPublish, now)
	}
	if _, err := DSSeen(again, p, TTLsOf(u), now); err == nil || !strings.Contains(err.Error(), "waits for its DS") {
		t.Errorf("DSSeen with nothing waiting: %v", err)
	}
}

// An algorithm rollover, from ECDSA P-256 to Ed25519, with KSK and ZSK and with a CSK: every
// cache a validator may hold validates all along, even for a validator that wants a signature
// of each algorithm the parent's DS names; the new algorithm signs before its keys are
// published, and at the end nothing of the old algorithm is left.
func TestAlgorithmRolloverKeepsTheZoneValid(t *testing.T) {
	for _, single := range []bool{false, true} {
		t.Run(map[bool]string{false: "ksk+zsk", true: "csk"}[single], func(t *testing.T) {
			p := Policy{SingleTypeSigning: single, DNSKEYTTL: 300, PropagationDelay: time.Minute, ParentDSTTL: 600 * time.Second}.Defaults()
			u := loadZone(t, testZone)
			r := &rolloverRun{t: t, dir: t.TempDir(), p: p, u: u, clock: now}
			s, err := Sign(u, r.keys(), p, r.clock, u.Serial())
			if err != nil {
				t.Fatal(err)
			}
			r.parent = cdsOf(s.Zone)
			r.install(s)
			r.clock = r.clock.Add(time.Hour)
			r.p.Algorithm = dns.ED25519
			var steps []string // the algorithms of the DNSKEY set and of the SOA's signatures
			for i := 0; i < 50; i++ {
				r.step()
				z := r.versions[len(r.versions)-1].s.Zone
				step := "keys " + algorithmsOf(z, dns.TypeDNSKEY) + " sigs " + algorithmsOf(z, dns.TypeRRSIG)
				if len(steps) == 0 || steps[len(steps)-1] != step {
					steps = append(steps, step)
				}
				if step == "keys 15 sigs 15" {
					break
				}
			}
			t.Logf("%s\n%s", strings.Join(steps, "\n"), strings.Join(r.log, "\n"))
			want := []string{"keys 13 sigs 13,15", "keys 13,15 sigs 13,15", "keys 15 sigs 13,15", "keys 15 sigs 15"}
			if !slices.Equal(steps, want) {
				t.Errorf("the zone went through\n%s\nwant\n%s", strings.Join(steps, "\n"), strings.Join(want, "\n"))
			}
			if got := dsTags(r.parent); got == "" || r.parent[0].Algorithm != dns.ED25519 {
				t.Errorf("the parent's DS %s is not the new algorithm's", got)
			}
		})
	}
}

// algorithmsOf are the algorithms of z's apex DNSKEY records, or of the signatures over its SOA.
func algorithmsOf(z *zone.Zone, t uint16) string {
	seen := map[uint8]bool{}
	for _, rr := range z.Node(z.Key).RRset(t) {
		switch r := rr.(type) {
		case *dns.DNSKEY:
			seen[r.Algorithm] = true
		case *dns.RRSIG:
			if r.TypeCovered == dns.TypeSOA {
				seen[r.Algorithm] = true
			}
		}
	}
	var out []string
	for _, a := range slices.Sorted(maps.Keys(seen)) {
		out = append(out, fmt.Sprint(a))
	}
	return strings.Join(out, ",")
}

// Rekey changes only what a key event changes: publishing a new ZSK touches the apex key sets
// and the SOA; its switch replaces every signature the old ZSK made, and nothing else.
func TestRekeyChangesOnlyWhatTheKeysChange(t *testing.T) {
	p := Policy{DNSKEYTTL: 300, PropagationDelay: time.Minute, ZSKLifetime: 3 * time.Hour}.Defaults()
	u := loadZone(t, testZone)
	// Four hours in the past, so that dnssec-verify, which reads the real clock, takes the
	// signatures made three hours later as valid.
	start := now.Add(-4 * time.Hour)
	r := &rolloverRun{t: t, dir: t.TempDir(), p: p, u: u, clock: start}
	s0, err := Sign(u, r.keys(), p, start, u.Serial())
	if err != nil {
		t.Fatal(err)
	}
	r.clock = start.Add(3 * time.Hour)
	keys := r.keys()
	s1, d, err := Rekey(s0, keys, r.clock)
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range slices.Concat(d.Removed, d.Added) {
		typ := dns.RRToType(rr)
		if sig, ok := rr.(*dns.RRSIG); ok {
			typ = sig.TypeCovered
		}
		if rr.Header().Name != u.Origin || !slices.Contains([]uint16{dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY, dns.TypeSOA}, typ) {
			t.Errorf("publishing a ZSK changed %s", rr)
		}
	}
	if n := len(s1.Zone.Node(s1.Zone.Key).RRset(dns.TypeDNSKEY)); n != 3 {
		t.Fatalf("%d DNSKEYs after the new ZSK's publication, want 3", n)
	}

	r.clock = keys.NextEvent(p, r.clock) // the switch
	s2, d, err := Rekey(s1, r.keys(), r.clock)
	if err != nil {
		t.Fatal(err)
	}
	oldZSK := keys.Keys[1].Tag()
	before, removedSigs := 0, 0
	for rr := range s1.Zone.All() {
		if sig, ok := rr.(*dns.RRSIG); ok && sig.KeyTag == oldZSK {
			before++
		}
	}
	for _, rr := range d.Removed {
		sig, ok := rr.(*dns.RRSIG)
		switch {
		case ok && sig.KeyTag == oldZSK:
			removedSigs++
		case ok && (sig.TypeCovered == dns.TypeSOA || sig.TypeCovered == dns.TypeDNSKEY || sig.TypeCovered == dns.TypeCDS || sig.TypeCovered == dns.TypeCDNSKEY):
		case dns.RRToType(rr) == dns.TypeSOA || dns.RRToType(rr) == dns.TypeDNSKEY || dns.RRToType(rr) == dns.TypeCDS || dns.RRToType(rr) == dns.TypeCDNSKEY:
		default:
			t.Errorf("the ZSK switch removed %s", rr)
		}
	}
	if removedSigs != before || before == 0 {
		t.Errorf("the switch removed %d of the old ZSK's %d signatures", removedSigs, before)
	}
	for rr := range s2.Zone.All() {
		if sig, ok := rr.(*dns.RRSIG); ok && sig.KeyTag == oldZSK {
			t.Errorf("after the switch the old ZSK still signs %s", rr)
		}
	}
	verify(t, s2.Zone, false)
}
