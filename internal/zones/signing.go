package zones

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/config"
	"warden/internal/control"
	"warden/internal/health"
	"warden/internal/signer"
	"warden/internal/transfer"
	"warden/internal/zone"
)

// signing is the online-signing state of a zone with dnssec.sign. Its fields change with m.mu
// held; status reads err and last without it.
type signing struct {
	// last is the signed version in force and what it was signed from; nil before the first.
	last atomic.Pointer[signer.Signed]
	// err is why the last signing failed; nil after a success. The last good version keeps
	// serving meanwhile.
	err atomic.Pointer[error]
	// timer fires when signatures are due for refresh or the keys' next event comes.
	timer *time.Timer
	// keyEvent is the keys' next event after the version in force was signed; zero when none
	// is planned.
	keyEvent time.Time
	// ttls are the TTLs of the unsigned version ttlsOf, kept because reading them walks the
	// whole zone and every change of the zone opens its keys.
	ttls   signer.TTLs
	ttlsOf *zone.Zone
}

// retrySigning is how soon a failed refresh is tried again.
const retrySigning = time.Minute

func policyOf(c config.DNSSECConfig) signer.Policy {
	p := signer.Policy{
		SingleTypeSigning: c.SingleTypeSigning,
		RRSIGLifetime:     c.RRSIGLifetime,
		RRSIGRefresh:      c.RRSIGRefresh,
		ZSKLifetime:       c.ZSKLifetime,
		KSKLifetime:       c.KSKLifetime,
		PropagationDelay:  c.PropagationDelay,
		DNSKEYTTL:         c.DNSKEYTTL,
		ParentDSTTL:       c.ParentDSTTL,
	}
	if c.Algorithm != "" {
		p.Algorithm, _ = signer.ParseAlgorithm(c.Algorithm) // validated with the config
	}
	if strings.EqualFold(c.Denial, "nsec3") {
		p.Denial = signer.NSEC3
	}
	return p.Defaults()
}

// data is the zone's unsigned data in force: what updates, transfers in and file reloads change.
// For a zone not signed here, that is the version served.
func (z *Zone) data() *zone.Zone {
	if z.sign != nil {
		if s := z.sign.last.Load(); s != nil {
			return s.Unsigned
		}
		return nil
	}
	return z.cur.Load()
}

// zoneKeys opens the zone's keys, making them on the first start, and starts the rollovers
// that are due; u is the unsigned data they are for (its TTLs set the rollovers' waits).
func (m *Manager) zoneKeys(z *Zone, u *zone.Zone) (*signer.KeySet, signer.Policy, error) {
	c := z.conf().DNSSEC
	p := policyOf(c)
	if err := p.Check(); err != nil {
		return nil, p, fmt.Errorf("zone %s: %w", z.Origin(), err)
	}
	if z.sign.ttlsOf != u {
		z.sign.ttls, z.sign.ttlsOf = signer.TTLsOf(u), u
	}
	ttls := z.sign.ttls
	checked := p
	if c.ZSKLifetime == 0 {
		// The default lifetime is not refused for a zone whose TTLs reach a month: its
		// rollovers overlap, each with its own safe schedule, and the DNSKEY set holds one
		// key more for a while.
		checked.ZSKLifetime = 0
	}
	if err := checked.CheckLifetimes(ttls); err != nil {
		return nil, p, fmt.Errorf("zone %s: %w", z.Origin(), err)
	}
	now := m.now()
	keys, made, err := signer.OpenKeys(c.KeyDir, z.Origin(), p, now)
	if err != nil {
		return nil, p, err
	}
	if made {
		for _, k := range keys.Keys {
			m.log.Info("DNSSEC key made", "zone", z.Origin(), "tag", k.Tag(), "role", k.Role.String(), "file", k.Base+".key")
		}
	}
	started, err := signer.Roll(keys, c.KeyDir, p, ttls, now)
	for _, line := range started {
		m.log.Info("DNSSEC key rollover started", "zone", z.Origin(), "plan", line)
	}
	if err != nil {
		return nil, p, err
	}
	return keys, p, nil
}

// warnSigned says, once per file loaded, that a zone file given to be signed here holds DNSSEC
// records already: they are dropped and replaced by this server's, so the operator who meant
// to serve a pre-signed file learns that dnssec.sign is on.
func (m *Manager) warnSigned(z *Zone, u *zone.Zone) {
	if n := signer.DNSSECRecords(u); n > 0 {
		m.log.Warn("zone file is signed already; its DNSSEC records are replaced by this server's", "zone", z.Origin(), "file", z.conf().File, "dnssec_records", n)
	}
}

