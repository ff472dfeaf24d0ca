package control

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitReady polls c until the server behind it answers, for at most five seconds.
func waitReady(t *testing.T, c *Client) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); c.Do(http.MethodGet, "/status", nil) != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the control interface at %s never answered", c.Where())
		}
	}
}

func TestClientErrors(t *testing.T) {
	dir := t.TempDir()
	// A port that was free a moment ago: nothing listens on it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	notWarden := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }))
	defer notWarden.Close()
	stale := filepath.Join(dir, "stale.sock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	missing := filepath.Join(dir, "missing.sock")
	for _, tt := range []struct {
		c           *Client
		want        string
		unreachable bool
	}{
		{NewClient(missing), "cannot reach warden at " + missing + ": no such file — is `warden serve` running with control enabled?", true},
		{NewClient(stale), "cannot reach warden at " + stale + ": connection refused — is `warden serve` running", true},
		{mustHTTP(t, closed), "cannot reach warden at " + closed + ": connection refused — is `warden serve` running", true},
		{mustHTTP(t, notWarden.URL), notWarden.URL + ` answered GET /status with "200 OK", not JSON: is this warden's control interface?`, false},
	} {
		err := tt.c.Do(http.MethodGet, "/status", nil)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || IsUnreachable(err) != tt.unreachable {
			t.Errorf("%s: %v (unreachable %v), want %q", tt.c.Where(), err, IsUnreachable(err), tt.want)
		}
	}
	for _, u := range []string{"127.0.0.1:8953", "ftp://127.0.0.1:8953", "http://127.0.0.1", "http://127.0.0.1:8953/api", "http://u:p@127.0.0.1:8953", "http://[::1"} {
		if _, err := NewHTTPClient(u, []byte(testToken)); err == nil || !strings.Contains(err.Error(), "control URL") {
			t.Errorf("NewHTTPClient(%q): %v", u, err)
		}
	}
}

func mustHTTP(t *testing.T, url string) *Client {
	c, err := NewHTTPClient(url, []byte(testToken))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
