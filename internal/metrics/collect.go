package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"warden/internal/query"
)

// queriesCollector turns the summed shards into warden_queries_total,
// warden_query_duration_seconds, warden_cache_hits_total and warden_cache_misses_total.
type queriesCollector struct {
	q                               *Queries
	queries, duration, hits, misses *prometheus.Desc
}

func newQueriesCollector(q *Queries) *queriesCollector {
	return &queriesCollector{
		q: q,
		queries: prometheus.NewDesc("warden_queries_total",
			"Queries answered, by response code, query type (common types by name, the rest as other), transport and the stage that answered.",
			[]string{"rcode", "qtype", "transport", "source"}, nil),
		duration: prometheus.NewDesc("warden_query_duration_seconds",
			"Time from reading a query (for UDP, the batch it came in) to handing its answer to the kernel.", nil, nil),
		hits: prometheus.NewDesc("warden_cache_hits_total",
			"Recursive queries answered from the resolver's cache (before any response policy).", nil, nil),
		misses: prometheus.NewDesc("warden_cache_misses_total",
			"Recursive queries the resolver's cache could not answer, answered once resolved or forwarded.", nil, nil),
	}
}

func (c *queriesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.queries
	ch <- c.duration
	ch <- c.hits
	ch <- c.misses
}

func (c *queriesCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.q.totals()
	for tr := range t.queries {
		if !t.transports[tr] {
			continue
		}
		trName := query.Transport(tr).String()
		for rc := range t.queries[tr] {
			for qt := range t.queries[tr][rc] {
				for src, n := range t.queries[tr][rc][qt] {
					// Every transport listened on shows each source from start-up, at
					// NOERROR for A, so that a per-source rate or an absent() alert has a series
					// to read before the first answer; other label sets appear once counted.
					if n == 0 && !(rc == 0 && qt == 0) {
						continue
					}
					ch <- prometheus.MustNewConstMetric(c.queries, prometheus.CounterValue, float64(n),
						rcodeNames[rc], qtypeName(qt), trName, sourceNames[src])
				}
			}
		}
	}
	buckets := make(map[float64]uint64, len(durationBounds))
	var cum, count uint64
	for i, b := range durationBounds {
		cum += t.durations[i]
		buckets[float64(b)/1e9] = cum
	}
	count = cum + t.durations[numDurationBuckets-1]
	ch <- prometheus.MustNewConstHistogram(c.duration, count, float64(t.durationSum)/1e9, buckets)
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(t.cacheHits))
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(t.cacheMisses))
}
