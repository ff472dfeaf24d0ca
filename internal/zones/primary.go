package zones

import (
	"fmt"
	"io"
	"os"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/rdata"

	"warden/internal/catalog"
	"warden/internal/config"
	"warden/internal/health"
	"warden/internal/zone"
)

// loadFile reads a new zone entry's file (or built-in data), then brings it up to the newest
// version its journal holds: dynamic updates made since the file was last written. Called with
// m.mu held, before the zone is in the map.
func (m *Manager) loadFile(z *Zone) error {
	c := z.conf().ZoneConfig
	if c.File != "" {
		fi, err := os.Stat(c.File)
		if err != nil {
			return fmt.Errorf("zone %s: %w", c.Origin, err)
		}
		z.mtime, z.size = fi.ModTime(), fi.Size()
	}
	loaded, err := m.readZone(c)
	if err != nil {
		return err
	}
	if replicated(c) {
		m.openJournal(z)
	}
	if z.sign != nil {
		m.warnSigned(z, loaded)
		// The journal of a signed zone holds signed versions, which do not apply to the
		// unsigned file: the zone is signed again from the file, past the journal's serials.
		s, err := m.signNew(z, loaded)
		if err != nil {
			return err
		}
		if z.journal != nil {
			_ = z.journal.Reset()
		}
		m.installSigned(z, s)
		z.cur.Store(s.Zone)
		m.log.Info("zone loaded", "zone", c.Origin, "serial", s.Zone.Serial(), "file_serial", loaded.Serial(), "records", s.Zone.Records, "source", c.Source())
		return nil
	}
	if z.journal != nil {
		loaded = m.replayJournal(z, loaded)
	}
	z.cur.Store(loaded)
	m.log.Info("zone loaded", "zone", c.Origin, "serial", loaded.Serial(), "records", loaded.Records, "source", c.Source())
	return nil
}

// replicated says whether anything reads the zone's journal: secondaries by IXFR, or dynamic
// updates, which live in it until the file is written back.
func replicated(c config.ZoneConfig) bool {
	return len(c.Notify) > 0 || len(c.AllowTransfer) > 0 || len(c.AllowUpdate) > 0 || c.Key != "" || c.Catalog != ""
}

// replayJournal applies the journal's changes newer than the file's serial, when the journal
// continues from exactly that serial; a journal from another history is started afresh.
func (m *Manager) replayJournal(z *Zone, loaded *zone.Zone) *zone.Zone {
	newest, ok := z.journal.Newest()
	if !ok || newest == loaded.Serial() {
		return loaded
	}
	diffs, ok := z.journal.Since(loaded.Serial())
	if !ok {
		// The file is not a version the journal knows (edited by hand, or older than the
		// journal's start): the journal cannot say how to get from the one to the other.
		m.log.Info("journal does not continue the zone file; starting it afresh", "zone", z.Origin(), "file_serial", loaded.Serial(), "journal_serial", newest)
		_ = z.journal.Reset()
		return loaded
	}
	cur := loaded
	for _, d := range diffs {
		next, err := cur.Apply(d)
		if err != nil {
			m.log.Warn("journal does not apply to the zone file; starting it afresh", "zone", z.Origin(), "serial", cur.Serial(), "err", err)
			_ = z.journal.Reset()
			return loaded
		}
		cur = next
	}
	m.log.Info("zone brought up to date from its journal", "zone", z.Origin(), "file_serial", loaded.Serial(), "serial", cur.Serial(), "changes", len(diffs))
	return cur
}

// readZone reads and checks a zone entry's master file, logging its warnings.
func (m *Manager) readZone(c config.ZoneConfig) (*zone.Zone, error) {
	z, warnings, err := ReadZone(c)
	for _, w := range warnings {
		m.log.Warn("zone check", "zone", c.Origin, "problem", w.Error())
	}
	return z, err
}

// ReadZone reads and checks one configured zone's master file (or built-in data), returning its
// warnings too; `warden check` uses it to check zones exactly as the server loads them.
func ReadZone(c config.ZoneConfig) (*zone.Zone, []zone.Problem, error) {
	r, err := c.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("zone %s: %w", c.Origin, err)
	}
	defer r.Close()
	if c.File != "" {
		// Read as it goes rather than whole: a large zone's file would add its size to the
		// peak memory of the load. Open has checked that it is a regular file.
		return zone.LoadFile(c.Origin, c.File)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("zone %s: read %s: %w", c.Origin, c.Source(), err)
	}
	return zone.Load(c.Origin, c.Source(), data)
}

