package control

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"warden/internal/policy"
	"warden/internal/policy/live"
)

// A rule the breaker suspended shows in the metrics by set and rule, its set as in force.
func TestMetricsNameSuspendedRules(t *testing.T) {
	guard := testGuard(t)
	set, err := policy.LoadRPZ("rpz.push.", "push.rpz", []byte(`$TTL 60
@ SOA ns.rpz.push. h.rpz.push. 1 3600 600 86400 60
* A 198.18.0.66
malware.example CNAME .
`), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := guard.Put(live.Proposal{Policy: policy.New(set), Sources: []live.Source{{Name: "rpz.push.", Object: "push"}}}, live.Change{Reason: "test", Force: true}); err != nil {
		t.Fatal(err)
	}
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
