package zones

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"warden/internal/catalog"
	"warden/internal/config"
	"warden/internal/health"
	"warden/internal/transfer"
	"warden/internal/zone"
)

// Bounds on the SOA timers a primary may set (as Knot's refresh-min-interval and friends): a
// zone with a one-second refresh must not turn its secondaries into a flood, and one with a
// year-long refresh must still be checked now and then.
const (
	minInterval = 2 * time.Second
	maxInterval = 24 * time.Hour
	// Before a secondary has any data it asks again after firstRetry, doubling up to maxFirstRetry.
	firstRetry    = 5 * time.Second
	maxFirstRetry = 5 * time.Minute
)

// secondary is the refresh state of a zone transferred from primaries (RFC 1034 §4.3.5).
type secondary struct {
	file    string // the copy on disk
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
	// wake carries NOTIFYs and operator requests to the refresh loop.
	wake chan refreshRequest

	mu          sync.Mutex // guards the fields below, read by status
	lastRefresh time.Time
	nextRefresh time.Time
	expiresAt   time.Time
	lastErr     string
	primary     string // the primary the zone was last transferred from
}

// refreshRequest asks the loop for a refresh now; full asks for AXFR whatever the serials.
// done, when not nil, receives the outcome.
type refreshRequest struct {
	full bool
	done chan error
}

// stop ends the refresh loop. It does not wait: the loop may be waiting for the manager's lock,
// which the caller holds; once it has it, it finds the zone replaced and puts nothing in force.
func (s *secondary) stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.running = false
}

// openSecondary serves a new secondary from its copy on disk, when there is one, until the first
// refresh; a copy older than the zone's expire timer is kept but not served.
func (m *Manager) openSecondary(z *Zone) error {
	file := z.conf().File
	if file == "" {
		if m.storage == "" {
			return errorf(z.Origin(), "a secondary needs a file or the storage directory to keep its copy in")
		}
		file = m.storagePath(z.Origin(), "zone")
	}
	z.sec = &secondary{file: file, wake: make(chan refreshRequest, 1)}
	m.openJournal(z)
	fi, err := os.Stat(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		m.log.Warn("secondary's copy unreadable; transferring anew", "zone", z.Origin(), "file", file, "err", err)
		return nil
	}
	copyZone, err := m.readZone(config.ZoneConfig{Origin: z.Origin(), File: file})
	if err != nil {
		m.log.Warn("secondary's copy does not load; transferring anew", "zone", z.Origin(), "err", err)
		return nil
	}
	// The file is rewritten (or touched) on every successful refresh, so its age is the time
	// since the zone was last known good.
	expires := fi.ModTime().Add(time.Duration(copyZone.SOA.Expire) * time.Second)
	if z.sign != nil {
		// The copy is the primary's unsigned data; what is served is its signed version.
		signed, err := m.signNew(z, copyZone)
		if err != nil {
			m.signFailed(z, err)
			return nil
		}
		if z.journal != nil {
			_ = z.journal.Reset()
		}
		m.installSigned(z, signed)
		z.cur.Store(signed.Zone)
	} else {
		z.cur.Store(copyZone)
	}
	z.sec.expiresAt = expires
	if m.now().After(expires) {
		z.expired.Store(true)
		m.log.Warn("secondary's copy has expired; serving SERVFAIL until a refresh succeeds", "zone", z.Origin(), "serial", copyZone.Serial())
	} else {
		m.log.Info("secondary serving its copy until the first refresh", "zone", z.Origin(), "serial", copyZone.Serial(), "file", file)
	}
	if z.journal == nil {
		return nil
	}
	if newest, ok := z.journal.Newest(); ok && newest != copyZone.Serial() {
		_ = z.journal.Reset()
	}
	return nil
}

// startSecondary starts the zone's refresh loop. Called with m.mu held.
func (m *Manager) startSecondary(z *Zone) {
	ctx, cancel := context.WithCancel(m.ctx)
	z.sec.cancel, z.sec.done, z.sec.running = cancel, make(chan struct{}), true
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(z.sec.done)
		m.refreshLoop(ctx, z)
	}()
}

