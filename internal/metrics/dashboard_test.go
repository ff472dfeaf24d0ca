package metrics

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"warden/internal/authority"
	"warden/internal/cache"
	"warden/internal/config"
	"warden/internal/policy"
	"warden/internal/policy/live"
	"warden/internal/query"
	"warden/internal/upstream"
	"warden/internal/zones"
)

// resolverOf is a ResolverState over a cache and forwarders of the test's making.
type resolverOf struct {
	cache *cache.Cache
	ups   []upstream.Upstream
}

func (r resolverOf) Cache() CacheSize               { return r.cache }
func (r resolverOf) Upstreams() []upstream.Upstream { return r.ups }

// fullRegistry is a registry over real parts that have something to show in every family: a
// zone served, a forwarder configured, a rule set in force, a query answered.
func fullRegistry(t *testing.T) *Registry {
	t.Helper()
	cfg := config.Default()
	cfg.Storage = t.TempDir()
	zm := zones.New(slog.New(slog.DiscardHandler), func(*authority.Set) {})
	t.Cleanup(zm.Close)
	if err := zm.Start(cfg); err != nil {
		t.Fatal(err)
	}
	guard := testGuard(t)
	set, err := policy.LoadRPZ("rpz.test.", "test.rpz", []byte("$TTL 60\n@ SOA ns h 1 3600 600 86400 60\nx.example CNAME .\n"), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := guard.Put(live.Proposal{Policy: policy.New(set), Sources: []live.Source{{Name: "rpz.test.", Object: "test"}}}, live.Change{Reason: "test", Force: true}); err != nil {
		t.Fatal(err)
	}
	set.SuspendRules("x.example.")
	q := NewQueries()
	q.Recorder(query.UDP, true).Record([]query.Record{{QType: 1, Outcome: query.Outcome{Source: query.SourceAuthority}}})
	return New(Sources{
		Queries:    q,
		Resolver:   resolverOf{cache: cache.New(cache.Config{}), ups: []upstream.Upstream{upstream.NewUDP("127.0.4.1:53", upstream.Options{})}},
		Zones:      zm,
		Policy:     guard,
		Injections: upstream.NewHoldOn(nil),
	})
}

// The families the issue names are all exported, by a server that has something of each kind.
func TestEveryFamilyExported(t *testing.T) {
	fams := gather(t, fullRegistry(t))
	for _, name := range []string{
		"warden_queries_total", "warden_query_duration_seconds", "warden_cache_hits_total",
		"warden_cache_misses_total", "warden_cache_entries", "warden_cache_bytes",
		"warden_upstream_rtt_seconds", "warden_upstream_errors_total", "warden_policy_hits_total",
		"warden_policy_shadow_hits_total", "warden_policy_set_suspended", "warden_zone_serial",
		"warden_transfers_total", "warden_injections_detected_total", "go_goroutines", "process_cpu_seconds_total",
	} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}

// metricName finds the names in a PromQL expression that name Warden's, the Go runtime's or the
// process's series.
var metricName = regexp.MustCompile(`\b(?:warden|go|process)_[a-z0-9_]+\b`)

// Every metric the example Grafana dashboard reads is one Warden exports: a renamed metric
// cannot leave the dashboard showing nothing.
func TestDashboardNames(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "dist", "grafana", "warden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dist/grafana/warden.json: %v", err)
	}
	exported := map[string]bool{}
	for name, f := range gather(t, fullRegistry(t)) {
		exported[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				exported[name+s] = true
			}
		}
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && (k == "expr" || k == "definition" || k == "query") {
					exprs = append(exprs, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(dash)
	if len(exprs) < 10 {
		t.Fatalf("found %d expressions in the dashboard; the walk misses its panels", len(exprs))
	}
	var used []string
	for _, e := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			if !exported[name] {
				t.Errorf("the dashboard reads %s, which Warden does not export (in %s)", name, e)
			}
			used = append(used, name)
		}
	}
	// The dashboard shows the whole issue's list, not a corner of it.
	for _, name := range []string{"warden_queries_total", "warden_query_duration_seconds_bucket", "warden_cache_hits_total",
		"warden_upstream_rtt_seconds", "warden_policy_hits_total", "warden_zone_serial", "warden_transfers_total"} {
		if !slices.Contains(used, name) {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
	if strings.Contains(string(data), "warden_policy_set_hits_total") {
		t.Error("the dashboard reads the old warden_policy_set_hits_total")
	}
}
