package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"warden/internal/rrl"
)

// RateLimitState returns the response rate limiter in force, nil while limiting is off. A reload
// may replace the limiter; the new one carries the counts on (rrl.Limiter.ContinueFrom).
type RateLimitState func() *rrl.Limiter

// rrlCollector exports the rate limiter's counters, at 0 while limiting is off, so that an alert
// on dropped answers has a series from start-up.
type rrlCollector struct {
	state                                      RateLimitState
	dropped, slipped, would, entries, capacity *prometheus.Desc
}

func newRRLCollector(s RateLimitState) *rrlCollector {
	return &rrlCollector{
		state: s,
		dropped: prometheus.NewDesc("warden_rrl_dropped_total",
			"Responses over the rate limit not sent.", nil, nil),
		slipped: prometheus.NewDesc("warden_rrl_slipped_total",
			"Responses over the rate limit sent empty with TC=1 (slip), so that a real client retries over TCP.", nil, nil),
		would: prometheus.NewDesc("warden_rrl_would_limit_total",
			"Responses over the rate limit in log-only mode, sent all the same.", nil, nil),
		entries: prometheus.NewDesc("warden_rrl_entries",
			"Keys (client prefix, answer) held in the rate limiter's table.", nil, nil),
		capacity: prometheus.NewDesc("warden_rrl_capacity",
			"Size of the rate limiter's table; entries near it mean keys evict one another.", nil, nil),
	}
}

func (c *rrlCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.dropped, c.slipped, c.would, c.entries, c.capacity} {
		ch <- d
	}
}

func (c *rrlCollector) Collect(ch chan<- prometheus.Metric) {
	var s rrl.Stats
	if c.state != nil {
		if l := c.state(); l != nil {
			s = l.Stats()
		}
	}
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.Dropped))
	ch <- prometheus.MustNewConstMetric(c.slipped, prometheus.CounterValue, float64(s.Slipped))
	ch <- prometheus.MustNewConstMetric(c.would, prometheus.CounterValue, float64(s.WouldLimit))
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(s.Entries))
	ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(s.Capacity))
}
