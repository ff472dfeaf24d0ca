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

// controlListeners are the control interface's sockets, bound before the server gives root up
// (the socket's directory may be root's, and the HTTP port may be below 1024) and served after.
// Either is nil when off or when it could not be opened.
type controlListeners struct {
	socket *net.UnixListener
	http   net.Listener
	token  []byte
}

// openControl binds the control interface's sockets. One that cannot be opened is logged and the
// server goes on without it: answering DNS matters more than being controllable.
func openControl(cfg *config.Config, log *slog.Logger) *controlListeners {
	c := cfg.Control
	ls := &controlListeners{}
	if c.Socket != "" {
		l, err := control.ListenSocket(c.Socket)
		if err != nil {
			log.Warn("control interface off", "err", err)
		} else {
			ls.socket = l
		}
	}
	if c.HTTP.Listen == "" {
		return ls
	}
	// The configuration's check read the token already; the file may have changed since.
	token, err := config.ReadToken(c.HTTP.TokenFile)
	if err != nil {
		log.Warn("control over HTTP off", "err", fmt.Errorf("control.http.token_file: %w", err))
		return ls
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
		return ls
	}
	ls.http, ls.token = l, token
	return ls
}

// close closes the sockets that were never served (Run failed before its loop).
func (ls *controlListeners) close() {
	if ls.socket != nil {
		_ = ls.socket.Close()
	}
	if ls.http != nil {
		_ = ls.http.Close()
	}
}

// serve answers the control interface on the bound sockets for the server's life.
func (ls *controlListeners) serve(ctx context.Context, deps control.Deps, log *slog.Logger) {
	h := control.Handler(deps)
	if l := ls.socket; l != nil {
		go func() {
			if err := control.ServeSocket(ctx, l, h, log); err != nil {
				log.Warn("control interface off", "err", err)
			}
		}()
	}
	if l := ls.http; l != nil {
		go func() {
			if err := control.ServeTCP(ctx, l, ls.token, h, log); err != nil {
				log.Warn("control over HTTP off", "err", err)
			}
		}()
	}
}
