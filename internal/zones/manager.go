// Package zones keeps the zones a server answers for with authority, and everything that changes
// them: zone files read and re-read, secondaries refreshed from their primaries by IXFR and AXFR,
// dynamic updates, catalog zones produced and consumed. Every change goes through one path
// (Manager.commit): the new version is built and checked beside the old one, recorded in the zone's
// journal, written to disk where the zone lives there, put in force in one step with the other
// zones (a new authority.Set), and announced to the secondaries by NOTIFY. Queries never see half
// a change; a change that fails any step leaves the zone as it was.
//
// The manager also answers the messages that concern whole zones (transfers out, NOTIFY in,
// UPDATE), as the pipeline's ZoneOps.
package zones

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/config"
	"warden/internal/health"
	"warden/internal/journal"
	"warden/internal/transfer"
	"warden/internal/tsig"
	"warden/internal/zone"
)

// maxUpdates bounds the dynamic updates in progress at once; beyond it they get SERVFAIL, so a
// flood of them cannot pile up goroutines waiting for the manager.
const maxUpdates = 16

// JournalBytes bounds each zone's journal; older changes are dropped past it and those clients
// get AXFR instead of IXFR.
const JournalBytes = 64 << 20

// Publish puts a new set of zones in force.
type Publish func(*authority.Set)

// Manager owns the served zones. Its methods are safe for concurrent use.
type Manager struct {
	log     *slog.Logger
	publish Publish
	now     func() time.Time

	// ctx ends the secondaries' refresh loops and the NOTIFYs in flight.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu serialises changes: one commit, reload or reconciliation at a time.
	mu      sync.Mutex
	storage string
	// keys is read by every signed message, on the listeners' threads: never behind mu, which a
	// reload of a large zone holds for seconds.
	keys  atomic.Pointer[tsig.Keyring]
	zones atomic.Pointer[map[string]*Zone] // by origin; replaced whole, read without the lock
	// announced says the listeners are open: changes are NOTIFYed from then on (Announce).
	announced bool
	// updates bounds the dynamic updates waiting for, or holding, mu.
	updates chan struct{}
	// notifySem bounds the NOTIFY exchanges in flight.
	notifySem chan struct{}
	// Limits bound incoming transfers.
	Limits transfer.Limits
	// transfers counts transfers in and out, for metrics.
	transfers transferCounts
	// Health, set before Start (nil: nothing is reported), is told when a zone's file, refresh
	// or signing starts and stops failing; it logs those changes, once each.
	Health *health.Board
}

// Zone is one served zone and its state.
type Zone struct {
	// set is the zone's configuration. A reload that keeps the zone's data replaces it whole, while
	// transfers, NOTIFY, UPDATE and the refresh loop read it without the manager's lock.
	set atomic.Pointer[settings]

	cur     atomic.Pointer[zone.Zone] // nil until there is data
	expired atomic.Bool
	journal *journal.Journal // nil when the storage directory cannot hold one

	// For zones read from a file: the file's stamp when last read.
	mtime time.Time
	size  int64
	// pending is the version waiting to be written to the zone's file (saveFile), nil when none.
	pending atomic.Pointer[zone.Zone]
	// fileErr is why the zone file on disk is not the version in force (it does not load, or its
	// serial is not newer); nil when it is. Read by status without the manager's lock.
	fileErr atomic.Pointer[error]

	// For secondaries.
	sec *secondary
	// policy marks a response policy zone kept here for its transfers: not served, its copy on
	// disk read by the policy loader.
	policy bool
	// catalog is the consumed catalog zone this member came from; "" for configured zones.
	catalog string
	// memberID is the member's ID in that catalog (RFC 9432 §4.2), to see it reset.
	memberID string
	// sign is the online-signing state of a zone with dnssec.sign, nil for others. cur is then
	// the signed version; sign.last holds the unsigned one it came from.
	sign *signing
}

// settings is what the configuration says of one zone, with its TSIG key looked up.
type settings struct {
	config.ZoneConfig
	key *tsig.Key // nil: transfers, NOTIFY and UPDATE for this zone are unsigned
}

func newZone(c config.ZoneConfig, key *tsig.Key) *Zone {
	z := &Zone{}
	if c.DNSSEC.Sign {
		z.sign = &signing{}
	}
	z.set.Store(&settings{ZoneConfig: c, key: key})
	return z
}

func (z *Zone) conf() *settings { return z.set.Load() }

// Origin is the zone's apex.
func (z *Zone) Origin() string { return z.conf().Origin }

