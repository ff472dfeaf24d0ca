// Package control is the running server's control interface: HTTP with JSON bodies on a Unix
// socket, which only local users with access to the socket file can reach. `warden policy ...`
// is its client. It shows the policy in force, its counters and alarms, and lets an operator roll
// the policy back, resume a rule set the circuit breaker suspended, or reload the policy (after
// the same blast-radius check `warden check --corpus` runs). GET /metrics serves the policy's
// counters and alarms in the Prometheus text format.
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

	"warden/internal/policy"
	"warden/internal/server"
)

// Reloader builds the policy the configuration now names and checks it against the one in force;
// it puts it in force when the check passes or force is set, and returns the check's report.
type Reloader func(force bool) (policy.Report, error)

// ErrTooBig is what a Reloader returns, wrapped, when the check refused the change.
var ErrTooBig = errors.New("policy change refused: it would change too many answers")

// Handler returns the control API over guard.
func Handler(guard *server.PolicyGuard, reload Reloader) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler(guard))
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
		if err := guard.Resume(name); err != nil {
			reply(w, http.StatusNotFound, Error{err.Error()})
			return
		}
		reply(w, http.StatusOK, Done{Message: "rule set " + name + " resumed"})
	})
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
	return mux
}

// Done is the body of a successful change.
type Done struct {
	Message string `json:"message"`
	Report  string `json:"report,omitempty"`
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
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("control socket %s: another server is listening on it", path)
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Info("control interface", "socket", path)
	err = srv.Serve(l)
	_ = os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Client talks to a running server's control socket.
type Client struct {
	http *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Do sends method to the API path and decodes the JSON reply into out (when not nil). A status
// other than 200 is returned as an error carrying the server's message; out is still filled.
func (c *Client) Do(method, path string, out any) error {
	req, err := http.NewRequest(method, "http://warden"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("control socket: %w (is the server running, and is this its socket?)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
			Report  string `json:"report"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		if d, ok := out.(*Done); ok {
			d.Message, d.Report = e.Message, e.Report
		}
		msg := e.Error
		if msg == "" {
			msg = e.Message
		}
		return fmt.Errorf("%s %s: %s", method, path, msg)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
