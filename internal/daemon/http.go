package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"warden/internal/config"
	"warden/internal/control"
	"warden/internal/metrics"
	"warden/internal/pipeline"
	"warden/internal/querylog"
	"warden/internal/upstream"
	"warden/internal/web"
)

// httpListeners are the HTTP listener's sockets (metrics, dashboard, API), bound before the
// server gives root up and served after, as the control interface's are.
type httpListeners struct {
	ls    []net.Listener
	token []byte
}

// openHTTP binds the configured HTTP addresses. One that cannot be opened is logged and the
// server goes on without it, as with the control interface: answering DNS matters more.
func openHTTP(cfg *config.Config, log *slog.Logger) *httpListeners {
	h := &httpListeners{}
	if len(cfg.HTTP.Listen) == 0 {
		return h
	}
	if f := cfg.HTTP.TokenFile; f != "" {
		// The configuration's check read the token already; the file may have changed since.
		token, err := config.ReadToken(f)
		if err != nil {
			log.Warn("http listener off", "err", fmt.Errorf("http.token_file: %w", err))
			return h
		}
		if fi, err := os.Stat(f); err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("the http token file is readable by other users", "file", f, "mode", fi.Mode().Perm().String())
		}
		h.token = token
	}
	for _, a := range cfg.HTTP.Listen {
		if ap, err := netip.ParseAddrPort(a); err == nil && !ap.Addr().IsLoopback() {
			if h.token == nil {
				log.Warn("http listener on an address off this host without http.token_file: anyone who reaches it can read the dashboard and its API", "listen", a)
			} else {
				log.Warn("http listener on an address off this host over plain HTTP: the token crosses the network in clear", "listen", a)
			}
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			log.Warn("http listener off", "listen", a, "err", err)
			continue
		}
		h.ls = append(h.ls, l)
	}
	return h
}

// close closes the sockets that were never served (Run failed before its loop).
func (h *httpListeners) close() {
	for _, l := range h.ls {
		_ = l.Close()
	}
}

// serve answers on the bound sockets for the server's life.
func (h *httpListeners) serve(ctx context.Context, deps web.Deps, log *slog.Logger) {
	if len(h.ls) == 0 {
		return
	}
	deps.Token = h.token
	handler, err := web.Handler(deps)
	if err != nil {
		log.Warn("http listener off", "err", err)
		h.close()
		return
	}
	for _, l := range h.ls {
		log.Info("http listener", "on", l.Addr().String(), "token", h.token != nil)
		go func() {
			if err := web.Serve(ctx, l, handler, log); err != nil {
				log.Warn("http listener off", "on", l.Addr().String(), "err", err)
			}
		}()
	}
}

// metricsOn says whether the server counts its queries: when some endpoint can show the counts
// (the HTTP listener, the control interface). Without one, the listeners record nothing.
func metricsOn(cfg *config.Config) bool {
	return len(cfg.HTTP.Listen) > 0 || cfg.Control.Socket != "" || cfg.Control.HTTP.Listen != ""
}

// resolverState reads the resolver in force for the metrics; a reload may replace it.
type resolverState struct{ pipe *pipeline.Pipeline }

func (s resolverState) Cache() metrics.CacheSize {
	if r := s.pipe.Snapshot().Recursion; r != nil && r.Cache() != nil {
		return r.Cache()
	}
	return nil
}

func (s resolverState) Upstreams() []upstream.Upstream {
	if r := s.pipe.Snapshot().Recursion; r != nil {
		return r.Upstreams()
	}
	return nil
}

// topLists is what the dashboard's top lists read: the query log's counts, nil while it is off.
func (d *daemon) topLists() func(n int) querylog.TopLists {
	if d.queryLog == nil {
		return nil
	}
	return func(n int) querylog.TopLists { return d.queryLog.Top(n, time.Now()) }
}

// statusOf is what GET /api/status shows: the control interface's status of the server.
func statusOf(deps control.Deps) func() any {
	return func() any { return deps.Status() }
}
