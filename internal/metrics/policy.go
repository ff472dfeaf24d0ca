package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"warden/internal/policy/live"
)

// PolicyStatus is what the policy metrics read of the policy in force: a *live.Guard.
type PolicyStatus interface {
	Status() live.Status
}

var _ PolicyStatus = (*live.Guard)(nil)

// policyCollector reads the policy's counters at each scrape, so the query path keeps its own
// counters and pays nothing for metrics.
type policyCollector struct {
	guard PolicyStatus

	questions, hits, shadowHits, suspended, ruleSuspended, alarms, version *prometheus.Desc
}

func newPolicyCollector(g PolicyStatus) *policyCollector {
	set := []string{"set"}
	return &policyCollector{
		guard:     g,
		questions: prometheus.NewDesc("warden_policy_questions_total", "Questions the policy in force evaluated since it went in force.", nil, nil),
		hits:      prometheus.NewDesc("warden_policy_hits_total", "Questions a rule set matched (applied or in shadow mode) since it went in force.", set, nil),
		shadowHits: prometheus.NewDesc("warden_policy_shadow_hits_total",
			"Questions a rule set in shadow mode matched and only counted, since it went in force; 0 for a set that applies its rules.", set, nil),
		suspended: prometheus.NewDesc("warden_policy_set_suspended", "1 while the circuit breaker holds a rule set suspended.", set, nil),
		ruleSuspended: prometheus.NewDesc("warden_policy_rule_suspended",
			"1 while the circuit breaker holds a rule suspended (the rule's trigger as its source wrote it); the rest of its set stays in force.", []string{"set", "rule"}, nil),
		alarms:  prometheus.NewDesc("warden_policy_alarms", "Circuit-breaker alarms raised and not yet cleared by resuming the set.", nil, nil),
		version: prometheus.NewDesc("warden_policy_version", "The version number of the policy in force.", nil, nil),
	}
}

func (c *policyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.questions, c.hits, c.shadowHits, c.suspended, c.ruleSuspended, c.alarms, c.version} {
		ch <- d
	}
}

func (c *policyCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.guard.Status()
	ch <- prometheus.MustNewConstMetric(c.questions, prometheus.CounterValue, float64(st.Queries))
	ch <- prometheus.MustNewConstMetric(c.alarms, prometheus.GaugeValue, float64(len(st.Alarms)))
	ch <- prometheus.MustNewConstMetric(c.version, prometheus.GaugeValue, float64(st.Version))
	seen := make(map[string]bool, len(st.Sets))
	for _, s := range st.Sets {
		if seen[s.Name] {
			continue // two sets of one name would make the scrape fail as a whole
		}
		seen[s.Name] = true
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(s.Hits), s.Name)
		shadow := 0.0
		if s.Shadow {
			shadow = float64(s.Hits)
		}
		ch <- prometheus.MustNewConstMetric(c.shadowHits, prometheus.CounterValue, shadow, s.Name)
		ch <- prometheus.MustNewConstMetric(c.suspended, prometheus.GaugeValue, flag(s.Suspended), s.Name)
		for _, r := range s.SuspendedRules {
			ch <- prometheus.MustNewConstMetric(c.ruleSuspended, prometheus.GaugeValue, 1, s.Name, r)
		}
	}
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
