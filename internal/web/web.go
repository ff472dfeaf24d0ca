// Package web is Warden's HTTP listener (`--http`, the configuration's http section): GET
// /metrics for Prometheus, open to anyone who can reach it, and, behind the token when one is
// configured, the dashboard at / and its JSON API under /api/. It only reads the running
// server: changes go through the control interface.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"

	"warden/internal/querylog"
)

// Deps are what the listener shows. Metrics is required; Status may be nil, and /api/status then
// answers 501.
type Deps struct {
	// Metrics serves GET /metrics.
	Metrics http.Handler
	// Status returns what GET /api/status answers, as JSON: the server at a glance, as
	// `warden ctl status` shows it.
	Status func() any
	// Token, when not empty, is what / and /api/ require; /metrics never does.
	Token []byte
	// QueryLog is the query log's directory, which GET /api/querylog searches; "" when the log
	// is off, and the endpoint then answers 501.
	QueryLog string
	// Gatherer is the registry Metrics serves, which GET /api/dashboard reads: one source for
	// both, so that the page and /metrics cannot disagree. Nil: /api/dashboard answers 501.
	Gatherer prometheus.Gatherer
	// Top returns the query log's top lists (names, clients, blocked names) of at most n keys
	// each; nil while the log is off.
	Top func(n int) querylog.TopLists
	// Policy resumes a suspended rule set: POST /api/policy/resume. Nil: 501.
	Policy Resumer
}

// Handler returns the listener's routes: pages to site, JSON to api.
func Handler(d Deps) (http.Handler, error) {
	if d.Metrics == nil {
		return nil, errors.New("http listener: no metrics to serve")
	}
	api := http.NewServeMux()
	api.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		if d.Status == nil {
			replyJSON(w, http.StatusNotImplemented, apiError{"this server shows no status here"})
			return
		}
		replyJSON(w, http.StatusOK, d.Status())
	})
	api.HandleFunc("GET /api/querylog", func(w http.ResponseWriter, r *http.Request) {
		searchQueryLog(w, r, d.QueryLog)
	})
	api.HandleFunc("GET /api/dashboard", dashboard(d.Gatherer, d.Top))
	api.HandleFunc("POST /api/policy/resume", resume(d.Policy))
	// The mux's own 404 and 405 are plain text; an API client expects JSON from every answer.
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		replyJSON(w, http.StatusNotFound, apiError{fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)})
	})

	site := http.NewServeMux()
	site.HandleFunc("GET /{$}", index)

	gate := newGate(d.Token)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", d.Metrics)
	mux.Handle("/api/", gate.wrap(api))
	mux.Handle("/", gate.wrap(site))
	return mux, nil
}

// apiError is the body of an API refusal.
type apiError struct {
	Error string `json:"error"`
}

func replyJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// Limits of the listener: a client that is slow to send its request, or to read the answer,
// is cut off rather than held on to, and no number of clients can take more than maxConns
// connections.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	// writeTimeout is above the metrics handler's own bound on a scrape (metrics.Registry).
	writeTimeout   = 30 * time.Second
	idleTimeout    = time.Minute
	maxHeaderBytes = 16 << 10
	maxConns       = 256
	shutdownWait   = 2 * time.Second
)

// Serve answers h on l until ctx ends, then closes l.
func Serve(ctx context.Context, l net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
			return
		}
		shut, cancel := context.WithTimeout(context.Background(), shutdownWait)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	err := srv.Serve(netutil.LimitListener(l, maxConns))
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