// New returns a manager that puts zones in force through publish. Start loads them.
func New(log *slog.Logger, publish Publish) *Manager {
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{log: log, publish: publish, now: time.Now, ctx: ctx, cancel: cancel,
		notifySem: make(chan struct{}, 64), updates: make(chan struct{}, maxUpdates)}
	m.keys.Store(&tsig.Keyring{})
	empty := map[string]*Zone{}
	m.zones.Store(&empty)
	return m
}

// Close stops the secondaries and the NOTIFYs in flight, and closes the journals.
func (m *Manager) Close() {
	m.cancel()
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, z := range m.all() {
		z.stopSigning()
		if z.journal != nil {
			_ = z.journal.Close()
		}
	}
}

func (m *Manager) all() map[string]*Zone { return *m.zones.Load() }

// zone returns the served zone of origin (lower-case, fully qualified), nil when none.
func (m *Manager) zone(origin string) *Zone { return m.all()[origin] }

// Start loads the configured zones and puts them in force. A zone whose file does not load is kept
// unserved with its error, as after a reload: the other zones serve, Health logs the failure and
// status shows it, and a reload tries the file again (Knot and BIND start so too). The error
// returned stops the start: a secondary with no place for its copy, or a bad key; nothing is then
// in force. Secondaries start from their copy on disk, if any, and refresh from their primaries
// in the background.
func (m *Manager) Start(cfg *config.Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.apply(cfg, true)
}

// Reload applies cfg: new zones are loaded, removed ones dropped, zone files that changed re-read.
// A zone that fails to reload keeps its previous version; the error lists every such zone.
func (m *Manager) Reload(cfg *config.Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.apply(cfg, false)
}

func (m *Manager) apply(cfg *config.Config, starting bool) error {
	keys, err := keyring(cfg.Keys)
	if err != nil {
		return err
	}
	m.keys.Store(keys)
	m.storage = cfg.Storage
	old := m.all()
	next := make(map[string]*Zone, len(cfg.Zones))
	// errs are the zones that did not load, which serve nothing (or their last version) until
	// mended; fatal are the errors that stop a start.
	var errs, fatal []error
	for _, e := range entries(cfg) {
		c := e.ZoneConfig
		z := old[c.Origin]
		if z != nil && z.catalog == "" && z.policy == e.policy && sameSource(z.conf().ZoneConfig, c) {
			// Notify lists, ACLs and key may change without reloading the data.
			was := z.conf().DNSSEC
			z.set.Store(&settings{ZoneConfig: c, key: m.key(c.Key)})
			if !c.IsSecondary() && !c.IsProducedCatalog() {
				if err := m.reloadFile(z); err != nil {
					errs = append(errs, err)
				}
			}
			if err := m.signingPolicyChanged(z, was); err != nil {
				errs = append(errs, err)
			}
			next[c.Origin] = z
			continue
		}
		nz := newZone(c, m.key(c.Key))
		nz.policy = e.policy
		if err := m.open(nz); err != nil {
			if z == nil && c.IsSecondary() {
				// Its configuration is at fault (no place for its copy), not a file: at
				// start-up that stops the server, as any configuration error does.
				if starting {
					fatal = append(fatal, err)
				} else {
					errs = append(errs, err)
				}
				continue
			}
			errs = append(errs, err)
			m.trouble(health.ZoneFile, c.Origin).Fail(err)
			if z == nil {
				// A zone whose file does not load, at start-up or new to a reload, is kept
				// unserved (SERVFAIL, as Knot and BIND answer), so that the other zones
				// serve, status shows it and its error, and the next reload tries the file
				// again.
				nz.fileErr.Store(&err)
				next[c.Origin] = nz
				continue
			}
			z.fileErr.Store(&err)
			next[c.Origin] = z
			continue
		}
		if z != nil {
			m.stop(z)
		}
		next[c.Origin] = nz
	}
	if len(fatal) > 0 {
		for origin, z := range next {
			if old[origin] != z {
				m.stop(z)
			}
		}
		return errors.Join(fatal...)
	}
	// Catalog members stay unless the configuration now names their zone itself.
	for origin, z := range old {
		if _, taken := next[origin]; taken {
			continue
		}
		if z.catalog != "" && next[z.catalog] != nil {
			next[origin] = z
			continue
		}
		m.stop(z)
		m.log.Info("zone no longer served", "zone", origin)
	}
	m.zones.Store(&next)
	m.forgetGone()
	m.produceCatalogs()
	for _, z := range next {
		if z.sec != nil && !z.sec.running {
			m.startSecondary(z)
		}
	}
	m.publishLocked()
	if starting {
		return nil // the zones that did not load are reported through Health and status
	}
	return errors.Join(errs...)
}

