package live

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"warden/internal/config"
	"warden/internal/health"
	"warden/internal/policy"
	"warden/internal/policy/blocklist"
)

// Loader builds the response policy from the configuration and keeps it current. Load compiles
// the RPZ zones; the blocklists are kept by a blocklist.Fetcher that the loader runs from the
// first Load until Close, refreshing each list on its interval. Whenever a part changes, the
// loader puts the policy together again (every RPZ zone in order, then every blocklist in order;
// the rule sets that did not change are reused as they are, counters and all) and hands it to
// the Installer (the Guard), which checks it and puts it in force, or refuses it.
//
// A list that fails to load keeps its previous version in force: the Fetcher keeps the last good
// list, and when a reload changes the blocklists, an entry whose configuration did not change
// keeps its compiled set until the new Fetcher has loaded it again.
//
// Load and Close are called from one goroutine (the server's reload loop); the Installer is
// called from it and from the Fetcher's, one call at a time, in order.
type Loader struct {
	log  *slog.Logger
	inst Installer

	// fetchTimeout bounds one fetch of a list; 0 is the Fetcher's default (one minute).
	fetchTimeout time.Duration

	// Health, set before the first Load (nil: nothing is reported), is told when a policy zone
	// or a blocklist starts and stops failing to load; it logs those changes, once each.
	Health *health.Board

	mu      sync.Mutex // guards the fields below; held while publishing
	rpz     []*policy.RuleSet
	rpzSrc  []Source    // the source of each of rpz
	lists   []listSet   // one per configured blocklist, in order
	running fetchConfig // what the Fetcher was started with
	fetcher *blocklist.Fetcher
	stop    context.CancelFunc // stops the Fetcher
	done    chan struct{}      // closed when the Fetcher's Run has returned
	first   chan struct{}      // closed at the Fetcher's first update, then nil

	change Change        // how the next policy put together is installed
	report policy.Report // what the Installer said of the last one
	err    error
}

// Installer puts a policy the loader put together in force, or refuses it with a reason; the
// report is the blast-radius check's.
type Installer interface {
	Put(Proposal, Change) (policy.Report, error)
}

var _ Installer = (*Guard)(nil)

// listSet is one configured blocklist and the rule set in force for it.
type listSet struct {
	cfg  config.BlocklistConfig
	from *blocklist.List // the list set was compiled from; its entries are dropped
	set  *policy.RuleSet // nil until a version has loaded
	src  Source          // what set was compiled from
}

// fetchConfig is what the Fetcher depends on; a change restarts it.
type fetchConfig struct {
	lists       []config.BlocklistConfig
	fileRefresh time.Duration
}

func (a fetchConfig) equal(b fetchConfig) bool {
	return a.fileRefresh == b.fileRefresh && len(a.lists) == len(b.lists) && (len(a.lists) == 0 || reflect.DeepEqual(a.lists, b.lists))
}

// NewLoader returns a loader that reports through log and hands every policy it puts together to
// inst.
func NewLoader(inst Installer, log *slog.Logger) *Loader {
	return &Loader{log: log, inst: inst}
}

