package control

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"warden/internal/policy"
	"warden/internal/policy/live"
)

// testZones is a zone manager of three zones: a primary, a secondary whose refresh raises its
// serial, and a secondary whose primary cannot be reached.
type testZones struct {
	mu    sync.Mutex
	zones map[string]*ZoneStatus
	calls []string
}

var refreshed = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newTestZones() *testZones {
	return &testZones{zones: map[string]*ZoneStatus{
		"example.com.": {Zone: "example.com.", Role: "primary", Serial: 2026030101, Loaded: true, Records: 12, Source: "/etc/warden/example.com.zone"},
		"sec.test.": {Zone: "sec.test.", Role: "secondary", Serial: 7, Loaded: true, Records: 5, Source: "192.0.2.1:53",
			Catalog: "catz.test.", LastRefresh: refreshed, NextRefresh: refreshed.Add(time.Hour), ExpiresAt: refreshed.Add(7 * 24 * time.Hour), JournalFrom: 3},
		"broken.test.": {Zone: "broken.test.", Role: "secondary", Source: "192.0.2.9:53", LastError: "192.0.2.9:53: connection refused"},
	}}
}

func (z *testZones) ZoneList() []ZoneStatus {
	z.mu.Lock()
	defer z.mu.Unlock()
	var out []ZoneStatus
	for _, st := range z.zones {
		out = append(out, *st)
	}
	return out
}

func (z *testZones) Refresh(zone string) error    { return z.act("refresh", zone) }
func (z *testZones) Retransfer(zone string) error { return z.act("retransfer", zone) }

func (z *testZones) act(verb, zone string) error {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.calls = append(z.calls, verb+" "+zone)
	st, ok := z.zones[zone]
	switch {
	case !ok:
		return ErrNoZone
	case st.Role != "secondary":
		return ErrNotSecondary
	case st.LastError != "":
		return errors.New(st.LastError)
	}
	st.Serial++
	return nil
}

var _ Zones = (*testZones)(nil)

// policyTarget is a query path reduced to its policy.
type policyTarget struct{ p atomic.Pointer[policy.Policy] }

func (t *policyTarget) Policy() *policy.Policy     { return t.p.Load() }
func (t *policyTarget) SetPolicy(p *policy.Policy) { t.p.Store(p) }

// testGuard returns a guard whose first version, "start", has no rule set.
func testGuard(t testing.TB) *live.Guard {
	g := live.NewGuard(&policyTarget{}, live.Config{Keep: 4}, slog.New(slog.DiscardHandler))
	if _, err := g.Put(live.Proposal{}, live.Change{Reason: "start", Force: true}); err != nil {
		t.Fatal(err)
	}
	return g
}

func do(t *testing.T, h http.Handler, method, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "http://warden"+path, nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(path, "/metrics") {
		t.Errorf("%s %s: content type %q", method, path, ct)
	}
	return rec.Code, rec.Body.String()
}

func TestHandlerZones(t *testing.T) {
	zones := newTestZones()
	reloads := 0
	h := Handler(Deps{
		Policy: testGuard(t),
		Zones:  zones,
		Reload: func(ctx context.Context) (string, error) {
			if reloads++; reloads > 1 {
				return "", errors.New("warden.yaml:3: listen: at least one address is required")
			}
			return "reloaded: 3 zones", nil
		},
		Version:   "v1.2.3",
		Started:   time.Now().Add(-90 * time.Second),
		Listeners: []string{"127.0.0.1:53"},
	})
	for _, tt := range []struct {
		method, path string
		status       int
		want         []string
	}{
		{"GET", "/zones", 200, []string{`{"zones":[{"zone":"broken.test.","role":"secondary","serial":0,"loaded":false,"expired":false,"records":0,"source":"192.0.2.9:53","last_error":"192.0.2.9:53: connection refused"},{"zone":"example.com."`, `"catalog":"catz.test.","last_refresh":"2026-03-01T12:00:00Z","next_refresh":"2026-03-01T13:00:00Z","expires_at":"2026-03-08T12:00:00Z","journal_from":3}]}`}},
		{"GET", "/zones/Example.COM", 200, []string{`{"zone":"example.com.","role":"primary","serial":2026030101,"loaded":true`}},
		{"GET", "/zones/example.com.", 200, []string{`"zone":"example.com."`}},
		{"GET", "/zones/nope.test", 404, []string{`{"error":"zone nope.test.: no such zone is served"}`}},
		{"GET", "/zones/%2E", 404, []string{`zone .: no such zone`}},
		{"GET", "/zones/a..test", 400, []string{`zone name \"a..test\" has an empty label`}},
		{"POST", "/zones/SEC.test/refresh", 200, []string{`"message":"zone sec.test. refreshed: serial 8"`, `"zone":{"zone":"sec.test.","role":"secondary","serial":8`}},
		{"POST", "/zones/sec.test./retransfer", 200, []string{`"message":"zone sec.test. transferred: serial 9"`}},
		{"POST", "/zones/example.com/refresh", 409, []string{`refresh zone example.com.: the zone is not a secondary`}},
		{"POST", "/zones/nope.test/retransfer", 404, []string{`retransfer zone nope.test.: no such zone is served`}},
		{"POST", "/zones/broken.test/refresh", 502, []string{`refresh zone broken.test.: 192.0.2.9:53: connection refused`}},
		{"GET", "/zones/sec.test/refresh", 404, []string{`no endpoint GET /zones/sec.test/refresh`}},
		{"DELETE", "/zones", 404, []string{`no endpoint DELETE /zones`}},
		{"GET", "/status", 200, []string{`"version":"v1.2.3"`, `"uptime_seconds":9`, `"listeners":["127.0.0.1:53"]`,
			`"zones":{"total":3,"primary":1,"secondary":2,"not_loaded":1,"expired":0,"failing":1}`, `"policy":{"version":1,"reason":"start"`, `"sets":0,"suspended":0}`}},
		{"POST", "/reload", 200, []string{`{"message":"reloaded: 3 zones"}`}},
		{"POST", "/reload", 422, []string{`{"error":"warden.yaml:3: listen: at least one address is required"}`}},
		{"GET", "/policy", 200, []string{`"version":1`}},
		{"POST", "/policy/reload", 501, []string{`no configuration to reload from`}},
	} {
		status, body := do(t, h, tt.method, tt.path)
		if status != tt.status {
			t.Errorf("%s %s: status %d, want %d: %s", tt.method, tt.path, status, tt.status, body)
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s %s: body %s\nwant it to hold %s", tt.method, tt.path, body, w)
			}
		}
	}
	if got := strings.Join(zones.calls, ", "); got != "refresh sec.test., retransfer sec.test., refresh example.com., retransfer nope.test., refresh broken.test." {
		t.Errorf("the zone manager was asked: %s", got)
	}
}