// entry is one zone the manager keeps: a served zone, or a policy zone that comes by transfer.
type entry struct {
	config.ZoneConfig
	policy bool
}

// entries are the zones of cfg: the served ones, then the policy zones pulled from primaries,
// which are kept (and refreshed) as secondaries are but never served.
func entries(cfg *config.Config) []entry {
	out := make([]entry, 0, len(cfg.Zones)+len(cfg.Policy.RPZ))
	for _, c := range cfg.Zones {
		out = append(out, entry{ZoneConfig: c})
	}
	for _, r := range cfg.Policy.RPZ {
		if r.IsTransferred() {
			out = append(out, entry{ZoneConfig: config.ZoneConfig{Origin: r.Origin, File: r.File, Primaries: r.Primaries, Key: r.Key}, policy: true})
		}
	}
	return out
}

// sameSource says whether a zone entry still means the same data, so the loaded zone can be kept.
func sameSource(a, b config.ZoneConfig) bool {
	return a.File == b.File && a.DNSSEC.Sign == b.DNSSEC.Sign && slices.Equal(a.Primaries, b.Primaries) && a.Role == b.Role && string(a.Data) == string(b.Data)
}

func keyring(cfgs config.Keys) (*tsig.Keyring, error) {
	keys := make([]tsig.Key, 0, len(cfgs))
	for _, k := range cfgs {
		keys = append(keys, tsigKey(k))
	}
	return tsig.NewKeyring(keys...)
}

func tsigKey(k config.KeyConfig) tsig.Key {
	return tsig.Key{
		Name:      canonical(k.Name),
		Algorithm: strings.ToLower(strings.TrimSuffix(k.Algorithm, ".")) + ".",
		Secret:    k.SecretBytes(),
	}
}

func (m *Manager) key(name string) *tsig.Key {
	if name == "" {
		return nil
	}
	k, ok := m.keys.Load().Get(name)
	if !ok {
		return nil // config validation has already refused an unknown key name
	}
	return &k
}

// open loads a new zone entry: its file, or its copy on disk (secondaries); and its journal.
func (m *Manager) open(z *Zone) error {
	c := z.conf().ZoneConfig
	switch {
	case c.IsProducedCatalog():
		// Built by produceCatalogs once every zone is known.
	case c.IsSecondary():
		if err := m.openSecondary(z); err != nil {
			return err
		}
	default:
		if err := m.loadFile(z); err != nil {
			return err
		}
	}
	return nil
}

// stop ends a zone's background work before it is dropped or replaced.
func (m *Manager) stop(z *Zone) {
	if z.sec != nil {
		z.sec.stop()
	}
	z.stopSigning()
	if z.journal != nil {
		_ = z.journal.Close()
		z.journal = nil
	}
}

// storagePath is where a zone's file of the given kind lives in the storage directory.
func (m *Manager) storagePath(origin, kind string) string {
	return config.StoragePath(m.storage, origin, kind)
}

// openJournal opens the zone's journal in the storage directory. A zone without one still serves;
// its clients get AXFR where they would have had IXFR.
func (m *Manager) openJournal(z *Zone) {
	if z.journal != nil || m.storage == "" {
		return
	}
	if err := os.MkdirAll(m.storage, 0o750); err != nil {
		m.log.Warn("no journal: storage directory unusable; IXFR will be answered with whole zones", "zone", z.Origin(), "err", err)
		return
	}
	j, err := journal.Open(m.storagePath(z.Origin(), "journal"), z.Origin(), JournalBytes)
	if err != nil {
		m.log.Warn("journal unusable; starting a new one", "zone", z.Origin(), "err", err)
		_ = os.Remove(m.storagePath(z.Origin(), "journal"))
		if j, err = journal.Open(m.storagePath(z.Origin(), "journal"), z.Origin(), JournalBytes); err != nil {
			m.log.Warn("no journal", "zone", z.Origin(), "err", err)
			return
		}
	}
	for _, w := range j.Warnings() {
		m.log.Warn("journal", "zone", z.Origin(), "problem", w)
	}
	z.journal = j
}

