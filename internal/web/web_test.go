package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func testHandler(t *testing.T, token string) http.Handler {
	t.Helper()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("warden_up 1\n")) })
	h, err := Handler(Deps{Metrics: metrics, Status: func() any { return map[string]int{"zones": 3} }, Token: []byte(token)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(h http.Handler, target, auth string) (int, string, http.Header) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Header()
}

// Without a token configured, everything is open; with one, only /metrics is.
func TestGate(t *testing.T) {
	const token = "0123456789abcdef-web"
	open, gated := testHandler(t, ""), testHandler(t, token)
	for _, tt := range []struct {
		h            http.Handler
		target, auth string
		want         int
	}{
		{open, "/metrics", "", 200},
		{open, "/api/status", "", 200},
		{open, "/", "", 200},
		{gated, "/metrics", "", 200},
		{gated, "/api/status", "", 401},
		{gated, "/api/status", "Bearer " + token + "x", 401},
		{gated, "/api/status", "Basic " + token, 401},
		{gated, "/api/status?token=" + token[:len(token)-1], "", 401},
		{gated, "/api/status", "Bearer " + token, 200},
		{gated, "/api/status", "BEARER  " + token + " ", 200},
		{gated, "/api/status?token=" + token, "", 200},
		{gated, "/nothing", "", 401}, // what exists behind the gate is not told
		{gated, "/nothing?token=" + token, "", 404},
		{gated, "/api/nothing", "Bearer " + token, 404},
	} {
		code, body, hdr := get(tt.h, tt.target, tt.auth)
		if code != tt.want {
			t.Errorf("GET %s (Authorization %q): %d %s; want %d", tt.target, tt.auth, code, body, tt.want)
		}
		if code == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("GET %s: 401 without WWW-Authenticate: Bearer", tt.target)
		}
	}
	if _, body, _ := get(gated, "/api/status?token="+token, ""); strings.TrimSpace(body) != `{"zones":3}` {
		t.Errorf("/api/status: %s", body)
	}
}

func TestHandlerNeedsMetrics(t *testing.T) {
	if _, err := Handler(Deps{}); err == nil {
		t.Error("a listener without metrics was built")
	}
}
