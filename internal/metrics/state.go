package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"warden/internal/control"
	"warden/internal/upstream"
	"warden/internal/zones"
)

// ResolverState is what the resolver metrics read: the resolver in force (a reload may replace
// it). A nil Cache means the server does not resolve.
type ResolverState interface {
	Cache() CacheSize
	Upstreams() []upstream.Upstream
}

// CacheSize is the answer cache as its gauges read it: a *cache.Cache.
type CacheSize interface {
	Len() int
	Bytes() int64
}

// ZoneState is what the zone metrics read: a *zones.Manager.
type ZoneState interface {
	ZoneList() []control.ZoneStatus
	Transfers() map[zones.TransferKey]uint64
}

var _ ZoneState = (*zones.Manager)(nil)

// resolverCollector exports the cache's size and each forwarder's health.
type resolverCollector struct {
	state                               ResolverState
	entries, bytes, rtt, upstreamErrors *prometheus.Desc
}

func newResolverCollector(s ResolverState) *resolverCollector {
	up := []string{"upstream"}
	return &resolverCollector{
		state:   s,
		entries: prometheus.NewDesc("warden_cache_entries", "Answers held in the resolver's cache.", nil, nil),
		bytes:   prometheus.NewDesc("warden_cache_bytes", "Memory the resolver's cache holds, estimated, in bytes.", nil, nil),
		rtt: prometheus.NewDesc("warden_upstream_rtt_seconds",
			"Smoothed round-trip time of a configured forwarder (RFC 6298 gain 1/8; doubled after each timeout); 0 before its first reply.", up, nil),
		upstreamErrors: prometheus.NewDesc("warden_upstream_errors_total",
			"Exchanges with a configured forwarder that failed: timeouts, refused connections, TLS and HTTP errors.", up, nil),
	}
}

func (c *resolverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.entries, c.bytes, c.rtt, c.upstreamErrors} {
		ch <- d
	}
}

func (c *resolverCollector) Collect(ch chan<- prometheus.Metric) {
	var entries, size float64
	var ups []upstream.Upstream
	if c.state != nil {
		if cs := c.state.Cache(); cs != nil {
			entries, size = float64(cs.Len()), float64(cs.Bytes())
		}
		ups = c.state.Upstreams()
	}
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, entries)
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, size)
	// One address may serve several forwarded zones, each with its own counters: one series
	// per address, errors summed, the slowest RTT shown.
	type health struct {
		rtt    float64
		errors uint64
	}
	byAddr := map[string]*health{}
	var order []string
	for _, u := range ups {
		st := u.Stats()
		h := byAddr[u.Addr()]
		if h == nil {
			h = &health{}
			byAddr[u.Addr()] = h
			order = append(order, u.Addr())
		}
		h.rtt = max(h.rtt, st.SRTT.Seconds())
		h.errors += st.Timeouts + st.Errors
	}
	for _, a := range order {
		ch <- prometheus.MustNewConstMetric(c.rtt, prometheus.GaugeValue, byAddr[a].rtt, a)
		ch <- prometheus.MustNewConstMetric(c.upstreamErrors, prometheus.CounterValue, float64(byAddr[a].errors), a)
	}
}

// zoneCollector exports each zone's serial and the transfers in and out.
type zoneCollector struct {
	state             ZoneState
	serial, transfers *prometheus.Desc
}

func newZoneCollector(s ZoneState) *zoneCollector {
	return &zoneCollector{
		state: s,
		serial: prometheus.NewDesc("warden_zone_serial",
			"SOA serial of the version of a zone in force; 0 while none is loaded.", []string{"zone"}, nil),
		transfers: prometheus.NewDesc("warden_transfers_total",
			"Zone transfers, by zone, kind (axfr_in, ixfr_in: as a secondary; axfr_out, ixfr_out: to a secondary) and result (success, failure).",
			[]string{"zone", "kind", "result"}, nil),
	}
}

func (c *zoneCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.serial
	ch <- c.transfers
}

func (c *zoneCollector) Collect(ch chan<- prometheus.Metric) {
	if c.state == nil {
		return
	}
	counts := c.state.Transfers()
	if counts == nil {
		counts = map[zones.TransferKey]uint64{}
	}
	// Every zone served shows its counters from the start, at 0: transfers out for all, in for
	// the zones this server is a secondary of.
	for _, z := range c.state.ZoneList() {
		serial := 0.0
		if z.Loaded {
			serial = float64(z.Serial)
		}
		ch <- prometheus.MustNewConstMetric(c.serial, prometheus.GaugeValue, serial, z.Zone)
		kinds := []string{zones.TransferAXFROut, zones.TransferIXFROut}
		if z.Role != "primary" {
			kinds = append(kinds, zones.TransferAXFRIn, zones.TransferIXFRIn)
		}
		for _, k := range kinds {
			for _, r := range []string{zones.TransferSuccess, zones.TransferFailure} {
				key := zones.TransferKey{Zone: z.Zone, Kind: k, Result: r}
				if _, ok := counts[key]; !ok {
					counts[key] = 0
				}
			}
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.transfers, prometheus.CounterValue, float64(n), k.Zone, k.Kind, k.Result)
	}
}