// signNew signs u whole, for a zone being loaded. The serial goes past any the journal has
// sent out, so secondaries of an earlier run take the new version.
func (m *Manager) signNew(z *Zone, u *zone.Zone) (*signer.Signed, error) {
	keys, p, err := m.zoneKeys(z, u)
	if err != nil {
		return nil, err
	}
	serial := u.Serial()
	if z.journal != nil {
		if newest, ok := z.journal.Newest(); ok {
			serial = signer.NextSerial(newest, serial)
		}
	}
	start := time.Now()
	s, err := signer.Sign(u, keys, p, m.now(), serial)
	if err != nil {
		return nil, err
	}
	m.log.Info("zone signed", "zone", z.Origin(), "serial", serial, "records", s.Zone.Records, "keys", len(keys.Keys), "denial", p.Denial.String(), "took", time.Since(start).Round(time.Millisecond).String(), "refresh_at", s.RefreshAt)
	return s, nil
}

// signed turns next, a new version of a signed zone's unsigned data, into the signed version
// and its change from the one in force. Called with m.mu held.
func (m *Manager) signed(z *Zone, next *zone.Zone) (*signer.Signed, []zone.Diff, error) {
	prev := z.sign.last.Load()
	if prev == nil {
		s, err := m.signNew(z, next)
		return s, nil, err
	}
	keys, p, err := m.zoneKeys(z, next)
	if err != nil {
		return nil, nil, err
	}
	now := m.now()
	s, d, err := signer.Resign(prev, next, keys, p, now)
	if err != nil {
		return nil, nil, err
	}
	diffs := []zone.Diff{d}
	if e := z.sign.keyEvent; !e.IsZero() && !e.After(now) && signer.SameKeys(prev.Keys, keys) {
		// A key event came before the timer did: the incremental signing above kept the key
		// sets as they were, so they are made again for now.
		if s, d, err = signer.Rekey(s, keys, now); err != nil {
			return nil, nil, err
		}
		diffs = append(diffs, d)
	}
	return s, diffs, nil
}

// signingError is why the zone's last signing failed, nil when it did not or the zone is not
// signed here.
func (z *Zone) signingError() error {
	if z.sign == nil {
		return nil
	}
	if p := z.sign.err.Load(); p != nil {
		return *p
	}
	return nil
}

// signFailed records why signing failed; the last good version goes on serving.
func (m *Manager) signFailed(z *Zone, err error) {
	z.sign.err.Store(&err)
	m.trouble(health.ZoneSigning, z.Origin()).Fail(err)
}

// installSigned records s as the zone's signed state and schedules its refresh. Called with
// m.mu held, before the version is put in force.
func (m *Manager) installSigned(z *Zone, s *signer.Signed) {
	z.sign.last.Store(s)
	z.sign.err.Store(nil)
	m.trouble(health.ZoneSigning, z.Origin()).Recover()
	m.schedule(z, s)
}

// schedule sets the zone's timer for s, the version in force: its signatures' refresh, its
// keys' next event, or the next check of the parent's DS, whichever comes first.
func (m *Manager) schedule(z *Zone, s *signer.Signed) {
	now := m.now()
	at := s.RefreshAt
	z.sign.keyEvent = s.Keys.NextEvent(s.Policy, now)
	if !z.sign.keyEvent.IsZero() && z.sign.keyEvent.Before(at) {
		at = z.sign.keyEvent
	}
	if c := z.conf().DNSSEC; len(c.ParentDSCheck) > 0 && s.Keys.WaitingForDS(now) != nil {
		if check := now.Add(dsCheckInterval(c)); check.Before(at) {
			at = check
		}
	}
	m.scheduleRefresh(z, at.Sub(now))
}

func dsCheckInterval(c config.DNSSECConfig) time.Duration {
	if c.ParentDSCheckInterval > 0 {
		return c.ParentDSCheckInterval
	}
	return time.Hour
}

