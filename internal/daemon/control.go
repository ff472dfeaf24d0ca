package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"

	"warden/internal/config"
	"warden/internal/control"
)

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
