package control

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"warden/internal/health"
)

// GET /status carries the health board's problems, and an empty list (not null) when there are
// none or no board, so that a script can rely on the key.
func TestStatusProblems(t *testing.T) {
	get := func(d Deps) (Status, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		Handler(d).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status", nil))
		var st Status
		if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
			t.Fatalf("%v: %s", err, rec.Body.String())
		}
		return st, rec.Body.String()
	}
	if _, body := get(Deps{}); !strings.Contains(body, `"problems":[]`) {
		t.Errorf("no board: %s", body)
	}
	board := health.New(slog.New(slog.DiscardHandler))
	if _, body := get(Deps{Health: board}); !strings.Contains(body, `"problems":[]`) {
		t.Errorf("nothing failing: %s", body)
	}
	board.Watch(health.Upstream, "192.0.2.53:53").Fail(errors.New("upstream: timeout"))
	board.Watch(health.Upstream, "192.0.2.53:53").Fail(errors.New("upstream: timeout"))
	st, _ := get(Deps{Health: board})
	if len(st.Problems) != 1 || st.Problems[0].Kind != "upstream" || st.Problems[0].Subject != "192.0.2.53:53" ||
		st.Problems[0].Failures != 2 || st.Problems[0].Since.IsZero() || st.Problems[0].LastError != "upstream: timeout" {
		t.Errorf("one upstream failing: %+v", st.Problems)
	}
}
