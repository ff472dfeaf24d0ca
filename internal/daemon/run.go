package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"reflect"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"warden/internal/authority"
	"warden/internal/config"
	"warden/internal/control"
	"warden/internal/cookie"
	"warden/internal/dnstap"
	"warden/internal/health"
	"warden/internal/metrics"
	"warden/internal/pipeline"
	"warden/internal/policy"
	"warden/internal/policy/live"
	"warden/internal/querylog"
	"warden/internal/server"
	"warden/internal/upstream"
	"warden/internal/validator"
	"warden/internal/web"
	"warden/internal/wire"
	"warden/internal/zones"
)

// Options is what a server needs besides its configuration.
type Options struct {
	// Reread reads the configuration again, file and command-line flags, for SIGHUP and control
	// reloads; nil when there is no file to read, and then a reload re-reads the zone and policy
	// files of the configuration in force.
	Reread func() (*config.Config, error)
	Log    *slog.Logger
}

// daemon is one running server: the pipeline and the parts that keep its snapshot current.
// Its methods other than Run's set-up are called from Run's loop only, one at a time.
type daemon struct {
	cfg      *config.Config
	opts     Options
	log      *slog.Logger
	pipe     *pipeline.Pipeline
	rec      *pipeline.Recursor
	zones    *zones.Manager
	guard    *live.Guard
	policies *live.Loader
	// randomSecret is the cookie secret made at start when the configuration sets none.
	randomSecret *cookie.Secret
	// policyFiles are the stamps of the policy zone files, so that the watch tick rebuilds the
	// policy only when one changed.
	policyFiles fileStamps
	// notify tells the service manager, if any, when the server is ready, reloading, stopping.
	notify notifier
	// queries counts the answers the listeners send; nil when nothing can show the counts.
	queries *metrics.Queries
	// metrics is the one registry /metrics serves, on the HTTP listener and the control socket.
	metrics *metrics.Registry
	// queryLog writes every answer sent to query_log.dir; nil when the log is off.
	queryLog *querylog.Log
	// dnstap sends the record of the traffic to a collector; nil when dnstap is off.
	dnstap *dnstap.Writer
	// trust keeps the trust anchors current (RFC 5011); nil without validation or state_dir.
	trust *trustKeeper
	// nta holds the negative trust anchors; it outlives the recursors that reloads replace.
	nta *validator.NegativeAnchors
	// health is what is failing now: forwarders, zones, the policy's lists, the breaker.
	health *health.Board
	// holdOn counts the injected replies the resolver and the forwarders detect, across reloads.
	holdOn  *upstream.HoldOn
	started time.Time
}

