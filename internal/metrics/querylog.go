package metrics

import "github.com/prometheus/client_golang/prometheus"

// QueryLogState is what the query log counts: rows written and rows it could not keep.
type QueryLogState interface {
	Written() uint64
	Dropped() uint64
}

// queryLogCollector exports warden_query_log_rows_total and warden_query_log_dropped_total, at
// 0 when the log is off, so that an alert on drops has a series from start-up.
type queryLogCollector struct {
	log              QueryLogState
	written, dropped *prometheus.Desc
}

func newQueryLogCollector(l QueryLogState) *queryLogCollector {
	return &queryLogCollector{
		log: l,
		written: prometheus.NewDesc("warden_query_log_rows_total",
			"Answers written to the query log.", nil, nil),
		dropped: prometheus.NewDesc("warden_query_log_dropped_total",
			"Answers the query log did not keep because it was behind (or could not write); the queries themselves were answered.", nil, nil),
	}
}

func (c *queryLogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.written
	ch <- c.dropped
}

func (c *queryLogCollector) Collect(ch chan<- prometheus.Metric) {
	var written, dropped uint64
	if c.log != nil {
		written, dropped = c.log.Written(), c.log.Dropped()
	}
	ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(written))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(dropped))
}