// Load compiles the RPZ zones of cfg and hands the policy to the Installer as c asks, checked
// as cfg's policy.safety says; it returns the Installer's report and verdict. A zone that does
// not load fails the whole Load and changes nothing, so that a reload keeps the running policy
// rather than serve one with a zone silently missing. What the loader puts together later by
// itself, at a blocklist refresh, is installed with the reason "blocklist refresh", never forced.
//
// When the blocklists (or reload.watch_interval, the refresh of file lists) differ from the last
// Load, the Fetcher is restarted with them, and Load returns once every list has been tried (or
// ctx ends): lists are in force from the first query. Otherwise, reread asks the running Fetcher
// to fetch every list again now (conditionally), without waiting.
func (l *Loader) Load(ctx context.Context, cfg *config.Config, c Change, reread bool) (policy.Report, error) {
	prop, err := l.loadZones(l.present(cfg.Policy.RPZ))
	if err != nil {
		return policy.Report{}, err
	}
	c.Check = CheckOf(cfg.Policy.Safety)
	rpz := prop.Policy.Sets()
	for _, s := range rpz {
		l.log.Info("policy zone loaded", "zone", s.Name(), "rules", s.Len(), "override", s.Options().Override.String(), "shadow", s.Shadow())
	}
	want := fetchConfig{lists: slices.Clone(cfg.Policy.Blocklists), fileRefresh: cfg.Reload.WatchInterval}

	l.mu.Lock()
	l.rpz, l.rpzSrc = rpz, prop.Sources
	l.change, l.report, l.err = c, policy.Report{}, nil
	if l.running.equal(want) {
		l.publishLocked()
		f, report, err := l.fetcher, l.report, l.err
		l.mu.Unlock()
		if reread && f != nil {
			f.Refresh()
		}
		return report, err
	}
	stop, done := l.stop, l.done
	l.mu.Unlock()
	if stop != nil {
		stop() // the old Fetcher's last update has returned once done is closed
		<-done
	}

	l.mu.Lock()
	prev := l.lists
	l.lists = make([]listSet, len(want.lists))
	srcs := make([]blocklist.Source, len(want.lists))
	for i, c := range want.lists {
		l.lists[i].cfg = c
		if j := slices.IndexFunc(prev, func(p listSet) bool { return reflect.DeepEqual(p.cfg, c) }); j >= 0 {
			l.lists[i] = prev[j]
		}
		srcs[i] = BlocklistSource(c, want.fileRefresh)
	}
	l.running = want
	l.fetcher, l.stop, l.done, l.first = nil, nil, nil, nil
	if len(want.lists) == 0 {
		l.Health.Forget(health.Blocklist, func(string) bool { return false })
		l.publishLocked()
		report, err := l.report, l.err
		l.mu.Unlock()
		return report, err
	}
	// The Fetcher keeps each list's bytes for the Installer to store; they are dropped once it has.
	f := &blocklist.Fetcher{Sources: srcs, Timeout: l.fetchTimeout, Log: l.log, OnUpdate: l.update, KeepData: true}
	if l.Health != nil {
		f.OnError, f.OnSuccess = l.listTrouble(want.lists)
	}
	fctx, stopFetch := context.WithCancel(context.Background())
	done, first := make(chan struct{}), make(chan struct{})
	l.fetcher, l.stop, l.done, l.first = f, stopFetch, done, first
	// The policy in force stays until the first update publishes the new one whole: new RPZ
	// zones and lists go in together.
	l.mu.Unlock()
	go func() {
		defer close(done)
		_ = f.Run(fctx) // returns once fctx is cancelled, by Close or the next restart
	}()
	select {
	case <-first:
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.report, l.err
	case <-ctx.Done():
		return policy.Report{}, ctx.Err()
	}
}

// loadZones loads the policy zones, and tells the health board which failed and which load.
// The zones no longer configured are no longer watched.
func (l *Loader) loadZones(cfgs []config.RPZConfig) (Proposal, error) {
	prop, warns, failed := loadZones(cfgs)
	for _, w := range warns {
		l.log.Warn("policy check", "problem", w.Error())
	}
	bad := make(map[string]bool, len(failed))
	for _, f := range failed {
		l.Health.Watch(health.PolicyLoad, f.origin).Fail(f.err)
		bad[f.origin] = true
	}
	configured := make(map[string]bool, len(cfgs))
	for _, c := range cfgs {
		configured[c.Origin] = true
		if !bad[c.Origin] {
			// Loaded, even if another zone's failure keeps the whole from going in force: this
			// zone's own trouble is over.
			l.Health.Watch(health.PolicyLoad, c.Origin).Recover()
		}
	}
	l.Health.Forget(health.PolicyLoad, func(origin string) bool { return configured[origin] })
	if err := failed.err(); err != nil {
		return Proposal{}, err
	}
	return prop, nil
}

