// Package metrics is Warden's Prometheus metrics: the counting of answered queries, done by the
// listeners through Queries (per-worker shards, no lock or allocation on the query path), and the
// collectors that read the rest of the server's state (cache, forwarders, zones, transfers,
// policy) only when scraped. One Registry serves /metrics on the HTTP listener and on the control
// interface alike.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sources are what the metrics read. Any may be nil: its metrics are then left out, except the
// query, cache and zone families, which every server exports (at 0 when it has nothing to count).
type Sources struct {
	Queries  *Queries
	Resolver ResolverState
	Zones    ZoneState
	Policy   PolicyStatus
	// Dnstap is the dnstap writer; nil exports its counters at 0.
	Dnstap DnstapState
	// RateLimit returns the response rate limiter in force; nil exports its counters at 0.
	RateLimit RateLimitState
	// QueryLog is the query log's counts; nil when it is off (its metrics stay at 0).
	QueryLog QueryLogState
	// Injections counts the injected replies detected; nil leaves its metric out (a server
	// that does not resolve).
	Injections InjectionState
}

// Registry holds every collector of a running server.
type Registry struct {
	reg *prometheus.Registry
}

// New registers the collectors of s, with the Go runtime's and the process's.
func New(s Sources) *Registry {
	if s.Queries == nil {
		s.Queries = NewQueries()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newQueriesCollector(s.Queries),
		newResolverCollector(s.Resolver),
		newZoneCollector(s.Zones),
		newDnstapCollector(s.Dnstap),
		newRRLCollector(s.RateLimit),
		newQueryLogCollector(s.QueryLog),
	)
	if s.Policy != nil {
		reg.MustRegister(newPolicyCollector(s.Policy))
	}
	if s.Injections != nil {
		reg.MustRegister(newInjectionCollector(s.Injections))
	}
	return &Registry{reg: reg}
}

// Gatherer is the registry, for tests and other exporters.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the metrics in the Prometheus text format (or OpenMetrics when asked). A
// collector's error is logged in the response, never a panic; a scrape is bounded so that a slow
// collector cannot pile scrapes up.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}
