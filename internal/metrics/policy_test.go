package metrics

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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
	New(Sources{Policy: guard}).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`warden_policy_rule_suspended{rule="*.",set="rpz.push."} 1` + "\n",
		`warden_policy_set_suspended{set="rpz.push."} 0` + "\n",
		`warden_policy_hits_total{set="rpz.push."} 0` + "\n",
		`warden_policy_shadow_hits_total{set="rpz.push."} 0` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
	if strings.Contains(body, `rule="malware.example."`) {
		t.Errorf("a rule in force shows as suspended:\n%s", body)
	}
}

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