// listTrouble returns the Fetcher's callbacks that tell the health board of each list's
// failures and successes, by the list's name; the lists not in lists are no longer watched.
func (l *Loader) listTrouble(lists []config.BlocklistConfig) (func(blocklist.Source, error), func(blocklist.Source)) {
	byLocation := make(map[string]*health.Condition, len(lists))
	names := make(map[string]bool, len(lists))
	for _, c := range lists {
		names[c.Name] = true
		if byLocation[c.Source] == nil {
			byLocation[c.Source] = l.Health.Watch(health.Blocklist, c.Name)
		}
	}
	l.Health.Forget(health.Blocklist, func(name string) bool { return names[name] })
	return func(src blocklist.Source, err error) { byLocation[src.Location].Fail(err) },
		func(src blocklist.Source) { byLocation[src.Location].Recover() }
}

// present leaves out the policy zones that come by zone transfer and have not arrived yet: the
// rest of the policy goes in force, and the file watch brings each in once its first transfer
// has written it.
func (l *Loader) present(rpz []config.RPZConfig) []config.RPZConfig {
	out := make([]config.RPZConfig, 0, len(rpz))
	for _, r := range rpz {
		if r.IsTransferred() {
			if _, err := os.Stat(r.File); err != nil {
				l.log.Warn("policy zone not transferred yet; it applies once it arrives", "zone", r.Origin, "primaries", fmt.Sprint(r.Primaries))
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// update is the Fetcher's OnUpdate: it compiles the lists that changed and publishes.
func (l *Loader) update(lists []*blocklist.List) {
	l.mu.Lock()
	defer l.mu.Unlock()
	compiled := false
	for i, list := range lists {
		ls := &l.lists[i]
		if list == nil {
			if l.first != nil && ls.set != nil {
				l.log.Warn("blocklist did not load; the version loaded before the reload stays in force",
					"name", ls.cfg.Name, "source", ls.cfg.Source, "names", ls.set.Index().Len())
			}
			continue
		}
		if list == ls.from {
			continue
		}
		start := time.Now()
		set, err := BlocklistSet(ls.cfg, list)
		if err != nil { // not for a validated configuration
			l.log.Error("blocklist not compiled; the previous version stays in force", "name", ls.cfg.Name, "err", err)
			continue
		}
		ix := set.Index()
		l.log.Info("blocklist in force", "name", ls.cfg.Name, "source", ls.cfg.Source, "entries", len(list.Entries),
			"names", ix.Len(), "skipped", list.SkippedTotal, "bytes", ix.Bytes(), "action", actionName(ls.cfg.Action),
			"shadow", ls.cfg.Shadow, "compiled_in", time.Since(start).Round(time.Millisecond))
		src := blocklistSource(ls.cfg, list.Digest, list.Data)
		src.Rules = set.Len()
		list.Entries, list.Data = nil, nil // the index holds the names now, src the bytes; the Fetcher reads only the counts
		ls.from, ls.set, ls.src = list, set, src
		compiled = true
	}
	l.publishLocked()
	if compiled {
		// Parsing a list leaves garbage several times its size; hand it back now rather than
		// carry it as resident memory until the heap grows into it (as after a zone load).
		debug.FreeOSMemory()
	}
	if l.first != nil {
		close(l.first)
		l.first = nil
	}
}

func actionName(a string) string {
	if a == "" {
		return "nxdomain"
	}
	return a
}

// publishLocked puts the policy together from the compiled sets and hands it to the Installer.
func (l *Loader) publishLocked() {
	sets := slices.Clone(l.rpz)
	srcs := slices.Clone(l.rpzSrc)
	for _, ls := range l.lists {
		if ls.set != nil {
			sets = append(sets, ls.set)
			srcs = append(srcs, ls.src)
		}
	}
	prop := Proposal{Sources: srcs}
	if len(sets) > 0 {
		prop.Policy = policy.New(sets...)
	}
	l.report, l.err = l.inst.Put(prop, l.change)
	// The Installer has stored the bytes it needed; the compiled sets stand for them from now.
	for i := range l.rpzSrc {
		l.rpzSrc[i].data = nil
	}
	for i := range l.lists {
		l.lists[i].src.data = nil
	}
	// What the loader puts together next without being asked comes from a list refresh.
	l.change = Change{Reason: "blocklist refresh", Check: l.change.Check}
}

// Close stops the Fetcher and waits until it has returned. The policy in force stays.
func (l *Loader) Close() {
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.fetcher, l.stop, l.done, l.first = nil, nil, nil, nil
	l.running = fetchConfig{}
	l.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}