// parentHoldsDS asks the parent's servers the zone's configuration names for its DS while a
// new KSK waits for it, and says whether every one holds the new key's DS. It does network
// I/O, so it runs without m.mu.
func (m *Manager) parentHoldsDS(z *Zone) bool {
	c := z.conf().DNSSEC
	s := z.sign.last.Load()
	if len(c.ParentDSCheck) == 0 || s == nil {
		return false
	}
	k := s.Keys.WaitingForDS(m.now())
	if k == nil {
		return false
	}
	for _, addr := range c.ParentDSCheck {
		ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
		list, err := transfer.QueryDS(ctx, transfer.Peer{Addr: addr}, z.Origin())
		cancel()
		if err != nil {
			m.log.Warn("parent DS check failed; the KSK rollover waits", "zone", z.Origin(), "key", k.Tag(), "err", err)
			return false
		}
		if !slices.ContainsFunc(list, k.HasDS) {
			m.log.Info("the parent does not hold the new KSK's DS yet", "zone", z.Origin(), "key", k.Tag(), "server", addr.String())
			return false
		}
	}
	return true
}

func (m *Manager) scheduleRefresh(z *Zone, wait time.Duration) {
	if z.sign.timer != nil {
		z.sign.timer.Stop()
	}
	z.sign.timer = time.AfterFunc(max(wait, 0), func() { m.maintain(z) })
}

// maintain runs when the timer fires: it starts the rollovers that are due, re-signs the zone
// for the keys' states at now when they changed, and otherwise replaces the signatures due
// for refresh; the result is put in force.
func (m *Manager) maintain(z *Zone) {
	seen := m.parentHoldsDS(z)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil || m.zone(z.Origin()) != z {
		return
	}
	if seen {
		if _, err := m.dsSeen(z); err != nil {
			m.signFailed(z, err)
			m.scheduleRefresh(z, retrySigning)
		}
		return
	}
	now := m.now()
	prev := z.sign.last.Load()
	keysDue := !z.sign.keyEvent.IsZero() && !z.sign.keyEvent.After(now)
	if prev != nil && z.sign.err.Load() == nil && !keysDue && prev.RefreshAt.After(now) {
		// Only the parent's DS was due for a check, and it is not there yet: nothing in the
		// zone changes, so no new version is made.
		m.schedule(z, prev)
		return
	}
	if err := m.resignForKeys(z, false); err != nil {
		m.signFailed(z, err)
		m.scheduleRefresh(z, retrySigning)
	}
}

// resignForKeys re-signs the zone in force from its keys as they are now on disk (force: even
// when no key event is due, because the keys' files changed). Called with m.mu held.
func (m *Manager) resignForKeys(z *Zone, force bool) error {
	prev := z.sign.last.Load()
	if prev == nil {
		return nil
	}
	keys, p, err := m.zoneKeys(z, prev.Unsigned)
	if err != nil {
		return err
	}
	now := m.now()
	var s *signer.Signed
	var d zone.Diff
	what := "signatures refreshed"
	switch {
	case p != prev.Policy:
		s, d, err = signer.Resign(prev, prev.Unsigned, keys, p, now)
		what = "signed again for a new policy"
	case force || !signer.SameKeys(prev.Keys, keys) || !z.sign.keyEvent.IsZero() && !z.sign.keyEvent.After(now):
		s, d, err = signer.Rekey(prev, keys, now)
		what = "signed again for a key event"
	default:
		s, d, err = signer.Refresh(prev, now)
	}
	if err != nil {
		return err
	}
	m.installSigned(z, s)
	m.put(z, s.Zone, []zone.Diff{d}, fmt.Sprintf("%s: %d records in, %d out", what, len(d.Added), len(d.Removed)))
	if was, is := cdsTags(prev.Zone), cdsTags(s.Zone); was != is {
		// The parent's side of a KSK rollover is the operator's (or a script's): say what to do.
		m.log.Warn("CDS and CDNSKEY changed: the parent should hold the DS that `warden ctl zone ds` prints; once it does, run `warden ctl zone ds-seen`",
			"zone", z.Origin(), "cds_keys_before", was, "cds_keys", is)
	}
	return nil
}

// cdsTags are the key tags the zone's CDS names.
func cdsTags(z *zone.Zone) string {
	var tags []string
	for _, rr := range z.Nodes[z.Key].RRset(dns.TypeCDS) {
		tags = append(tags, fmt.Sprint(rr.(*dns.CDS).KeyTag))
	}
	return strings.Join(tags, " ")
}

// signingPolicyChanged signs the zone again at once when a reload changed its signing policy
// (an algorithm rollover starts, lifetimes and TTLs apply), rather than at its next timer.
// Called with m.mu held.
func (m *Manager) signingPolicyChanged(z *Zone, was config.DNSSECConfig) error {
	if z.sign == nil || z.conf().DNSSEC.Equal(was) {
		return nil
	}
	if err := m.resignForKeys(z, false); err != nil {
		m.signFailed(z, err)
		return fmt.Errorf("zone %s: new signing policy: %w", z.Origin(), err)
	}
	return nil
}

