package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// /api/querylog: 501 while the log is off, 400 naming a wrong parameter, an empty list for an
// empty log, and the token's gate in front of it all.
func TestQueryLogAPI(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	off, err := Handler(Deps{Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	if code, body, _ := get(off, "/api/querylog", ""); code != http.StatusNotImplemented || !strings.Contains(body, "query log is off") {
		t.Errorf("log off: %d %s", code, body)
	}
	const token = "0123456789abcdef-qlog"
	on, err := Handler(Deps{Metrics: metrics, QueryLog: t.TempDir(), Token: []byte(token)})
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := get(on, "/api/querylog", ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d", code)
	}
	for _, bad := range []string{"name=a..b", "client=nowhere", "since=yesterday", "limit=-3"} {
		code, body, _ := get(on, "/api/querylog?"+bad, "Bearer "+token)
		key := bad[:strings.IndexByte(bad, '=')]
		if code != http.StatusBadRequest || !strings.Contains(body, key) {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}
	code, body, _ := get(on, "/api/querylog?name=www.example.test&limit=5", "Bearer "+token)
	var answer struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal([]byte(body), &answer); code != 200 || err != nil || answer.Rows == nil || len(answer.Rows) != 0 {
		t.Errorf("empty log: %d %s", code, body)
	}
}
