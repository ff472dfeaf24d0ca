package zones

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"warden/internal/config"
	"warden/internal/control"
	"warden/internal/signer"
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
	// timer fires when signatures are due for refresh.
	timer *time.Timer
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

// keys opens the zone's keys, making them on the first start.
func (m *Manager) zoneKeys(z *Zone) (*signer.KeySet, signer.Policy, error) {
	c := z.conf().DNSSEC
	p := policyOf(c)
	if err := p.Check(); err != nil {
		return nil, p, fmt.Errorf("zone %s: %w", z.Origin(), err)
	}
	keys, made, err := signer.OpenKeys(c.KeyDir, z.Origin(), p, m.now())
	if err != nil {
		return nil, p, err
	}
	if made {
		for _, k := range keys.Keys {
			m.log.Info("DNSSEC key made", "zone", z.Origin(), "tag", k.Tag(), "role", k.Role.String(), "file", k.Base+".key")
		}
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
	keys, p, err := m.zoneKeys(z)
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
	keys, p, err := m.zoneKeys(z)
	if err != nil {
		return nil, nil, err
	}
	s, d, err := signer.Resign(prev, next, keys, p, m.now())
	if err != nil {
		return nil, nil, err
	}
	return s, []zone.Diff{d}, nil
}

// signFailed records why signing failed; the last good version goes on serving.
func (m *Manager) signFailed(z *Zone, err error) {
	z.sign.err.Store(&err)
	m.log.Error("zone signing failed; the last signed version keeps serving", "zone", z.Origin(), "err", err)
}

// installSigned records s as the zone's signed state and schedules its refresh. Called with
// m.mu held, before the version is put in force.
func (m *Manager) installSigned(z *Zone, s *signer.Signed) {
	z.sign.last.Store(s)
	z.sign.err.Store(nil)
	m.scheduleRefresh(z, s.RefreshAt.Sub(m.now()))
}

func (m *Manager) scheduleRefresh(z *Zone, wait time.Duration) {
	if z.sign.timer != nil {
		z.sign.timer.Stop()
	}
	z.sign.timer = time.AfterFunc(max(wait, 0), func() { m.refreshSignatures(z) })
}

// refreshSignatures replaces the signatures due for refresh and puts the result in force.
func (m *Manager) refreshSignatures(z *Zone) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil || m.zone(z.Origin()) != z {
		return
	}
	prev := z.sign.last.Load()
	if prev == nil {
		return
	}
	s, d, err := signer.Refresh(prev, m.now())
	if err != nil {
		m.signFailed(z, err)
		m.scheduleRefresh(z, retrySigning)
		return
	}
	m.installSigned(z, s)
	m.put(z, s.Zone, []zone.Diff{d}, fmt.Sprintf("%d signatures refreshed", len(d.Added)-1))
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
		ks.State = "active"
		switch {
		case !k.Timing.Delete.IsZero() && !k.Timing.Delete.After(now):
			ks.State = "removed"
		case !k.Timing.Inactive.IsZero() && !k.Timing.Inactive.After(now):
			ks.State = "retired"
		case k.Timing.Activate.After(now):
			ks.State = "published"
		}
		lifetime := s.Policy.ZSKLifetime
		if k.Role != signer.ZSK {
			lifetime = s.Policy.KSKLifetime
		}
		if lifetime > 0 && ks.State == "active" {
			ks.NextEvent = "rollover due (automatic rollovers are not done yet)"
			ks.NextEventAt = k.Timing.Activate.Add(lifetime)
		}
		out = append(out, ks)
	}
	return out, nil
}

// DS is the DS records a zone signed here needs at its parent: one per KSK (or CSK), SHA-256.
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
	var out []string
	for _, k := range s.Keys.Published(m.now()) {
		if k.SignsKeys() {
			ds := k.DNSKEY.ToDS(2)
			ds.Hdr.TTL = s.Zone.SOA.Hdr.TTL
			out = append(out, ds.String())
		}
	}
	return out, nil
}