// reloadFile re-reads a zone's file when it changed on disk. A file that fails to load, or whose
// serial is not newer (RFC 1982), leaves the running version in force: secondaries would never
// pick up a change whose serial did not increase. The error returned is why the file on disk is
// not in force, also when it was found on an earlier reload and the file has not changed since:
// a reload that leaves a zone behind its file has failed for that zone, however often it is asked.
func (m *Manager) reloadFile(z *Zone) error {
	c := z.conf().ZoneConfig
	if c.File == "" {
		return nil // built-in data never changes
	}
	if z.pending.Load() != nil {
		return nil // the file is being written from the zone in force; its stamp follows
	}
	fi, err := os.Stat(c.File)
	if err != nil {
		err = fmt.Errorf("zone %s: %w", c.Origin, err)
		m.fileFailed(z, err)
		return err
	}
	unchanged := fi.ModTime().Equal(z.mtime) && fi.Size() == z.size
	signErr := z.signingError()
	if unchanged && signErr == nil {
		if p := z.fileErr.Load(); p != nil {
			return *p
		}
		return nil
	}
	// A file read before but not signed (its keys unreadable, say) is read again: the reload
	// that follows the repair must not find the file "unchanged" and leave the zone behind it.
	z.mtime, z.size = fi.ModTime(), fi.Size()
	next, err := m.readZone(c)
	if err != nil {
		m.fileFailed(z, err)
		return err
	}
	cur := z.data()
	if unchanged && cur != nil && !serialNewer(next.Serial(), cur.Serial()) {
		return signErr // the file is in force; only a refresh's signing failed, and its timer retries
	}
	if cur != nil && !serialNewer(next.Serial(), cur.Serial()) {
		m.log.Warn("zone file changed but its serial did not increase; keeping the loaded version",
			"zone", c.Origin, "serial", cur.Serial(), "file_serial", next.Serial())
		err := fmt.Errorf("zone %s: %s has serial %d, not newer than the serial in force %d; the zone in force is kept", c.Origin, c.File, next.Serial(), cur.Serial())
		m.fileFailed(z, err)
		return err
	}
	if replicated(c) {
		m.openJournal(z)
	}
	z.fileErr.Store(nil)
	m.trouble(health.ZoneFile, c.Origin).Recover()
	if z.sign != nil {
		m.warnSigned(z, next)
	}
	m.commit(z, next, nil, "zone file changed")
	return nil
}

// fileFailed records err as why the zone's file is not in force. The condition logs the first
// failure and counts the rest: a file that stays missing is reported on every reload, but
// logged once.
func (m *Manager) fileFailed(z *Zone, err error) {
	z.fileErr.Store(&err)
	m.trouble(health.ZoneFile, z.Origin()).Fail(err)
}

// saveFile writes a version already in force to the zone's file, in the background: a secondary's
// copy after a transfer, a primary's file after a dynamic update (as Knot's zonefile-sync does, so
// the file agrees with the zone again and a later edit starts from the updates). Writing a large
// zone takes seconds; neither queries nor the manager wait for it, and the journal already holds
// the change. Versions that come faster than they are written are skipped to the newest.
func (m *Manager) saveFile(z *Zone, v *zone.Zone) {
	if z.pending.Swap(v) != nil {
		return // the running writer takes the newest when it is done
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			v := z.pending.Load()
			if m.zone(z.Origin()) == z {
				m.writeFile(z, v)
			}
			if z.pending.CompareAndSwap(v, nil) {
				return
			}
		}
	}()
}

// writeFile writes v to the zone's file now. A primary's new file stamp is recorded, so that the
// file watch does not read back what was just written (reloadFile also waits while a write is
// pending).
func (m *Manager) writeFile(z *Zone, v *zone.Zone) {
	path, what := z.conf().File, "zone file not written after update; the journal keeps the changes"
	if z.sec != nil {
		path, what = z.sec.file, "secondary's copy not written; a restart will transfer again"
	}
	if path == "" {
		return
	}
	if err := zone.WriteFile(v, path); err != nil {
		m.log.Warn(what, "zone", z.Origin(), "file", path, "err", err)
		return
	}
	if z.sec != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if fi, err := os.Stat(path); err == nil {
		z.mtime, z.size = fi.ModTime(), fi.Size()
	}
}

// produceCatalogs rebuilds every catalog zone this server produces from the zones that name it,
// committing a new version (serial + 1) of those whose member list changed. Called with m.mu held.
func (m *Manager) produceCatalogs() {
	zones := m.all()
	for origin, cz := range zones {
		if !cz.conf().IsProducedCatalog() {
			continue
		}
		var members []catalog.Member
		for _, z := range zones {
			if z.conf().Catalog == origin && z.catalog == "" {
				members = append(members, catalog.Member{Zone: z.Origin()})
			}
		}
		cur := cz.cur.Load()
		serial := uint32(1)
		if cur != nil {
			if old, err := catalog.Parse(cur); err == nil && sameMembers(old, members) {
				continue
			}
			serial = cur.Serial() + 1
		}
		soa := &dns.SOA{
			Hdr: dns.Header{Name: origin, Class: dns.ClassINET, TTL: 0},
			SOA: soaData("invalid.", "invalid.", serial),
		}
		rrs, err := catalog.Produce(origin, soa, members)
		if err != nil {
			m.log.Error("catalog zone not built", "zone", origin, "err", err)
			continue
		}
		next, _, err := zone.Build(origin, "catalog "+origin, rrs)
		if err != nil {
			m.log.Error("catalog zone not built", "zone", origin, "err", err)
			continue
		}
		if cz.journal == nil {
			m.openJournal(cz)
		}
		m.commit(cz, next, nil, fmt.Sprintf("catalog of %d zones", len(members)))
	}
}

func sameMembers(a, b []catalog.Member) bool {
	if len(a) != len(b) {
		return false
	}
	seen := make(map[string]bool, len(a))
	for _, x := range a {
		seen[x.Zone] = true
	}
	for _, x := range b {
		if !seen[x.Zone] {
			return false
		}
	}
	return true
}

// serialNewer compares SOA serials in RFC 1982 arithmetic: is a after b?
func serialNewer(a, b uint32) bool { return a != b && int32(a-b) > 0 }

// soaData is the SOA of a zone Warden makes itself: a catalog, whose timers only matter to
// secondaries that are not sent NOTIFY.
func soaData(ns, mbox string, serial uint32) rdata.SOA {
	return rdata.SOA{Ns: ns, Mbox: mbox, Serial: serial, Refresh: 3600, Retry: 600, Expire: 2419200, Minttl: 0}
}
