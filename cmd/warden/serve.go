package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"warden/internal/authority"
	"warden/internal/cache"
	"warden/internal/config"
	"warden/internal/control"
	"warden/internal/pipeline"
	"warden/internal/policy"
	"warden/internal/resolver"
	"warden/internal/server"
	"warden/internal/upstream"
	"warden/internal/wire"
	"warden/internal/zones"
)

// loadConfig builds the configuration from the flags: the file when given (else the built-in
// default), then the quick flags on top.
func loadConfig(f *commonFlags) (*config.Config, error) {
	var cfg *config.Config
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
	} else {
		cfg = config.Default()
	}
	if err := config.ApplyTLSFlags(cfg, f.tlsCert, f.tlsKey); err != nil {
		return nil, err
	}
	if err := config.ApplyFlags(cfg, f.listen, f.zones); err != nil {
		return nil, err
	}
	if err := config.ApplyResolverFlags(cfg, f.rootHints, f.forwards, f.noRecursion); err != nil {
		return nil, err
	}
	if err := config.ApplyPolicyFlags(cfg, f.rpz); err != nil {
		return nil, err
	}
	if err := config.ApplyBlocklistFlags(cfg, f.blocklists); err != nil {
		return nil, err
	}
	if err := config.ApplyTransferFlags(cfg, f.secondaries, f.tsig, f.zones); err != nil {
		return nil, err
	}
	if f.storage != "" {
		abs, err := filepath.Abs(f.storage)
		if err != nil {
			return nil, fmt.Errorf("--storage: %w", err)
		}
		cfg.Storage = abs
	}
	cfg.FillTransferredFiles()
	switch f.control {
	case "":
	case "none":
		cfg.Control.Socket = ""
	default:
		cfg.Control.Socket = f.control
	}
	return cfg, nil
}

func serve(args []string, stderr io.Writer) int {
	f, err := parseFlags("serve", args, stderr)
	if err != nil {
		return exitCode(err)
	}
	cfg, err := loadConfig(f)
	if err != nil {
		fmt.Fprintf(stderr, "warden: %v\n", err)
		return 1
	}
	log := cfg.Logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := runServer(ctx, f, cfg, log); err != nil {
		log.Error("server stopped", "err", err)
		return 1
	}
	return 0
}