// Run serves cfg until ctx ends: it loads the zones and the policy, opens the listeners, and
// applies the configuration again on SIGHUP, on control requests and when a watched file changes.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	d := &daemon{cfg: cfg, opts: opts, log: opts.Log, notify: newNotifier(), started: time.Now(), health: health.New(opts.Log),
		nta: validator.NewNegativeAnchors()}
	d.holdOn = upstream.NewHoldOn(d.log)
	// dnstap is opened first and closed last, after the listeners: what they sent is written out.
	if d.dnstap = openDnstap(cfg.Dnstap, d.log); d.dnstap != nil {
		defer d.dnstap.Close()
	}
	// The account to change to is looked up first, so a name that does not resolve stops the
	// server before it loads anything; the directories are noted before anything is written.
	var acct *account
	var dirs []ownedDir
	if cfg.User != "" {
		a, err := lookupAccount(cfg.User)
		if err != nil {
			return err
		}
		acct, dirs = &a, ownedDirs(cfg)
	}
	rec, err := newRecursor(cfg, d.log, d.dnstap, d.health, d.holdOn, d.nta)
	if err != nil {
		return err
	}
	d.rec = rec
	if rec != nil && rec.Validating() && cfg.StateDir != "" {
		// The anchors follow the zones' key rollovers (RFC 5011), kept in the state directory.
		if d.trust, err = newTrustKeeper(cfg.StateDir, rec.TrustAnchors(), d.log); err != nil {
			return err
		}
		d.trust.use(rec)
		go d.trust.run(ctx)
	}
	empty, _ := authority.New(nil)
	d.pipe = pipeline.NewPipeline(wire.Limits{UDPPayload: uint16(cfg.Limits.UDPPayload)}, &pipeline.Snapshot{Authority: empty, Recursion: rec})
	if err := d.applyGuards(nil, cfg); err != nil {
		return err
	}
	// The zone manager owns the served zones: files, secondaries, updates, catalogs. It puts each
	// new set of zones in force itself, and answers transfers, NOTIFY and UPDATE.
	d.zones = zones.New(d.log, func(set *authority.Set) {
		d.pipe.Update(func(s *pipeline.Snapshot) { s.Authority = set })
	})
	d.zones.Health = d.health
	defer d.zones.Close()
	restoreGC := paceGCForStartLoad()
	err = d.zones.Start(cfg)
	restoreGC()
	if err != nil {
		return err
	}
	d.pipe.Update(func(s *pipeline.Snapshot) { s.Zones = d.zones })
	if missing := d.zones.WaitPolicyZones(ctx, 10*time.Second); len(missing) > 0 {
		d.log.Warn("policy zones still being transferred; the policy goes in force without them until they arrive", "zones", missing)
	}
	// The policy goes in force through the guard (versions, rollback, circuit breaker), each
	// change checked first on the names recently asked.
	d.guard = live.NewGuard(d.pipe, live.Config{
		Breaker:  live.BreakerConfig(cfg.Policy.Safety.Breaker),
		StateDir: cfg.StateDir,
		Recent:   d.pipe.Recent.Names,
		Health:   d.health,
	}, d.log)
	d.policies = live.NewLoader(d.guard, d.log)
	d.policies.Health = d.health
	defer d.policies.Close()
	if _, err := d.policies.Load(ctx, cfg, live.Change{Reason: "start", Force: true}, false); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while the blocklists loaded
		}
		return err
	}
	if !cfg.Policy.Safety.Breaker.Off {
		go d.guard.Run(ctx)
	}
	go trimMemory(ctx)
	// Parsing leaves garbage several times the size of the zones; hand it back to the system now
	// rather than carry it as resident memory until the heap grows into it.
	debug.FreeOSMemory()

	// The listeners read queries as soon as they are open; with an account to run as, queries
	// wait at a gate until root is given up, so that none is handled as root.
	var handler server.Handler = d.pipe
	var gate *rootGate
	if acct != nil {
		gate = newRootGate(d.pipe)
		defer gate.shut() // let waiting workers go (and drop their queries) if the drop fails
		handler = gate
	}
	if metricsOn(cfg) {
		d.queries = metrics.NewQueries()
	}
	var queryLogState metrics.QueryLogState
	if cfg.QueryLog.Dir != "" {
		// Closed after the listeners (deferred before them), so that it writes out their last answers.
		ql, err := querylog.Open(querylog.Config{Dir: cfg.QueryLog.Dir, MaxBytes: cfg.QueryLog.MaxBytes, Sample: cfg.QueryLog.Sample}, d.log)
		if err != nil {
			return err
		}
		defer ql.Close()
		d.queryLog, queryLogState = ql, ql
	}
	d.metrics = metrics.New(metrics.Sources{Queries: d.queries, Resolver: resolverState{d.pipe}, Zones: d.zones, Policy: d.guard,
		Dnstap: dnstapState(d.dnstap), RateLimit: d.rateLimiter, QueryLog: queryLogState, Injections: d.holdOn})
	listeners, err := d.listen(handler)
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	if err != nil {
		return err
	}
	ctl := openControl(cfg, d.log)
	defer ctl.close()
	httpl := openHTTP(cfg, d.log)
	defer httpl.close()
	// Everything that needs root is open: give it up before the first query is handled.
	if acct != nil {
		socket := ""
		if ctl.socket != nil {
			socket = cfg.Control.Socket
		}
		if err := dropPrivileges(*acct, cfg, dirs, socket, d.log); err != nil {
			return err
		}
		gate.open()
	}
	d.zones.Announce()
	d.policyFiles.changed(cfg.Policy)
	return d.loop(ctx, ctl, httpl)
}

// listen opens a listener on every configured address; on error, those opened are returned too,
// for the caller to close.
func (d *daemon) listen(h server.Handler) ([]*server.Listener, error) {
	var listeners []*server.Listener
	var obs server.Observers
	if d.queries != nil {
		obs = append(obs, d.queries)
	}
	if d.queryLog != nil {
		obs = append(obs, d.queryLog)
	}
	if d.dnstap != nil {
		obs = append(obs, d.dnstap)
	}
	// A server that resolves or forwards answers from other goroutines, which need the UDP workers
	// to wait in the runtime's poller; one that only answers from its zones spends less with
	// blocking workers. A reload that turns resolution on keeps the listeners as they are:
	// correct, with the cold-cache cost measured before the poller (docs/performance.md).
	resolves := d.cfg.Resolver.RootHints != "" || len(d.cfg.Resolver.Forward) > 0
	for _, addr := range d.cfg.Listen {
		l, err := server.Listen(server.ListenerConfig{
			Addr:            addr.String(),
			UDPWorkers:      d.cfg.Limits.UDPWorkers,
			UDPBlocking:     !resolves,
			TCPIdleTimeout:  d.cfg.Limits.TCPIdleTimeout,
			TCPMaxConns:     d.cfg.Limits.TCPMaxConnections,
			TCPMaxPipelined: d.cfg.Limits.TCPMaxPipelined,
			// The encrypted listeners (tls://, https://, quic://).
			TLSCert:              d.cfg.TLS.Cert,
			TLSKey:               d.cfg.TLS.Key,
			TLSHandshakeTimeout:  d.cfg.Limits.TLSHandshakeTimeout,
			TLSIdleTimeout:       d.cfg.Limits.TLSIdleTimeout,
			TLSMaxConns:          d.cfg.Limits.TLSMaxConnections,
			TLSMaxConnsPerClient: d.cfg.Limits.TLSMaxConnectionsPerClient,
			TLSMaxStreams:        d.cfg.Limits.TLSMaxStreams,
			Observer:             obs,
		}, h, d.log)
		if err != nil {
			return listeners, explainListenError(addr, err)
		}
		listeners = append(listeners, l)
		d.log.Info("listening", "on", l.String())
	}
	return listeners, nil
}