// refreshLoop refreshes the zone at once, then on its SOA timers, on NOTIFY and on request, and
// expires it when its primaries have not answered for the SOA's expire time.
func (m *Manager) refreshLoop(ctx context.Context, z *Zone) {
	s := z.sec
	backoff := firstRetry
	wait := time.Duration(0)
	for {
		s.mu.Lock()
		s.nextRefresh = m.now().Add(wait)
		s.mu.Unlock()
		t := time.NewTimer(wait)
		var req refreshRequest
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case req = <-s.wake:
			t.Stop()
		}
		err := m.refresh(ctx, z, req.full)
		if ctx.Err() != nil {
			if req.done != nil {
				req.done <- err
			}
			return
		}
		now := m.now()
		cur := z.cur.Load()
		s.mu.Lock()
		s.lastRefresh = now
		switch {
		case err == nil:
			s.lastErr = ""
			s.expiresAt = now.Add(time.Duration(cur.SOA.Expire) * time.Second)
			wait = clamp(time.Duration(cur.SOA.Refresh) * time.Second)
			backoff = firstRetry
		case cur == nil:
			s.lastErr = err.Error()
			wait, backoff = backoff, min(2*backoff, maxFirstRetry)
		default:
			s.lastErr = err.Error()
			wait = clamp(time.Duration(cur.SOA.Retry) * time.Second)
		}
		expired := cur != nil && err != nil && now.After(s.expiresAt)
		if until := time.Until(s.expiresAt); cur != nil && err != nil && !expired && until < wait {
			wait = max(until, 0) // be there when it expires
		}
		s.mu.Unlock()
		// The outcome goes back once the status shows it, so that `zone show` after `zone
		// refresh` tells the same story.
		if req.done != nil {
			req.done <- err
		}
		// The first failure of a run is logged by the condition, and its end; the tries between
		// only at debug level.
		if err != nil {
			m.trouble(health.ZoneTransfer, z.Origin()).Fail(err)
			m.log.Debug("zone refresh failed", "zone", z.Origin(), "err", err, "next_try", wait.String())
		} else {
			m.trouble(health.ZoneTransfer, z.Origin()).Recover()
		}
		if expired && !z.expired.Load() {
			m.log.Error("zone expired: no primary has answered for its expire time; answering SERVFAIL", "zone", z.Origin(), "serial", cur.Serial())
			m.mu.Lock()
			if m.zone(z.Origin()) == z {
				z.expired.Store(true)
				m.publishLocked()
			}
			m.mu.Unlock()
		}
	}
}

func clamp(d time.Duration) time.Duration { return min(max(d, minInterval), maxInterval) }

// refresh asks the primaries, in order, for the zone's SOA and transfers the zone from the first
// that has a newer serial (any serial, when full). nil means the zone is now up to date.
func (m *Manager) refresh(ctx context.Context, z *Zone, full bool) error {
	var errs []error
	c := z.conf()
	for _, addr := range c.Primaries {
		p := transfer.Peer{Addr: addr, Key: c.key}
		soa, err := transfer.QuerySOA(ctx, p, z.Origin())
		if err != nil {
			errs = append(errs, fmt.Errorf("primary %s: SOA: %w", addr, err))
			continue
		}
		cur := z.data()
		if cur != nil && !full && !serialNewer(soa.Serial, cur.Serial()) {
			if serialNewer(cur.Serial(), soa.Serial) {
				m.log.Warn("primary's serial is older than ours; keeping ours", "zone", z.Origin(), "primary", addr.String(), "serial", cur.Serial(), "primary_serial", soa.Serial)
			}
			m.confirmed(z)
			return nil
		}
		next, diffs, how, err := m.fetch(ctx, p, z, cur, full)
		if err != nil {
			errs = append(errs, fmt.Errorf("primary %s: %w", addr, err))
			continue
		}
		m.install(z, next, diffs, fmt.Sprintf("%s from %s", how, addr))
		z.sec.mu.Lock()
		z.sec.primary = addr.String()
		z.sec.mu.Unlock()
		return nil
	}
	return errors.Join(errs...)
}

// fetch transfers the zone from p: IXFR from the version in force when there is one (and full is
// not asked), AXFR otherwise or when IXFR fails. The result is a whole checked zone; diffs are the
// changes that made it when it came incrementally.
func (m *Manager) fetch(ctx context.Context, p transfer.Peer, z *Zone, cur *zone.Zone, full bool) (*zone.Zone, []zone.Diff, string, error) {
	origin := z.Origin()
	if cur != nil && !full {
		res, err := transfer.IXFR(ctx, p, origin, cur.SOA, m.Limits)
		m.transfers.count(origin, TransferIXFRIn, err)
		switch {
		case err != nil:
			m.log.Info("IXFR failed; trying AXFR", "zone", origin, "primary", p.Addr.String(), "err", err)
		case res.UpToDate:
			return cur, nil, "IXFR (up to date)", nil
		case res.Full != nil:
			next, _, err := zone.BuildOwned(origin, "IXFR from "+p.Addr.String(), res.Full)
			return next, nil, "IXFR (whole zone)", err
		default:
			next := cur
			for _, d := range res.Diffs {
				if next, err = next.Apply(d); err != nil {
					break
				}
			}
			if err == nil {
				return next, res.Diffs, fmt.Sprintf("IXFR (%d changes)", len(res.Diffs)), nil
			}
			m.log.Info("IXFR does not apply; trying AXFR", "zone", origin, "primary", p.Addr.String(), "err", err)
		}
	}
	res, err := transfer.AXFR(ctx, p, origin, m.Limits)
	m.transfers.count(origin, TransferAXFRIn, err)
	if err != nil {
		return nil, nil, "", fmt.Errorf("AXFR: %w", err)
	}
	next, _, err := zone.BuildOwned(origin, "AXFR from "+p.Addr.String(), res.Full)
	if err != nil {
		return nil, nil, "", fmt.Errorf("AXFR: %w", err)
	}
	return next, nil, "AXFR", nil
}

