package control

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"warden/internal/validator"
)

// TestNTARoutes: negative trust anchors added, listed and removed over the socket, with a
// lifetime or the default hour; wrong domains and lifetimes are refused with a reason.
func TestNTARoutes(t *testing.T) {
	set := validator.NewNegativeAnchors()
	socket := filepath.Join(t.TempDir(), "control.sock")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, socket, Handler(Deps{NTA: set}), slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	c := NewClient(socket)
	var list NTAList
	for deadline := time.Now().Add(5 * time.Second); c.Do(http.MethodGet, "/nta", &list) != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the control socket never answered")
		}
	}
	var done Done
	if err := c.Do(http.MethodPost, NTAPath("broken.example."), &done); err != nil || !strings.Contains(done.Message, "broken.example") {
		t.Fatalf("add: %v %q", err, done.Message)
	}
	if err := c.Do(http.MethodPost, NTAPath("other.example")+"?for=10m", &done); err != nil {
		t.Fatalf("add with a lifetime: %v", err)
	}
	if err := c.Do(http.MethodGet, "/nta", &list); err != nil || len(list.Anchors) != 2 {
		t.Fatalf("list: %v %+v", err, list)
	}
	hour := time.Until(list.Anchors[0].Expiry)
	if list.Anchors[0].Domain != "broken.example." || hour < 59*time.Minute || hour > 61*time.Minute {
		t.Errorf("first anchor %+v: want broken.example. for an hour", list.Anchors[0])
	}
	if ten := time.Until(list.Anchors[1].Expiry); ten < 9*time.Minute || ten > 11*time.Minute {
		t.Errorf("second anchor expires in %v, want 10m", ten)
	}
	if a, ok := set.Covers("www.broken.example.", time.Now()); !ok || a.Domain != "broken.example." {
		t.Errorf("the set does not cover www.broken.example.: %+v", a)
	}
	for _, tt := range []struct{ method, path, want string }{
		{http.MethodPost, NTAPath("a..b"), "not a domain name"},
		{http.MethodPost, NTAPath("x.example") + "?for=yesterday", "want a duration"},
		{http.MethodPost, NTAPath("x.example") + "?for=200h", "want a duration"},
		{http.MethodDelete, NTAPath("never.example"), "no negative trust anchor"},
	} {
		if err := c.Do(tt.method, tt.path, &done); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %s: %v, want an error saying %q", tt.method, tt.path, err, tt.want)
		}
	}
	if err := c.Do(http.MethodDelete, NTAPath("broken.example"), &done); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, ok := set.Covers("www.broken.example.", time.Now()); ok {
		t.Error("still covered after removal")
	}
	// Without a resolver there is nothing to add to.
	rec := httptest.NewRecorder()
	Handler(Deps{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://warden/nta", nil))
	if rec.Code != http.StatusNotImplemented {
		t.Errorf("GET /nta without a resolver: status %d", rec.Code)
	}
}
