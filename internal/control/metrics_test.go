package control

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"warden/internal/authority"
	"warden/internal/policy"
	"warden/internal/server"
	"warden/internal/wire"
)

// A rule the breaker suspended shows in the metrics by set and rule, its set as in force.
func TestMetricsNameSuspendedRules(t *testing.T) {
	empty, _ := authority.New(nil)
	pipe := server.NewPipeline(wire.Limits{}, &server.Snapshot{Authority: empty})
	guard := server.NewPolicyGuard(pipe, policy.BreakerConfig{}, 4, slog.New(slog.DiscardHandler))
	set, err := policy.LoadRPZ("rpz.push.", "push.rpz", []byte(`$TTL 60
@ SOA ns.rpz.push. h.rpz.push. 1 3600 600 86400 60
* A 198.18.0.66
malware.example CNAME .
`), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	guard.Install(policy.New(set), "test")
	set.SuspendRules("*.")
	rec := httptest.NewRecorder()
	metricsHandler(guard).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`warden_policy_rule_suspended{rule="*.",set="rpz.push."} 1` + "\n",
		`warden_policy_set_suspended{set="rpz.push."} 0` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
	if strings.Contains(body, `rule="malware.example."`) {
		t.Errorf("a rule in force shows as suspended:\n%s", body)
	}
}