// explainListenError says what to do when a port below 1024 is refused for want of the right.
func explainListenError(addr config.ListenAddr, err error) error {
	if !errors.Is(err, syscall.EACCES) || addr.AddrPort.Port() >= 1024 {
		return err
	}
	return fmt.Errorf("%w: ports below 1024 need root or the CAP_NET_BIND_SERVICE capability: "+
		"start the server as root with --user NAME (or user: in the configuration) to run as NAME once the sockets are open, "+
		"run it under the packaged systemd unit (AmbientCapabilities=CAP_NET_BIND_SERVICE), "+
		"or give the binary the capability: setcap cap_net_bind_service=+ep %s", err, executable())
}

// executable is this program's path, for messages.
func executable() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "/usr/bin/warden"
}

// policyRequest is a control request to read and check the policy again.
type policyRequest struct {
	force bool
	done  chan policyResult
}

type policyResult struct {
	report policy.Report
	err    error
}

// loop runs every change to the running server, one at a time: signals, the watch tick and
// control requests, until ctx ends.
func (d *daemon) loop(ctx context.Context, ctl *controlListeners, httpl *httpListeners) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if d.cfg.Reload.WatchInterval > 0 {
		t := time.NewTicker(d.cfg.Reload.WatchInterval)
		defer t.Stop()
		tick = t.C
	}
	policyRequests := make(chan policyRequest)
	reloadRequests := make(chan chan error)
	deps := control.Deps{NTA: d.nta, Policy: d.guard, RateLimiter: d.rateLimiter, Injections: d.holdOn, PolicyReload: func(force bool) (policy.Report, error) {
		req := policyRequest{force: force, done: make(chan policyResult, 1)}
		select {
		case policyRequests <- req:
		case <-ctx.Done():
			return policy.Report{}, ctx.Err()
		}
		r := <-req.done
		return r.report, r.err
	}, Zones: d.zones, Reload: func(rctx context.Context) (string, error) {
		done := make(chan error, 1)
		select {
		case reloadRequests <- done:
		case <-rctx.Done():
			return "", rctx.Err()
		case <-ctx.Done():
			return "", ctx.Err()
		}
		if err := <-done; err != nil {
			return "", err
		}
		return "configuration, zones and policy reloaded", nil
	}, Metrics: d.metrics.Handler(), Health: d.health, Started: d.started}
	for _, a := range d.cfg.Listen {
		deps.Listeners = append(deps.Listeners, a.String())
	}
	ctl.serve(ctx, deps, d.log)
	httpl.serve(ctx, web.Deps{Metrics: deps.Metrics, Status: statusOf(deps), QueryLog: d.cfg.QueryLog.Dir,
		Gatherer: d.metrics.Gatherer(), Top: d.topLists(), Policy: d.guard}, d.log)
	d.tellManager(d.notify.ready(d.servingStatus()))
	for {
		select {
		case <-ctx.Done():
			d.log.Info("shutting down")
			d.tellManager(d.notify.stopping())
			return nil
		case <-hup:
			d.tellManager(d.notify.reloading())
			err := d.reload(ctx, "signal")
			d.tellManager(d.notify.ready(reloadStatus(d.servingStatus(), err)))
		case <-tick:
			_ = d.reload(ctx, "file change")
		case done := <-reloadRequests:
			d.tellManager(d.notify.reloading())
			err := d.reload(ctx, "control")
			d.tellManager(d.notify.ready(reloadStatus(d.servingStatus(), err)))
			done <- err
		case req := <-policyRequests:
			req.done <- d.policyReload(ctx, req.force)
		}
	}
}