// DSSeen records that the parent of a zone signed here holds the DS of its new KSK (or CSK), so
// that the KSK rollover goes on: the old key is retired once that DS is in every cache.
func (m *Manager) DSSeen(origin string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	z := m.zone(canonical(origin))
	if z == nil {
		return "", errNoZone(origin)
	}
	if z.sign == nil {
		return "", fmt.Errorf("%w: %s", control.ErrNotSigned, canonical(origin))
	}
	return m.dsSeen(z)
}

// dsSeen is DSSeen for z, with m.mu held.
func (m *Manager) dsSeen(z *Zone) (string, error) {
	prev := z.sign.last.Load()
	if prev == nil {
		return "", fmt.Errorf("zone %s is not signed yet", z.Origin())
	}
	keys, p, err := m.zoneKeys(z, prev.Unsigned)
	if err != nil {
		return "", err
	}
	msg, err := signer.DSSeen(keys, p, z.sign.ttls, m.now())
	if err != nil {
		return "", err
	}
	m.log.Info("DNSSEC parent DS seen", "zone", z.Origin(), "plan", msg)
	if err := m.resignForKeys(z, true); err != nil {
		m.signFailed(z, err)
		return "", err
	}
	return msg, nil
}

// stopSigning ends the zone's refresh timer.
func (z *Zone) stopSigning() {
	if z.sign != nil && z.sign.timer != nil {
		z.sign.timer.Stop()
	}
}

// signingStatus fills in what the control interface shows of a signed zone.
func (z *Zone) signingStatus(st *control.ZoneStatus) {
	if z.sign == nil {
		return
	}
	st.Signed = true
	if s := z.sign.last.Load(); s != nil {
		st.SignaturesExpire, st.SignaturesRefresh = s.Expires, s.RefreshAt
		st.UnsignedSerial = s.Unsigned.Serial()
	}
	if p := z.sign.err.Load(); p != nil {
		st.SigningError = (*p).Error()
	}
}

// Keys describes the DNSSEC keys of a zone signed here.
func (m *Manager) Keys(origin string) ([]control.KeyStatus, error) {
	z := m.zone(canonical(origin))
	if z == nil {
		return nil, errNoZone(origin)
	}
	if z.sign == nil {
		return nil, fmt.Errorf("%w: %s", control.ErrNotSigned, canonical(origin))
	}
	s := z.sign.last.Load()
	if s == nil {
		return nil, fmt.Errorf("zone %s is not signed yet", canonical(origin))
	}
	now := m.now()
	out := make([]control.KeyStatus, 0, len(s.Keys.Keys))
	for _, k := range s.Keys.Keys {
		ks := control.KeyStatus{Tag: k.Tag(), Algorithm: k.DNSKEY.Algorithm, Role: k.Role.String(), Flags: k.DNSKEY.Flags,
			Created: k.Timing.Created, Published: k.Timing.Publish, Active: k.Timing.Activate, File: k.Base + ".key"}
		st := s.Keys.State(k, s.Policy, now)
		ks.State, ks.NextEvent, ks.NextEventAt = st.State, st.Next, st.NextAt
		out = append(out, ks)
	}
	return out, nil
}

// DS is the DS records a zone signed here wants at its parent: one per KSK (or CSK) its CDS
// names, SHA-256; during a KSK rollover, the new key's once it is in every cache.
func (m *Manager) DS(origin string) ([]string, error) {
	z := m.zone(canonical(origin))
	if z == nil {
		return nil, errNoZone(origin)
	}
	if z.sign == nil {
		return nil, fmt.Errorf("%w: %s", control.ErrNotSigned, canonical(origin))
	}
	s := z.sign.last.Load()
	if s == nil {
		return nil, fmt.Errorf("zone %s is not signed yet", canonical(origin))
	}
	// The zone's own CDS says it, so that what the parent is told and what the zone publishes
	// for it cannot disagree, even between a key event and the signing that follows it.
	var out []string
	for _, rr := range s.Zone.Nodes[s.Zone.Key].RRset(dns.TypeCDS) {
		cds := rr.(*dns.CDS)
		ds := &dns.DS{Hdr: cds.Hdr, DS: cds.DS.DS}
		ds.Hdr.TTL = s.Zone.SOA.Hdr.TTL
		out = append(out, ds.String())
	}
	return out, nil
}
