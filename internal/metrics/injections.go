package metrics

import "github.com/prometheus/client_golang/prometheus"

// InjectionState is what the injection counter reads: the resolver's and forwarders' Hold-On
// (*upstream.HoldOn), which lives as long as the server.
type InjectionState interface {
	Total() uint64
}

// injectionCollector exports the injected replies detected. The count has no labels: the names
// come from the network and would make the series unbounded; `warden ctl status` and the log say
// which servers and names.
type injectionCollector struct {
	state InjectionState
	total *prometheus.Desc
}

func newInjectionCollector(s InjectionState) *injectionCollector {
	return &injectionCollector{
		state: s,
		total: prometheus.NewDesc("warden_injections_detected_total",
			"Plain UDP exchanges that drew two different replies to one query (on-path injection), by the resolver and the forwarders together.", nil, nil),
	}
}

func (c *injectionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.total }

func (c *injectionCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.CounterValue, float64(c.state.Total()))
}
