package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"path/filepath"
	"syscall"

	"warden/internal/config"
	"warden/internal/daemon"
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
	if err := config.ApplyTrustAnchorFlag(cfg, f.trustAnchor); err != nil {
		return nil, err
	}
	if err := config.ApplyPolicyFlags(cfg, f.rpz); err != nil {
		return nil, err
	}
	if err := config.ApplyBlocklistFlags(cfg, f.blocklists); err != nil {
		return nil, err
	}
	if err := config.ApplyHTTPFlags(cfg, f.http); err != nil {
		return nil, err
	}
	if err := config.ApplyQueryLogFlag(cfg, f.queryLog); err != nil {
		return nil, err
	}
	if err := config.ApplyDnstapFlag(cfg, f.dnstap); err != nil {
		return nil, err
	}
	if err := config.ApplyRRLFlag(cfg, f.rrl); err != nil {
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
	if err := config.ApplyStateDirFlag(cfg, f.stateDir); err != nil {
		return nil, err
	}
	if err := config.ApplyUserFlag(cfg, f.user); err != nil {
		return nil, err
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

func serve(args []string, stdout, stderr io.Writer) int {
	c := serveCommand()
	f, err := parseFlags(c, args)
	if err != nil {
		return c.fail(err, stdout, stderr)
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

// runServer serves cfg until ctx ends; a reload reads the configuration again from f.
func runServer(ctx context.Context, f *commonFlags, cfg *config.Config, log *slog.Logger) error {
	opts := daemon.Options{Log: log}
	if f.config != "" {
		opts.Reread = func() (*config.Config, error) { return loadConfig(f) }
	}
	return daemon.Run(ctx, cfg, opts)
}