// runServer serves until ctx ends: it loads the zones, opens the listeners, and rebuilds the
// snapshot on SIGHUP and when a zone file changes.
func runServer(ctx context.Context, f *commonFlags, cfg *config.Config, log *slog.Logger) error {
	rec, err := newRecursor(cfg, log)
	if err != nil {
		return err
	}
	empty, _ := authority.New(nil)
	pipe := pipeline.NewPipeline(wire.Limits{UDPPayload: uint16(cfg.Limits.UDPPayload)}, &pipeline.Snapshot{Authority: empty, Recursion: rec})
	// The zone manager owns the served zones: files, secondaries, updates, catalogs. It puts each
	// new set of zones in force itself, and answers transfers, NOTIFY and UPDATE.
	manager := zones.New(log, func(set *authority.Set) {
		pipe.Update(func(s *pipeline.Snapshot) { s.Authority = set })
	})
	defer manager.Close()
	if err := manager.Start(cfg); err != nil {
		return err
	}
	pipe.Update(func(s *pipeline.Snapshot) { s.Zones = manager })
	if missing := manager.WaitPolicyZones(ctx, 10*time.Second); len(missing) > 0 {
		log.Warn("policy zones still being transferred; the policy goes in force without them until they arrive", "zones", missing)
	}
	guard := server.NewPolicyGuard(pipe, breakerConfig(cfg.Policy.Safety.Breaker), 10, log)
	pub := &policyPublisher{guard: guard, pipe: pipe, log: log}
	policies := server.NewPolicyLoader(log, pub.publish)
	defer policies.Close()
	if _, err := pub.load(ctx, policies, cfg, "start", true, false); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while the blocklists loaded
		}
		return err
	}
	if !cfg.Policy.Safety.Breaker.Off {
		go guard.Run(ctx)
	}
	go trimMemory(ctx)
	// Parsing leaves garbage several times the size of the zones; hand it back to the system now
	// rather than carry it as resident memory until the heap grows into it.
	debug.FreeOSMemory()

	var listeners []*server.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for _, addr := range cfg.Listen {
		l, err := server.Listen(server.ListenerConfig{
			Addr:            addr.String(),
			UDPWorkers:      cfg.Limits.UDPWorkers,
			TCPIdleTimeout:  cfg.Limits.TCPIdleTimeout,
			TCPMaxConns:     cfg.Limits.TCPMaxConnections,
			TCPMaxPipelined: cfg.Limits.TCPMaxPipelined,
			// The encrypted listeners (tls://, https://, quic://).
			TLSCert:              cfg.TLS.Cert,
			TLSKey:               cfg.TLS.Key,
			TLSHandshakeTimeout:  cfg.Limits.TLSHandshakeTimeout,
			TLSIdleTimeout:       cfg.Limits.TLSIdleTimeout,
			TLSMaxConns:          cfg.Limits.TLSMaxConnections,
			TLSMaxConnsPerClient: cfg.Limits.TLSMaxConnectionsPerClient,
			TLSMaxStreams:        cfg.Limits.TLSMaxStreams,
		}, pipe, log)
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
		log.Info("listening", "on", l.String())
	}
	manager.Announce()

	var policyFiles fileStamps
	policyFiles.changed(cfg.Policy)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if cfg.Reload.WatchInterval > 0 {
		t := time.NewTicker(cfg.Reload.WatchInterval)
		defer t.Stop()
		tick = t.C
	}
	// Control requests that change the policy are run by the loop below, one at a time with
	// reloads.
	type policyRequest struct {
		force bool
		done  chan policyResult
	}
	policyRequests := make(chan policyRequest)
	reloadRequests := make(chan chan error)
	startControl(ctx, cfg, control.Deps{Policy: guard, PolicyReload: func(force bool) (policy.Report, error) {
		req := policyRequest{force: force, done: make(chan policyResult, 1)}
		select {
		case policyRequests <- req:
		case <-ctx.Done():
			return policy.Report{}, ctx.Err()
		}
		r := <-req.done
		return r.report, r.err
	}, Zones: manager, Reload: func(rctx context.Context) (string, error) {
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
	}}, log)
	// reload applies the configuration again: on SIGHUP and control requests the file is read
	// anew (a full reload); on the watch tick only changed zone and policy files are read. What
	// could not be applied is returned (and logged); the rest is in force.
	reload := func(why string) error {
		full := why == "signal" || why == "control"
		next := cfg
		if full && f.config != "" {
			// SIGHUP re-reads the configuration file too; listeners stay as they are.
			c, err := loadConfig(f)
			if err != nil {
				log.Error("reload: configuration rejected; keeping the running one", "err", err)
				return fmt.Errorf("configuration rejected; keeping the running one: %w", err)
			}
			next = c
			if !slices.Equal(next.Listen, cfg.Listen) || next.Limits != cfg.Limits {
				log.Warn("reload: listen addresses and limits apply at the next restart")
			}
		}
		var errs []error
		if err := manager.Reload(next); err != nil {
			log.Error("reload: some zones keep their previous version", "err", err)
			errs = append(errs, err)
		}
		resolverChanged := !reflect.DeepEqual(next.Resolver, cfg.Resolver)
		// The policy is rebuilt on SIGHUP, or when one of its files changed; a policy that
		// fails to load leaves the running one in force.
		policyChanged := full || !reflect.DeepEqual(next.Policy, cfg.Policy) || policyFiles.changed(next.Policy)
		if policyChanged {
			// SIGHUP also fetches every blocklist again; the loader puts the policy together and
			// the publisher checks it before it goes in force.
			if _, err := pub.load(ctx, policies, next, "reload ("+why+")", false, full); err != nil {
				log.Error("reload: policy not put in force; keeping the running one", "err", err)
				errs = append(errs, fmt.Errorf("policy not put in force: %w", err))
			}
			policyChanged = false // in force through the guard, or refused
		}
		cfg = next
		if !resolverChanged && !policyChanged {
			return errors.Join(errs...)
		}
		if resolverChanged {
			r, err := newRecursor(next, log)
			if err != nil {
				log.Error("reload: resolver configuration rejected; keeping the running one", "err", err)
				return errors.Join(append(errs, fmt.Errorf("resolver configuration rejected: %w", err))...)
			}
			rec = r
		}
		pipe.Update(func(s *pipeline.Snapshot) { s.Recursion = rec })
		debug.FreeOSMemory() // the replaced state and the parser's garbage
		log.Info("reloaded", "trigger", why)
		return errors.Join(errs...)
	}
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			return nil
		case <-hup:
			_ = reload("signal")
		case <-tick:
			_ = reload("file change")
		case done := <-reloadRequests:
			done <- reload("control")
		case req := <-policyRequests:
			req.done <- controlReload(ctx, f, cfg, pub, policies, req.force)
		}
	}
}

