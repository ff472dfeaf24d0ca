package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"

	"warden/internal/config"
	"warden/internal/control"
	"warden/internal/pipeline"
	"warden/internal/policy"
	"warden/internal/server"
)

// The policy's safety net as the serve command wires it: every policy change goes through the
// blast-radius check and the guard (versions, rollback, circuit breaker); the control socket
// lets an operator see and undo.

// breakerConfig maps the configuration onto the breaker's settings.
func breakerConfig(c config.BreakerConfig) policy.BreakerConfig {
	return policy.BreakerConfig{Window: c.Window, Factor: c.Factor, Floor: c.Floor / 100, MinQueries: c.MinQueries}
}

// checkClient is the client address corpus names are evaluated for: rules limited to some
// client networks count as they would for a local client.
var checkClient = netip.MustParseAddr("127.0.0.1")

// corpusFor returns the names a live change of cfg's policy is checked on: the configured file,
// else the names recently asked.
func corpusFor(cfg *config.Config, recent *pipeline.RecentNames) ([]string, error) {
	path := cfg.Policy.Safety.CheckCorpus
	if path == "" {
		return recent.Names(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("check corpus: %w", err)
	}
	defer f.Close()
	return policy.ReadCorpus(f, path)
}

// checkedInstall compares next with the policy in force over the corpus and puts it in force if
// the share of changed names is within cfg's max_change, or force is set.
func checkedInstall(guard *server.PolicyGuard, pipe *pipeline.Pipeline, cfg *config.Config, next *policy.Policy, reason string, force bool, log *slog.Logger) (policy.Report, error) {
	corpus, err := corpusFor(cfg, pipe.Recent)
	if err != nil {
		return policy.Report{}, err
	}
	report := policy.Compare(pipe.Snapshot().Policy, next, corpus, checkClient)
	limit := cfg.Policy.Safety.MaxChange
	if 100*report.Share() > limit {
		if !force {
			log.Error("policy change refused: it would change too many answers; keeping the policy in force",
				"changed", report.Changed, "names", report.Names, "limit_percent", limit, "report", report.String())
			return report, fmt.Errorf("%w: %d of %d names (%.2f%%), the limit is %g%%",
				control.ErrTooBig, report.Changed, report.Names, 100*report.Share(), limit)
		}
		log.Warn("policy change over the limit, forced", "changed", report.Changed, "names", report.Names, "limit_percent", limit)
	}
	if report.Names == 0 {
		log.Warn("policy change checked on no names: none asked yet and no check_corpus configured")
	}
	guard.Install(next, reason)
	return report, nil
}

// policyPublisher checks and installs every policy the loader puts together: at a reload (with
// the reason and force of the one who asked) and at each blocklist refresh (never forced).
type policyPublisher struct {
	guard *server.PolicyGuard
	pipe  *pipeline.Pipeline
	log   *slog.Logger

	mu     sync.Mutex
	cfg    *config.Config
	reason string
	force  bool
	report policy.Report
	err    error
}

// publish is the loader's callback.
func (p *policyPublisher) publish(pol *policy.Policy) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.report, p.err = checkedInstall(p.guard, p.pipe, p.cfg, pol, p.reason, p.force, p.log)
	// What the loader publishes next without being asked comes from a list refresh.
	p.reason, p.force = "blocklist refresh", false
}

// load has the loader load cfg's policy and returns the check's report and verdict for it.
func (p *policyPublisher) load(ctx context.Context, l *server.PolicyLoader, cfg *config.Config, reason string, force, reread bool) (policy.Report, error) {
	p.mu.Lock()
	p.cfg, p.reason, p.force, p.report, p.err = cfg, reason, force, policy.Report{}, nil
	p.mu.Unlock()
	if err := l.Load(ctx, cfg, reread); err != nil {
		return policy.Report{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.report, p.err
}

// startControl serves the control interface for the server's life: on the socket, and over TCP
// behind the token when control.http is configured. One that cannot be opened is logged and the
// server goes on without it: answering DNS matters more than being controllable.
func startControl(ctx context.Context, cfg *config.Config, deps control.Deps, log *slog.Logger) {
	c := cfg.Control
	if deps.Listeners == nil {
		for _, a := range cfg.Listen {
			deps.Listeners = append(deps.Listeners, a.String())
		}
	}
	h := control.Handler(deps)
	if c.Socket != "" {
		go func() {
			if err := control.Serve(ctx, c.Socket, h, log); err != nil {
				log.Warn("control interface off", "err", err)
			}
		}()
	}
	if c.HTTP.Listen == "" {
		return
	}
	// The configuration's check read the token already; the file may have changed since.
	token, err := config.ReadToken(c.HTTP.TokenFile)
	if err != nil {
		log.Warn("control over HTTP off", "err", fmt.Errorf("control.http.token_file: %w", err))
		return
	}
	if fi, err := os.Stat(c.HTTP.TokenFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the control token file is readable by other users", "file", c.HTTP.TokenFile, "mode", fi.Mode().Perm().String())
	}
	if ap, err := netip.ParseAddrPort(c.HTTP.Listen); err == nil && !ap.Addr().IsLoopback() {
		log.Warn("control over plain HTTP on an address off this host: the token crosses the network in clear", "listen", c.HTTP.Listen)
	}
	l, err := net.Listen("tcp", c.HTTP.Listen)
	if err != nil {
		log.Warn("control over HTTP off", "err", err)
		return
	}
	go func() {
		if err := control.ServeTCP(ctx, l, token, h, log); err != nil {
			log.Warn("control over HTTP off", "err", err)
		}
	}()
}
