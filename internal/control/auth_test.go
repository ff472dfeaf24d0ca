package control

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

const testToken = "s3cret-token-of-32-bytes-or-so.."

func TestTokenGate(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reply(w, 200, Done{Message: "in"}) })
	gate, err := requireToken([]byte(testToken), ok)
	if err != nil {
		t.Fatal(err)
	}
	// Every request is decided by the constant-time comparison, on digests of one length
	// whatever was sent.
	compared := 0
	gate.equal = func(x, y []byte) int {
		compared++
		if len(x) != sha256.Size || len(y) != sha256.Size {
			t.Errorf("compared %d bytes with %d", len(x), len(y))
		}
		return gateEqual(x, y)
	}
	for i, tt := range []struct {
		header string
		status int
	}{
		{"", 401},
		{"Bearer", 401},
		{"Bearer ", 401},
		{"Basic " + testToken, 401},
		{"Bearer " + testToken[:31], 401},
		{"Bearer " + testToken + "x", 401},
		{"Bearer " + strings.ToUpper(testToken), 401},
		{"Bearer " + testToken, 200},
		{"bearer  " + testToken + " ", 200},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://warden/status", nil)
		if tt.header != "" {
			req.Header.Set("Authorization", tt.header)
		}
		gate.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("Authorization %q: status %d, want %d", tt.header, rec.Code, tt.status)
		}
		if tt.status == 401 && (rec.Body.String() != `{"error":"unauthorized"}`+"\n" || rec.Header().Get("WWW-Authenticate") == "") {
			t.Errorf("Authorization %q: refusal %q says more than no", tt.header, rec.Body.String())
		}
		if compared != i+1 {
			t.Fatalf("Authorization %q: decided without the constant-time comparison", tt.header)
		}
	}
	for _, short := range []string{"", "fifteen-bytes.."} {
		if _, err := requireToken([]byte(short), ok); err == nil || !strings.Contains(err.Error(), "want at least 16") {
			t.Errorf("token %q: %v", short, err)
		}
	}
}

// gateEqual is the comparison the gate uses by default.
var gateEqual = func() func(x, y []byte) int {
	g, _ := requireToken([]byte(testToken), nil)
	return g.equal
}()

// serveBoth starts the control interface over h on a Unix socket and on a TCP port behind
// testToken, and returns a client for each.
func serveBoth(t *testing.T, h http.Handler) (socket, tcp *Client) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	path := filepath.Join(t.TempDir(), "c.sock")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 2)
	go func() { served <- Serve(ctx, path, h, log) }()
	go func() { served <- ServeTCP(ctx, l, []byte(testToken), h, log) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-served; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	})
	socket = NewClient(path)
	waitReady(t, socket)
	tcp, err = NewHTTPClient("http://"+l.Addr().String(), []byte(testToken))
	if err != nil {
		t.Fatal(err)
	}
	return socket, tcp
}

func TestServeTCP(t *testing.T) {
	h := Handler(Deps{Zones: newTestZones(), Version: "v9"})
	_, c := serveBoth(t, h)
	var st Status
	if err := c.Do(http.MethodGet, "/status", &st); err != nil || st.Version != "v9" {
		t.Fatalf("GET /status with the token: %+v, %v", st, err)
	}
	var d Done
	if err := c.Do(http.MethodPost, "/zones/sec.test/refresh", &d); err != nil || d.Zone == nil || d.Zone.Serial != 8 {
		t.Fatalf("refresh with the token: %+v, %v", d, err)
	}
	for _, token := range []string{"", "not-the-token-but-just-as-long!!"} {
		bad, err := NewHTTPClient(c.Where(), []byte(token))
		if err != nil {
			t.Fatal(err)
		}
		var se *StatusError
		if err := bad.Do(http.MethodGet, "/status", &st); !errors.As(err, &se) || se.Status != 401 || err.Error() != "the control token was refused" {
			t.Errorf("token %q: %v", token, err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ServeTCP(context.Background(), l, []byte("short"), h, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "want at least 16") {
		t.Fatalf("ServeTCP with a short token: %v", err)
	}
}

// FuzzTokenGate: whatever the Authorization header holds, only the token gets in.
func FuzzTokenGate(f *testing.F) {
	for _, s := range []string{"", "Bearer " + testToken, "bearer " + testToken, "Bearer\t" + testToken, "Bearer " + testToken + "\x00", "BEARER  x"} {
		f.Add(s)
	}
	gate, err := requireToken([]byte(testToken), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "http://warden/status", nil)
		req.Header["Authorization"] = []string{header}
		rec := httptest.NewRecorder()
		gate.ServeHTTP(rec, req)
		in := rec.Code == 299
		if in != (strings.TrimSpace(header[min(7, len(header)):]) == testToken && strings.EqualFold(header[:min(7, len(header))], "bearer ")) {
			t.Fatalf("Authorization %q: let in %v", header, in)
		}
	})
}
