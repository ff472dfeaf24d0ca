package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"warden/internal/metrics"
	"warden/internal/policy"
	"warden/internal/policy/live"
	"warden/internal/query"
	"warden/internal/querylog"
)

// policyHolder is where a guard puts the policy in force (on a server, the pipeline).
type policyHolder struct{ p atomic.Pointer[policy.Policy] }

func (h *policyHolder) Policy() *policy.Policy     { return h.p.Load() }
func (h *policyHolder) SetPolicy(p *policy.Policy) { h.p.Store(p) }

// guardWith returns a guard with one rule set in force, and the set.
func guardWith(t *testing.T) (*live.Guard, *policy.RuleSet) {
	t.Helper()
	g := live.NewGuard(&policyHolder{}, live.Config{Keep: 4}, slog.New(slog.DiscardHandler))
	set, err := policy.LoadRPZ("rpz.test.", "test.rpz", []byte("$TTL 60\n@ SOA ns h 1 3600 600 86400 60\nads.example CNAME .\n"), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Put(live.Proposal{Policy: policy.New(set), Sources: []live.Source{{Name: "rpz.test.", Object: "test"}}}, live.Change{Reason: "test", Force: true}); err != nil {
		t.Fatal(err)
	}
	return g, set
}

const testToken = "0123456789abcdef-dash"

func dashHandler(t *testing.T, d Deps) http.Handler {
	t.Helper()
	d.Token = []byte(testToken)
	h, err := Handler(d)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func do(h http.Handler, method, target string) (int, string) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, target, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// /api/dashboard reads the registry /metrics serves: every Warden series /metrics has is in
// the answer with the same value, histograms as their _count and _sum.
func TestDashboardAPIMatchesMetrics(t *testing.T) {
	guard, _ := guardWith(t)
	q := metrics.NewQueries()
	q.Recorder(query.UDP, true).Record([]query.Record{
		{QType: dns.TypeA, Outcome: query.Outcome{Source: query.SourceAuthority}},
		{QType: dns.TypeAAAA, Rcode: dns.RcodeNameError, Outcome: query.Outcome{Source: query.SourcePolicy}},
		{QType: dns.TypeA, Outcome: query.Outcome{Source: query.SourceCache, Cache: query.CacheHit}},
	})
	reg := metrics.New(metrics.Sources{Queries: q, Policy: guard})
	h := dashHandler(t, Deps{Metrics: reg.Handler(), Gatherer: reg.Gatherer(), Policy: guard})

	code, body := do(h, http.MethodGet, "/api/dashboard")
	var ans dashboardAnswer
	if err := json.Unmarshal([]byte(body), &ans); code != http.StatusOK || err != nil {
		t.Fatalf("/api/dashboard: %d %v\n%s", code, err, body)
	}
	if ans.QueryLog != nil {
		t.Error("top lists without a query log")
	}
	_, text := do(h, http.MethodGet, "/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for name, f := range fams {
		if !strings.HasPrefix(name, "warden_") {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			want := map[string]float64{}
			switch {
			case m.Counter != nil:
				want[name] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				want[name] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				want[name+"_count"] = float64(m.GetHistogram().GetSampleCount())
				want[name+"_sum"] = m.GetHistogram().GetSampleSum()
			}
			for n, v := range want {
				got, ok := seriesValue(ans.Series[n], labels)
				if !ok || got != v {
					t.Errorf("%s%v: /metrics %v, /api/dashboard %v (found %v)", n, labels, v, got, ok)
				}
				compared++
			}
		}
	}
	if compared < 20 {
		t.Fatalf("only %d series compared", compared)
	}
	if v, _ := seriesValue(ans.Series["warden_queries_total"], map[string]string{"source": "policy", "rcode": "NXDOMAIN", "qtype": "AAAA", "transport": "udp"}); v != 1 {
		t.Errorf("the policy's NXDOMAIN is not there: %v", ans.Series["warden_queries_total"])
	}
	for name := range ans.Series {
		if !strings.HasPrefix(name, "warden_") {
			t.Errorf("%s is in the answer: only Warden's series are", name)
		}
	}
}

func seriesValue(list []series, labels map[string]string) (float64, bool) {
	for _, s := range list {
		if len(s.Labels) != len(labels) {
			continue
		}
		same := true
		for k, v := range labels {
			same = same && s.Labels[k] == v
		}
		if same {
			return s.Value, true
		}
	}
	return 0, false
}

// With the query log on, /api/dashboard carries its top lists, counted from the rows it wrote.
func TestDashboardTopLists(t *testing.T) {
	ql, err := querylog.Open(querylog.Config{Dir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ql.Close()
	rec := ql.Recorder(query.UDP, true)
	now := time.Now()
	client := netip.MustParseAddrPort("192.0.2.7:5300")
	for i, name := range []string{"www.example.", "www.example.", "ads.example.", "www.example."} {
		m := dns.NewMsg(name, dns.TypeA)
		if err := m.Pack(); err != nil {
			t.Fatal(err)
		}
		src := query.SourceAuthority
		if name == "ads.example." {
			src = query.SourcePolicy
		}
		rec.Record([]query.Record{{Received: now, Sent: now.Add(time.Duration(i) * time.Microsecond), Client: client,
			QType: dns.TypeA, Outcome: query.Outcome{Source: src}, Query: m.Data, QName: m.Data[12 : 12+len(name)+1]}})
	}
	deadline := time.Now().Add(10 * time.Second)
	for ql.Written() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the log wrote %d rows of 4 in 10 s", ql.Written())
		}
		time.Sleep(20 * time.Millisecond)
	}
	reg := metrics.New(metrics.Sources{QueryLog: ql})
	h := dashHandler(t, Deps{Metrics: reg.Handler(), Gatherer: reg.Gatherer(),
		Top: func(n int) querylog.TopLists { return ql.Top(n, time.Now()) }})
	_, body := do(h, http.MethodGet, "/api/dashboard")
	var ans dashboardAnswer
	if err := json.Unmarshal([]byte(body), &ans); err != nil || ans.QueryLog == nil {
		t.Fatalf("%v: %s", err, body)
	}
	top := ans.QueryLog
	if len(top.Names) != 2 || top.Names[0] != (querylog.Counted{Key: "www.example.", Count: 3}) ||
		len(top.Clients) != 1 || top.Clients[0] != (querylog.Counted{Key: "192.0.2.7", Count: 4}) ||
		len(top.Blocked) != 1 || top.Blocked[0].Key != "ads.example." || top.Window != 3600 || top.Sample != 1 {
		t.Errorf("top lists: %+v", top)
	}
}

// POST /api/policy/resume is the control interface's resume: it puts a suspended set back,
// says when there was nothing to do, and names what is wrong with the request.
func TestResumeAPI(t *testing.T) {
	guard, set := guardWith(t)
	reg := metrics.New(metrics.Sources{Policy: guard})
	h := dashHandler(t, Deps{Metrics: reg.Handler(), Gatherer: reg.Gatherer(), Policy: guard})
	set.SetSuspended(true)
	if code, body := do(h, http.MethodPost, "/api/policy/resume?set=rpz.test."); code != 200 || !strings.Contains(body, `"resumed":true`) || set.Suspended() {
		t.Errorf("resume: %d %s, suspended %v", code, body, set.Suspended())
	}
	if code, body := do(h, http.MethodPost, "/api/policy/resume?set=rpz.test."); code != 200 || !strings.Contains(body, "nothing to resume") {
		t.Errorf("resume again: %d %s", code, body)
	}
	for target, want := range map[string]int{
		"/api/policy/resume?set=rpz.none.": http.StatusNotFound,
		"/api/policy/resume":               http.StatusBadRequest,
	} {
		if code, body := do(h, http.MethodPost, target); code != want || !strings.Contains(body, `"error":"set: `) {
			t.Errorf("POST %s: %d %s, want %d naming set", target, code, body, want)
		}
	}
	if code, _ := do(h, http.MethodGet, "/api/policy/resume?set=rpz.test."); code != http.StatusNotFound {
		t.Errorf("GET resume: %d", code)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/policy/resume?set=rpz.test.", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("resume without the token: %d", rec.Code)
	}
	off := dashHandler(t, Deps{Metrics: reg.Handler()})
	for _, p := range []string{"/api/policy/resume?set=x"} {
		if code, _ := do(off, http.MethodPost, p); code != http.StatusNotImplemented {
			t.Errorf("POST %s without a policy: %d", p, code)
		}
	}
	if code, _ := do(off, http.MethodGet, "/api/dashboard"); code != http.StatusNotImplemented {
		t.Errorf("/api/dashboard without a registry: %d", code)
	}
}

// The page is whole in one answer: its script and style inline and allowed by their digests
// alone, nothing loaded from anywhere, and the token kept out of Referer headers.
func TestDashboardPage(t *testing.T) {
	reg := metrics.New(metrics.Sources{})
	h := dashHandler(t, Deps{Metrics: reg.Handler(), Gatherer: reg.Gatherer()})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?token="+testToken, nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("/: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	page, csp := rec.Body.String(), rec.Header().Get("Content-Security-Policy")
	for _, tag := range []string{"script", "style"} {
		m := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllStringSubmatch(page, -1)
		if len(m) != 1 || len(m[0][1]) < 100 {
			t.Fatalf("want one inline %s, found %d", tag, len(m))
		}
		sum := sha256.Sum256([]byte(m[0][1]))
		if !strings.Contains(csp, tag+"-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") {
			t.Errorf("the %s's digest is not in the policy %q", tag, csp)
		}
	}
	for _, want := range []string{"default-src 'none'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("policy %q lacks %s", csp, want)
		}
	}
	if rec.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Error("the token may leave in a Referer")
	}
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(?:[a-z]+:)?//|https?://|@import`).FindString(page); m != "" {
		t.Errorf("the page refers elsewhere: %q", m)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("/ without the token: %d", rec.Code)
	}
}
