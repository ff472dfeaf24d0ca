// Package control is the running server's control interface: HTTP with JSON bodies, on a Unix
// socket that only local users with access to the socket file can reach, and optionally over TCP
// behind a bearer token. `warden ctl` and `warden policy` are its clients.
//
// It shows the server (GET /status), its zones (GET /zones, GET /zones/{zone}) and the policy in
// force with its counters and alarms (GET /policy), and the server's metrics (GET /metrics in the
// Prometheus text format, the same registry the HTTP listener serves). It lets an operator reload the configuration as SIGHUP does (POST /reload), refresh or
// transfer again a secondary zone (POST /zones/{zone}/refresh|retransfer), say that the parent of a
// signed zone holds its new KSK's DS (POST /zones/{zone}/ds-seen), add, list and remove negative
// trust anchors (GET /nta, POST and DELETE /nta/{domain}), roll the policy back,
// resume a rule set the circuit breaker suspended, or reload the policy after the same
// blast-radius check `warden check --corpus` runs (POST /policy/rollback|resume|reload).
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"warden/internal/health"
	"warden/internal/policy"
	"warden/internal/policy/live"
	"warden/internal/rrl"
	"warden/internal/validator"
)

// Reloader builds the policy the configuration now names and checks it against the one in force;
// it puts it in force when the check passes or force is set, and returns the check's report.
type Reloader func(force bool) (policy.Report, error)

// ErrTooBig is what a Reloader returns, wrapped, when the check refused the change.
var ErrTooBig = live.ErrTooBig

// PolicyGuard is what the control interface shows and changes of the policy in force: a
// *live.Guard.
type PolicyGuard interface {
	Status() live.Status
	Rollback() (live.Version, error)
	// Resume reports whether the set was suspended.
	Resume(set string) (bool, error)
}

var _ PolicyGuard = (*live.Guard)(nil)

// NegativeAnchors is the set of negative trust anchors in force: a *validator.NegativeAnchors.
type NegativeAnchors interface {
	Add(domain string, expiry time.Time, fromConfig bool) error
	Remove(domain string) (bool, error)
	List(now time.Time) []validator.NTA
}

var _ NegativeAnchors = (*validator.NegativeAnchors)(nil)

// Deps are what the control interface shows and acts on. Any may be nil or zero: the endpoints
// that need it then answer 501 and say what this server lacks.
type Deps struct {
	// Policy is the policy guard: GET /policy, POST /policy/rollback|resume.
	Policy PolicyGuard
	// PolicyReload re-reads and checks the policy: POST /policy/reload.
	PolicyReload Reloader
	// Zones are the zones served: GET /zones[/{zone}], POST /zones/{zone}/refresh|retransfer.
	Zones Zones
	// Reload does what SIGHUP does and says what it did: POST /reload.
	Reload func(ctx context.Context) (string, error)
	// RateLimiter returns the response rate limiter in force, nil when limiting is off: GET
	// /status. A func, because a reload that changes the rate replaces the limiter.
	RateLimiter func() *rrl.Limiter
	// Injections are the injected replies the resolver and forwarders detected (Hold-On): GET
	// /status. nil leaves them out.
	Injections InjectionCounts
	// Metrics serves the server's metrics: GET /metrics.
	Metrics http.Handler
	// NTA is the negative trust anchors: GET /nta, POST and DELETE /nta/{domain}.
	NTA NegativeAnchors
	// Health lists what is wrong right now: GET /status (problems). Nil shows none.
	Health *health.Board

	// Version names the running build; empty means the one recorded in the binary.
	Version string
	// Started is when the server started; zero means when Handler was called.
	Started time.Time
	// Listeners are the addresses the server answers DNS on.
	Listeners []string
}

// Handler returns the control API over d.
func Handler(d Deps) http.Handler {
	if d.Version == "" {
		d.Version = buildVersion()
	}
	if d.Started.IsZero() {
		d.Started = time.Now()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", d.status)
	mux.HandleFunc("POST /reload", d.reload)
	if d.Metrics != nil {
		mux.Handle("GET /metrics", d.Metrics)
	} else {
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			reply(w, http.StatusNotImplemented, Error{"this server was started without metrics"})
		})
	}
	d.zoneRoutes(mux)
	d.policyRoutes(mux)
	d.ntaRoutes(mux)
	// The mux's own 404 and 405 are plain text; a client expects JSON from every answer.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNotFound, Error{fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)})
	})
	return mux
}