// install writes a transferred version to disk and puts it in force, unless the zone was dropped
// or replaced while it transferred.
func (m *Manager) install(z *Zone, next *zone.Zone, diffs []zone.Diff, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.zone(z.Origin()) != z {
		return
	}
	if next == z.data() {
		z.expired.Store(false)
		m.touch(z)
		m.publishLocked()
		return
	}
	if z.policy {
		// The policy loader reads the copy: it must be there before anyone looks.
		m.writeFile(z, next)
	}
	m.commit(z, next, diffs, why)
	if !z.policy {
		m.saveFile(z, next)
	}
	if z.conf().Role == config.RoleCatalog {
		m.consumeCatalog(z, next)
	}
}

// confirmed records that a primary still has the version in force: the copy on disk is good as
// of now, and a zone that had expired is served again (its serial is the primary's, so its data
// is too).
func (m *Manager) confirmed(z *Zone) {
	m.touch(z)
	if !z.expired.Load() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.zone(z.Origin()) != z {
		return
	}
	z.expired.Store(false)
	m.log.Info("zone served again: a primary answered with its serial", "zone", z.Origin(), "serial", z.cur.Load().Serial())
	m.publishLocked()
}

// touch marks the copy on disk as known good now, so that a restart counts expiry from here.
func (m *Manager) touch(z *Zone) {
	if z.policy {
		return // the policy loader reads the copy again whenever its time changes
	}
	now := m.now()
	_ = os.Chtimes(z.sec.file, now, now)
}

// consumeCatalog makes the members of a consumed catalog (RFC 9432) secondaries of the catalog's
// own primaries, and drops the members it no longer lists. An invalid catalog changes nothing
// (RFC 9432 §5.1). Called with m.mu held.
func (m *Manager) consumeCatalog(cz *Zone, cat *zone.Zone) {
	members, err := catalog.Parse(cat)
	if err != nil {
		m.log.Error("catalog zone invalid; its members stay as they were", "zone", cz.Origin(), "err", err)
		return
	}
	old := m.all()
	var had []catalog.Member
	for origin, z := range old {
		if z.catalog == cz.Origin() {
			had = append(had, catalog.Member{Zone: origin, ID: z.memberID})
		}
	}
	changes := catalog.Compare(had, members)
	if changes.Empty() {
		return
	}
	next := make(map[string]*Zone, len(old)+len(changes.Added))
	for origin, z := range old {
		next[origin] = z
	}
	for _, mb := range changes.Removed {
		m.log.Info("catalog member removed", "zone", mb.Zone, "catalog", cz.Origin())
		m.dropMember(old[mb.Zone])
		delete(next, mb.Zone)
	}
	for _, mb := range changes.Reset {
		// A new ID resets the member (RFC 9432 §5.4): its data goes and it transfers anew.
		m.log.Info("catalog member reset", "zone", mb.Zone, "catalog", cz.Origin())
		m.dropMember(old[mb.Zone])
		delete(next, mb.Zone)
	}
	for _, mb := range slices.Concat(changes.Added, changes.Reset) {
		if z := next[mb.Zone]; z != nil {
			if z.catalog == "" {
				m.log.Info("catalog member configured locally; the configuration wins", "zone", mb.Zone, "catalog", cz.Origin())
			}
			continue // configured here, or a member of another catalog
		}
		cs := cz.conf()
		nz := newZone(config.ZoneConfig{Origin: mb.Zone, Primaries: cs.Primaries, Key: cs.Key}, cs.key)
		nz.catalog, nz.memberID = cs.Origin, mb.ID
		if err := m.openSecondary(nz); err != nil {
			m.log.Error("catalog member not served", "zone", mb.Zone, "catalog", cz.Origin(), "err", err)
			continue
		}
		next[mb.Zone] = nz
		m.log.Info("catalog member added", "zone", mb.Zone, "catalog", cz.Origin())
	}
	m.zones.Store(&next)
	m.forgetGone()
	for _, z := range next {
		if z.sec != nil && !z.sec.running {
			m.startSecondary(z)
		}
	}
	m.publishLocked()
}

// dropMember stops a catalog member and deletes what it kept on disk.
func (m *Manager) dropMember(z *Zone) {
	m.stop(z)
	if z.sec != nil {
		_ = os.Remove(z.sec.file)
	}
	_ = os.Remove(m.storagePath(z.Origin(), "journal"))
}

// WaitPolicyZones waits, at most timeout, until every policy zone that comes by transfer has
// arrived (or was on disk already), so that the policy is whole from the first query. It returns
// the origins still missing.
func (m *Manager) WaitPolicyZones(ctx context.Context, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		var missing []string
		for origin, z := range m.all() {
			if z.policy && z.cur.Load() == nil {
				missing = append(missing, origin)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing
		}
		select {
		case <-ctx.Done():
			return missing
		case <-time.After(20 * time.Millisecond):
		}
	}
}