// commit puts next in force for z. diffs are the changes from the version in force to next, oldest
// first, when known (nil: a whole new version, which restarts the journal). For a zone signed here,
// next is the new unsigned data: it is signed (incrementally when there is a signed version to
// start from), and the signed version and its change are what is put in force; when signing
// fails the version in force stays. Called with m.mu held.
func (m *Manager) commit(z *Zone, next *zone.Zone, diffs []zone.Diff, why string) {
	if z.sign != nil {
		s, sdiffs, err := m.signed(z, next)
		if err != nil {
			m.signFailed(z, err)
			return
		}
		m.installSigned(z, s)
		next, diffs = s.Zone, sdiffs
	}
	m.put(z, next, diffs, why)
}

// put puts next, the version to serve, in force for z; diffs as for commit.
func (m *Manager) put(z *Zone, next *zone.Zone, diffs []zone.Diff, why string) {
	prev := z.cur.Load()
	if z.journal != nil {
		var err error
		// A version with the serial in force (a retransfer) has no place in a history of
		// serials: the journal starts again from it.
		fresh := prev == nil || prev.Serial() == next.Serial()
		if !fresh && diffs == nil {
			d := zone.Compare(prev, next)
			diffs = []zone.Diff{d}
		}
		for _, d := range diffs {
			if fresh {
				break
			}
			if err = z.journal.Append(d); err != nil {
				break
			}
		}
		if err != nil || fresh {
			if err != nil {
				m.log.Warn("journal append failed; it starts again from this version", "zone", z.Origin(), "err", err)
			}
			_ = z.journal.Reset()
		}
	}
	z.cur.Store(next)
	z.expired.Store(false)
	m.log.Info("zone in force", "zone", z.Origin(), "serial", next.Serial(), "records", next.Records, "why", why)
	m.publishLocked()
	if m.announced {
		m.notifyAll(z, next.SOA)
	}
}

// Announce NOTIFYs every zone's secondaries of the version in force (RFC 1996 §4.7: a primary
// tells them after it starts), and from then on of every change. The server calls it once its
// listeners are open, so that the secondaries' questions find it answering.
func (m *Manager) Announce() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.announced = true
	for _, z := range m.all() {
		if cur := z.cur.Load(); cur != nil && !z.expired.Load() && !z.policy {
			m.notifyAll(z, cur.SOA)
		}
	}
}

// publishLocked builds the set of zones in force and publishes it.
func (m *Manager) publishLocked() {
	var zones []*zone.Zone
	var unavailable []string
	for origin, z := range m.all() {
		if z.policy {
			continue
		}
		cur := z.cur.Load()
		if cur == nil || z.expired.Load() {
			unavailable = append(unavailable, origin)
			continue
		}
		zones = append(zones, cur)
	}
	set, err := authority.NewWithUnavailable(zones, unavailable)
	if err != nil {
		// Origins are unique by construction (one map key each); this would be a broken
		// invariant, and the running set stays.
		m.log.Error("zones not put in force", "err", err)
		return
	}
	m.publish(set)
}

// notifyAll tells z's secondaries about soa (RFC 1996), in the background.
func (m *Manager) notifyAll(z *Zone, soa *dns.SOA) {
	c := z.conf()
	for _, addr := range c.Notify {
		p := transfer.Peer{Addr: addr, Key: c.key}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			select {
			case m.notifySem <- struct{}{}:
			case <-m.ctx.Done():
				return
			}
			defer func() { <-m.notifySem }()
			ctx, cancel := context.WithTimeout(m.ctx, time.Minute)
			defer cancel()
			if err := transfer.Notify(ctx, p, z.Origin(), soa); err != nil {
				m.log.Warn("notify failed", "zone", z.Origin(), "secondary", addr.String(), "serial", soa.Serial, "err", err)
				return
			}
			m.log.Debug("notify sent", "zone", z.Origin(), "secondary", addr.String(), "serial", soa.Serial)
		}()
	}
}

// trouble is the condition of kind for the zone of origin, which reports its failures.
func (m *Manager) trouble(kind health.Kind, origin string) *health.Condition {
	return m.Health.Watch(kind, origin)
}

// forgetGone stops watching the zones no longer kept. Called with m.mu held, after the zone map
// changed.
func (m *Manager) forgetGone() {
	zones := m.all()
	kept := func(origin string) bool { return zones[origin] != nil }
	for _, k := range []health.Kind{health.ZoneFile, health.ZoneTransfer, health.ZoneSigning} {
		m.Health.Forget(k, kept)
	}
}

// errorf builds an error that names the zone.
func errorf(origin, format string, args ...any) error {
	return fmt.Errorf("zone %s: %s", origin, fmt.Sprintf(format, args...))
}
