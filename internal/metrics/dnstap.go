package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"warden/internal/dnstap"
)

// DnstapState is what the dnstap metrics read: a *dnstap.Writer.
type DnstapState interface {
	Stats() dnstap.Stats
}

var _ DnstapState = (*dnstap.Writer)(nil)

// dnstapCollector exports the dnstap writer's counters; at 0 when dnstap is off, so that an
// alert on drops has a series from start-up.
type dnstapCollector struct {
	state                                             DnstapState
	queued, sent, dropped, pending, reconn, connected *prometheus.Desc
}

func newDnstapCollector(s DnstapState) *dnstapCollector {
	return &dnstapCollector{
		state: s,
		queued: prometheus.NewDesc("warden_dnstap_queued_total",
			"Exchanges (an answer sent, or a query sent upstream) put in the dnstap queues.", nil, nil),
		sent: prometheus.NewDesc("warden_dnstap_sent_total",
			"dnstap messages written to the collector.", nil, nil),
		dropped: prometheus.NewDesc("warden_dnstap_dropped_total",
			"Exchanges not sent to the dnstap collector: its queue was full (the collector slow or away), or the connection failed under them.", nil, nil),
		pending: prometheus.NewDesc("warden_dnstap_queue_bytes",
			"Bytes waiting in the dnstap queues.", nil, nil),
		reconn: prometheus.NewDesc("warden_dnstap_reconnects_total",
			"Connections to the dnstap collector lost.", nil, nil),
		connected: prometheus.NewDesc("warden_dnstap_connected",
			"1 while a dnstap collector is connected, else 0.", nil, nil),
	}
}

func (c *dnstapCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queued, c.sent, c.dropped, c.pending, c.reconn, c.connected} {
		ch <- d
	}
}

func (c *dnstapCollector) Collect(ch chan<- prometheus.Metric) {
	var s dnstap.Stats
	if c.state != nil {
		s = c.state.Stats()
	}
	connected := 0.0
	if s.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.CounterValue, float64(s.Queued))
	ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(s.Sent))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.Dropped))
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(s.QueuedBytes))
	ch <- prometheus.MustNewConstMetric(c.reconn, prometheus.CounterValue, float64(s.Reconnects))
	ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, connected)
}