type policyResult struct {
	report policy.Report
	err    error
}

// controlReload is a policy reload asked for through the control interface: the configuration
// (and with it the policy files and blocklists) is read again and the policy checked before it
// goes in force.
func controlReload(ctx context.Context, f *commonFlags, cfg *config.Config, pub *policyPublisher, policies *server.PolicyLoader, force bool) policyResult {
	next := cfg
	if f.config != "" {
		c, err := loadConfig(f)
		if err != nil {
			return policyResult{err: err}
		}
		next = c
	}
	report, err := pub.load(ctx, policies, next, "reload (control)", force, true)
	return policyResult{report: report, err: err}
}

// fileStamps remembers the size and modification time of the policy files, so that the watch
// tick rebuilds the policy only when one changed.
type fileStamps map[string]string

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

// newRecursor builds the resolution stage when the configuration asks for recursion, nil otherwise.
func newRecursor(cfg *config.Config, log *slog.Logger) (*pipeline.Recursor, error) {
	rc := cfg.Resolver
	if !rc.Enabled() {
		return nil, nil
	}
	var hints []resolver.NameServer
	switch rc.RootHints {
	case "":
	case "iana":
		hints = resolver.IANARootHints()
	default:
		data, err := os.ReadFile(rc.RootHints)
		if err != nil {
			return nil, fmt.Errorf("root hints: %w", err)
		}
		if hints, err = resolver.ParseHints(data, rc.RootHints); err != nil {
			return nil, err
		}
	}
	// Served zones answer before this stage anyway; forwarded ones under a special-use name are
	// carved out of the local answers.
	var except []string
	var fwds []pipeline.Forward
	for _, f := range rc.Forward {
		fw := pipeline.Forward{Zone: f.Zone}
		for _, a := range f.Upstreams {
			up, err := upstream.ParseAddr(a)
			if err != nil {
				return nil, fmt.Errorf("forward %s: %w", f.Zone, err)
			}
			fw.Upstreams = append(fw.Upstreams, up)
		}
		fwds = append(fwds, fw)
		if f.Zone != "." {
			except = append(except, f.Zone)
		}
	}
	local, err := pipeline.NewSpecialUse(rc.SpecialUseOff)
	if err != nil {
		return nil, err
	}
	log.Info("recursion on", "root_hints", rc.RootHints, "servers", len(hints), "forward_zones", len(fwds), "allow", rc.AllowedNets())
	return pipeline.NewRecursor(pipeline.RecursorConfig{
		Hints:     hints,
		Allow:     rc.AllowedNets(),
		Exchanger: resolver.NewUpstreams(53, time.Second),
		Limits: resolver.Limits{
			MaxQueries: rc.MaxQueries, MaxReferrals: rc.MaxReferrals, MaxCNAMEs: rc.MaxCNAMEs,
			MaxNSLookups: rc.MaxNSLookups, MaxDepth: resolver.DefaultLimits.MaxDepth,
			MinimiseSteps: minimiseSteps(rc.QNameMinimisation),
		},
		MaxZoneQueries: rc.MaxZoneQueries,
		Timeout:        rc.Timeout,
		MaxConcurrent:  rc.MaxConcurrent,
		UDPPayload:     uint16(cfg.Limits.UDPPayload),
		Cache:          cache.New(cache.Config{MaxBytes: rc.CacheBytes, MinTTL: rc.MinTTL, MaxTTL: rc.MaxTTL, StaleTTL: staleTTL(rc.StaleTTL)}),
		Forwards:       fwds,
		Local:          local,
		LocalExcept:    except,
	}), nil
}

// minimiseSteps turns the qname_minimisation switch into the resolver's step bound.
func minimiseSteps(on bool) int {
	if on {
		return resolver.DefaultLimits.MinimiseSteps
	}
	return 0
}

// staleTTL maps the configuration's "0 = off" onto the cache's "negative = off".
func staleTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
