package control

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// policyCollector reads the policy's counters at each scrape, so the query path keeps its own
// counters and pays nothing for metrics.
type policyCollector struct {
	guard PolicyGuard

	questions, hits, suspended, ruleSuspended, alarms, version *prometheus.Desc
}

func newPolicyCollector(g PolicyGuard) *policyCollector {
	set := []string{"set"}
	return &policyCollector{
		guard:     g,
		questions: prometheus.NewDesc("warden_policy_questions_total", "Questions the policy in force evaluated since it went in force.", nil, nil),
		hits:      prometheus.NewDesc("warden_policy_set_hits_total", "Questions a rule set matched (applied or in shadow mode) since it went in force.", set, nil),
		suspended: prometheus.NewDesc("warden_policy_set_suspended", "1 while the circuit breaker holds a rule set suspended.", set, nil),
		ruleSuspended: prometheus.NewDesc("warden_policy_rule_suspended",
			"1 while the circuit breaker holds a rule suspended (the rule's trigger as its source wrote it); the rest of its set stays in force.", []string{"set", "rule"}, nil),
		alarms:  prometheus.NewDesc("warden_policy_alarms", "Circuit-breaker alarms raised and not yet cleared by resuming the set.", nil, nil),
		version: prometheus.NewDesc("warden_policy_version", "The version number of the policy in force.", nil, nil),
	}
}

func (c *policyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.questions, c.hits, c.suspended, c.ruleSuspended, c.alarms, c.version} {
		ch <- d
	}
}

func (c *policyCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.guard.Status()
	ch <- prometheus.MustNewConstMetric(c.questions, prometheus.CounterValue, float64(st.Queries))
	ch <- prometheus.MustNewConstMetric(c.alarms, prometheus.GaugeValue, float64(len(st.Alarms)))
	ch <- prometheus.MustNewConstMetric(c.version, prometheus.GaugeValue, float64(st.Version))
	for _, s := range st.Sets {
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(s.Hits), s.Name)
		v := 0.0
		if s.Suspended {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.suspended, prometheus.GaugeValue, v, s.Name)
		for _, r := range s.SuspendedRules {
			ch <- prometheus.MustNewConstMetric(c.ruleSuspended, prometheus.GaugeValue, 1, s.Name, r)
		}
	}
}

// metricsHandler serves the policy's metrics in the Prometheus text format.
func metricsHandler(g PolicyGuard) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newPolicyCollector(g))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
