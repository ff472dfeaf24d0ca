package control

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"warden/internal/policy/live"
)

func TestControlRefusals(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	guard := testGuard(t)
	socket := filepath.Join(t.TempDir(), "control.sock")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, socket, Handler(Deps{Policy: guard}), log) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	c := NewClient(socket)
	var st live.Status
	for deadline := time.Now().Add(5 * time.Second); c.Do(http.MethodGet, "/policy", &st) != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the control socket never answered")
		}
	}
	if st.Version != 1 || st.Reason != "start" || len(st.Sets) != 0 {
		t.Fatalf("status %+v", st)
	}
	for _, tt := range []struct{ method, path, want string }{
		{http.MethodPost, "/policy/rollback", "no earlier policy version"},
		{http.MethodPost, "/policy/resume?set=rpz.none.", `no rule set of that name in force: "rpz.none."`},
		{http.MethodPost, "/policy/reload", "no configuration to reload from"},
	} {
		var d Done
		if err := c.Do(tt.method, tt.path, &d); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %s: %v, want an error saying %q", tt.method, tt.path, err, tt.want)
		}
	}
	// A second server on the same socket is refused, and the first keeps it.
	if err := Serve(ctx, socket, Handler(Deps{Policy: guard}), log); err == nil || !strings.Contains(err.Error(), "another server") {
		t.Fatalf("second Serve: %v", err)
	}
	if err := c.Do(http.MethodGet, "/policy", &st); err != nil {
		t.Fatalf("the first server lost its socket: %v", err)
	}
}