func (d Deps) reload(w http.ResponseWriter, r *http.Request) {
	if d.Reload == nil {
		reply(w, http.StatusNotImplemented, Error{"this control interface cannot reload the server; send it SIGHUP"})
		return
	}
	msg, err := d.Reload(r.Context())
	if err != nil {
		reply(w, http.StatusUnprocessableEntity, Error{err.Error()})
		return
	}
	reply(w, http.StatusOK, Done{Message: msg})
}

func (d Deps) policyRoutes(mux *http.ServeMux) {
	guard := d.Policy
	if guard == nil {
		off := func(w http.ResponseWriter, r *http.Request) {
			reply(w, http.StatusNotImplemented, Error{"this server was started without a policy guard: no policy control"})
		}
		for _, p := range []string{"GET /policy", "POST /policy/rollback", "POST /policy/resume", "POST /policy/reload"} {
			mux.HandleFunc(p, off)
		}
		return
	}
	mux.HandleFunc("GET /policy", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, guard.Status())
	})
	mux.HandleFunc("POST /policy/rollback", func(w http.ResponseWriter, r *http.Request) {
		v, err := guard.Rollback()
		if err != nil {
			reply(w, http.StatusConflict, Error{err.Error()})
			return
		}
		reply(w, http.StatusOK, Done{Message: fmt.Sprintf("policy version %d in force: %s", v.N, v.Reason)})
	})
	mux.HandleFunc("POST /policy/resume", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("set")
		resumed, err := guard.Resume(name)
		switch {
		case err != nil:
			reply(w, http.StatusNotFound, Error{err.Error()})
		case !resumed:
			reply(w, http.StatusOK, Done{Message: "rule set " + name + " is not suspended: nothing to resume"})
		default:
			reply(w, http.StatusOK, Done{Message: "rule set " + name + " resumed"})
		}
	})
	reload := d.PolicyReload
	mux.HandleFunc("POST /policy/reload", func(w http.ResponseWriter, r *http.Request) {
		if reload == nil {
			reply(w, http.StatusNotImplemented, Error{"this server has no configuration to reload from"})
			return
		}
		report, err := reload(r.URL.Query().Get("force") == "1")
		switch {
		case errors.Is(err, ErrTooBig):
			reply(w, http.StatusConflict, Done{Message: err.Error(), Report: report.String()})
		case err != nil:
			reply(w, http.StatusUnprocessableEntity, Error{err.Error()})
		default:
			reply(w, http.StatusOK, Done{Message: "policy reloaded", Report: report.String()})
		}
	})
}

// Done is the body of a successful change, and of a policy reload the check refused.
type Done struct {
	Message string `json:"message"`
	// Report is the blast-radius check's report of a policy reload.
	Report string `json:"report,omitempty"`
	// Zone is the zone's state after a refresh or transfer.
	Zone *ZoneStatus `json:"zone,omitempty"`
}

// Error is the body of a refusal.
type Error struct {
	Error string `json:"error"`
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// Serve answers the control API on a Unix socket at path until ctx ends, then removes the socket.
// A stale socket file from an earlier run is replaced; the file is made accessible to its owner
// only.
func Serve(ctx context.Context, path string, h http.Handler, log *slog.Logger) error {
	l, err := ListenSocket(path)
	if err != nil {
		return err
	}
	return ServeSocket(ctx, l, h, log)
}

// ListenSocket binds the control socket at path, making its directory when needed, replacing a
// stale socket file from an earlier run, and leaving the file to its owner only. A server that
// gives root up binds it first, then serves it with ServeSocket.
func ListenSocket(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another server is listening on it", path)
	}
	_ = os.Remove(path)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return l, nil
}

// ServeSocket answers the control API on l, a socket from ListenSocket, until ctx ends, then
// closes it, which removes the socket file.
func ServeSocket(ctx context.Context, l *net.UnixListener, h http.Handler, log *slog.Logger) error {
	path := l.Addr().String()
	log.Info("control interface", "socket", path)
	err := serveOn(ctx, l, h)
	_ = os.Remove(path)
	return err
}

// serveOn answers h on l until ctx ends or l fails, then closes l.
func serveOn(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
		// Requests carry a path, a query and a token; nothing needs more.
		MaxHeaderBytes: 16 << 10,
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
			return
		}
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