// A server without some dependency says so for each endpoint that needs it, and still answers
// the rest.
func TestHandlerWithout(t *testing.T) {
	h := Handler(Deps{})
	for _, tt := range []struct{ method, path, want string }{
		{"GET", "/zones", "without a zone manager"},
		{"GET", "/zones/example.com", "without a zone manager"},
		{"POST", "/zones/example.com/refresh", "without a zone manager"},
		{"POST", "/zones/example.com/retransfer", "without a zone manager"},
		{"POST", "/reload", "cannot reload the server; send it SIGHUP"},
		{"GET", "/policy", "without a policy guard"},
		{"GET", "/metrics", "without metrics"},
		{"POST", "/policy/rollback", "without a policy guard"},
		{"POST", "/policy/resume?set=a", "without a policy guard"},
		{"POST", "/policy/reload", "without a policy guard"},
	} {
		status, body := do(t, h, tt.method, tt.path)
		var e Error
		if status != http.StatusNotImplemented || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, tt.want) {
			t.Errorf("%s %s: %d %s, want 501 saying %q", tt.method, tt.path, status, body, tt.want)
		}
	}
	status, body := do(t, h, "GET", "/status")
	var st Status
	if status != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Zones != nil || st.Policy != nil || st.Version == "" || st.Listeners == nil {
		t.Errorf("GET /status: %d %s", status, body)
	}
}

func TestZoneName(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{in: "Example.COM", want: "example.com."},
		{in: "example.com.", want: "example.com."},
		{in: ".", want: "."},
		{in: "", err: "empty"},
		{in: "..", err: "empty label"},
		{in: ".com", err: "empty label"},
		{in: "a b.com", err: `byte 1 is ' '`},
		{in: "a/b", err: `byte 1 is '/'`},
		{in: strings.Repeat("a", 64) + ".com", err: "label of 64 bytes"},
		{in: strings.Repeat("abcdefg.", 32) + "com", err: "at most 253"},
	} {
		got, err := ZoneName(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ZoneName(%q) = %q, %v; want an error saying %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ZoneName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzZoneName: a name from a URL is accepted only in canonical form, and reaches the handler as
// the same name when a client sends it.
func FuzzZoneName(f *testing.F) {
	for _, s := range []string{".", "example.com", "Example.COM.", "..", "a%2Fb", "a b", "xn--bcher-kva.example", "é.example"} {
		f.Add(s)
	}
	mux := http.NewServeMux()
	var seen string
	mux.HandleFunc("GET /zones/{zone}", func(w http.ResponseWriter, r *http.Request) { seen = r.PathValue("zone") })
	f.Fuzz(func(t *testing.T, s string) {
		name, err := ZoneName(s)
		if err != nil {
			return
		}
		if again, err := ZoneName(name); err != nil || again != name || !strings.HasSuffix(name, ".") || strings.ToLower(name) != name {
			t.Fatalf("ZoneName(%q) = %q, not canonical: %q, %v", s, name, again, err)
		}
		seen = ""
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://warden"+ZonePath(name), nil))
		if got, err := ZoneName(seen); err != nil || got != name {
			t.Fatalf("%q sent as %s arrived as %q (%q, %v)", name, ZonePath(name), seen, got, err)
		}
	})
}