// servingStatus is the one line a service manager shows of the running server.
func (d *daemon) servingStatus() string {
	return fmt.Sprintf("serving %d zones on %d listeners", len(d.zones.ZoneList()), len(d.cfg.Listen))
}

// reloadStatus adds to the status line that the last reload left something out.
func reloadStatus(status string, err error) string {
	if err == nil {
		return status
	}
	return status + "; the last reload failed in part (see the log)"
}

// tellManager logs a failure to reach the service manager; the server goes on regardless.
func (d *daemon) tellManager(err error) {
	if err != nil {
		d.log.Warn("service manager not told", "err", err)
	}
}

// reload applies the configuration again: on SIGHUP and control requests the file is read anew
// (a full reload); on the watch tick only changed zone and policy files are read. What could not
// be applied is returned (and logged); the rest is in force.
func (d *daemon) reload(ctx context.Context, why string) error {
	full := why == "signal" || why == "control"
	next := d.cfg
	if full && d.opts.Reread != nil {
		// SIGHUP re-reads the configuration file too; listeners stay as they are.
		c, err := d.opts.Reread()
		if err != nil {
			d.log.Error("reload: configuration rejected; keeping the running one", "err", err)
			return fmt.Errorf("configuration rejected; keeping the running one: %w", err)
		}
		next = c
		if !slices.Equal(next.Listen, d.cfg.Listen) || next.Limits != d.cfg.Limits || !reflect.DeepEqual(next.HTTP, d.cfg.HTTP) || next.QueryLog != d.cfg.QueryLog {
			d.log.Warn("reload: listen addresses, limits, the http listener and the query log apply at the next restart")
		}
	}
	var errs []error
	if err := d.zones.Reload(next); err != nil {
		// The error also names zones that failed on an earlier reload and whose files have not
		// changed since; the manager logged each failure when it was new, so the watch tick does
		// not log it again every interval.
		if full {
			d.log.Error("reload: some zones keep their previous version", "err", err)
		}
		errs = append(errs, err)
	}
	// The policy is rebuilt on SIGHUP, or when one of its files changed; a policy that fails to
	// load leaves the running one in force. SIGHUP also fetches every blocklist again; the loader
	// puts the policy together and the guard checks it before it goes in force (unchanged
	// content adds no version).
	if full || !reflect.DeepEqual(next.Policy, d.cfg.Policy) || d.policyFiles.changed(next.Policy) {
		if _, err := d.policies.Load(ctx, next, live.Change{Reason: "reload (" + why + ")"}, full); err != nil {
			d.log.Error("reload: policy not put in force; keeping the running one", "err", err)
			errs = append(errs, fmt.Errorf("policy not put in force: %w", err))
		}
	}
	if err := d.applyGuards(d.cfg, next); err != nil {
		d.log.Error("reload: cookies or rate limiting not changed", "err", err)
		errs = append(errs, err)
	}
	resolverChanged := !reflect.DeepEqual(next.Resolver, d.cfg.Resolver)
	d.cfg = next
	if !resolverChanged {
		return errors.Join(errs...)
	}
	rec, err := newRecursor(next, d.log, d.dnstap, d.health, d.holdOn, d.nta)
	if err != nil {
		d.log.Error("reload: resolver configuration rejected; keeping the running one", "err", err)
		return errors.Join(append(errs, fmt.Errorf("resolver configuration rejected: %w", err))...)
	}
	d.rec = rec
	if d.trust != nil && rec != nil && rec.Validating() {
		d.trust.use(rec)
	}
	d.pipe.Update(func(s *pipeline.Snapshot) { s.Recursion = rec })
	debug.FreeOSMemory() // the replaced state and the parser's garbage
	d.log.Info("reloaded", "trigger", why)
	return errors.Join(errs...)
}

// policyReload is a policy reload asked for through the control interface: the configuration
// (and with it the policy files and blocklists) is read again and the policy checked before it
// goes in force.
func (d *daemon) policyReload(ctx context.Context, force bool) policyResult {
	next := d.cfg
	if d.opts.Reread != nil {
		c, err := d.opts.Reread()
		if err != nil {
			return policyResult{err: err}
		}
		next = c
	}
	report, err := d.policies.Load(ctx, next, live.Change{Reason: "reload (control)", Force: force}, true)
	return policyResult{report: report, err: err}
}

// fileStamps remembers the size and modification time of the policy files.
type fileStamps map[string]string

// changed records the stamps of pc's policy zone files and says whether any differ from before.
func (f *fileStamps) changed(pc config.PolicyConfig) bool {
	next := fileStamps{}
	for _, z := range pc.RPZ {
		if fi, err := os.Stat(z.File); err == nil {
			next[z.File] = fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
		}
	}
	diff := !maps.Equal(*f, next)
	*f = next
	return diff
}
