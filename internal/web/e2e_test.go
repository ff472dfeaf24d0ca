package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/net/html"

	"warden/internal/dnstest"
	"warden/internal/metrics"
	"warden/internal/query"
	"warden/internal/web"
)

// The dashboard end to end: the built warden with the HTTP listener behind a token, a zone, a
// forwarder (knotd), two RPZ sets and the query log, under a bounded load of queries; headless
// Chromium loads the page through a recording proxy while the load goes on. Every figure the
// page shows from a metric lies between /metrics scraped just before and just after the page
// ran (a fixed figure, as a zone's serial, equals it); the top lists name what the load asked;
// the rule set the circuit breaker suspended is resumed by the page's button; the page's
// query-log search finds rows; every API call the page made carried the token, and a request
// without it gets 401. The page is saved as a screenshot (WARDEN_DASHBOARD_PNG names a copy to
// keep: bench/dashboard-png.sh uses that for docs/dashboard.png).

const dashZone = `$TTL 300
@ SOA ns h 2026120701 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
www A 192.0.2.80
mail A 192.0.2.25
`

const fwdZone = `$TTL 3600
@ SOA ns h 7 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
a A 198.51.100.1
b A 198.51.100.2
c A 198.51.100.3
`

// secZone is the zone warden serves as a secondary of knotd.
const secZone = `$TTL 300
@ SOA ns h 42 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
`

const blockRPZ = `$TTL 60
@ SOA ns.rpz.block. h.rpz.block. 1 3600 600 86400 60
@ NS ns.rpz.block.
ads1.example.rpz.block. CNAME .
ads2.example.rpz.block. CNAME .
`

// The set that a burst of names under spike.example trips.
const tripRPZ = `$TTL 60
@ SOA ns.rpz.trip. h.rpz.trip. 1 3600 600 86400 60
@ NS ns.rpz.trip.
*.spike.example.rpz.trip. CNAME .
`

// normalNames are the load's questions, repeated to weigh them: www first, then mail; one
// question in seven is blocked by rpz.block., below the breaker's floor.
var normalNames = []string{
	"www.dash.test.", "www.dash.test.", "www.dash.test.", "www.dash.test.", "www.dash.test.",
	"mail.dash.test.", "mail.dash.test.", "nothing.dash.test.",
	"a.fwd.test.", "b.fwd.test.", "c.fwd.test.", "a.fwd.test.",
	"ads1.example.", "ads2.example.",
}

var loadClients = []string{"127.0.31.21", "127.0.31.22", "127.0.31.23"}

func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("builds warden, runs knotd and chromium")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it")
		}
		t.Skip("no chromium (Debian package chromium); CI installs it")
	}
	dir := t.TempDir()
	bin := dnstest.BuildWarden(t, dir)
	writeFile(t, filepath.Join(dir, "fwd.test.zone"), fwdZone)
	writeFile(t, filepath.Join(dir, "sec.test.zone"), secZone)
	// knotd is both the forwarder of fwd.test. and the primary warden transfers sec.test. from.
	upstream := dnstest.StartKnotAXFR(t, []dnstest.Zone{
		{Origin: "fwd.test.", File: filepath.Join(dir, "fwd.test.zone")},
		{Origin: "sec.test.", File: filepath.Join(dir, "sec.test.zone")},
	})
	writeFile(t, filepath.Join(dir, "dash.test.zone"), dashZone)
	writeFile(t, filepath.Join(dir, "block.rpz"), blockRPZ)
	writeFile(t, filepath.Join(dir, "trip.rpz"), tripRPZ)
	const token = "dashboard-token-0123456789"
	writeFile(t, filepath.Join(dir, "token"), token+"\n")
	if err := os.Chmod(filepath.Join(dir, "token"), 0o600); err != nil {
		t.Fatal(err)
	}
	dnsAddr := freeAddr(t, "udp")
	httpAddr := freeAddr(t, "tcp")
	cfgPath := filepath.Join(dir, "warden.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`listen: [%s]
zones:
  - origin: dash.test.
    file: dash.test.zone
  - origin: sec.test.
    primaries: [%q]
storage: %s
control:
  socket: ""
http:
  listen: [%s]
  token_file: token
query_log:
  dir: qlog
resolver:
  forward: [{zone: "fwd.test.", upstreams: [%q]}]
policy:
  rpz:
    - {origin: rpz.block., file: block.rpz}
    - {origin: rpz.trip., file: trip.rpz}
  safety:
    breaker: {window: 1s, min_queries: 50}
`, dnsAddr, upstream, filepath.Join(dir, "storage"), httpAddr, upstream))
	srv := startWarden(t, bin, cfgPath, dnsAddr)
	base := "http://" + httpAddr
	waitUntil(t, 10*time.Second, "the HTTP listener", func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warden's log:\n%s", srv.logText())
		}
	})

	waitUntil(t, 10*time.Second, "sec.test. transferred", func() bool {
		return strings.Contains(scrape(t, base), `warden_zone_serial{zone="sec.test."} 42`)
	})

	// Without the token: 401 for the page and the API, /metrics open.
	for _, p := range []string{"/", "/api/dashboard", "/api/querylog"} {
		if code := httpGet(t, base+p, "").code; code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", p, code)
		}
	}
	if r := httpPost(t, base+"/api/policy/resume?set=rpz.trip.", ""); r.code != http.StatusUnauthorized {
		t.Errorf("POST /api/policy/resume without the token: %d, want 401", r.code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Traffic as usual, then a burst under spike.example until the breaker trips.
	warm := startLoad(ctx, dnsAddr, normalNames, 1500*time.Millisecond)
	warm.wait()
	var spikeNames []string
	for i := range 10 {
		spikeNames = append(spikeNames, fmt.Sprintf("s%d.spike.example.", i))
	}
	spike := startLoad(ctx, dnsAddr, spikeNames, 15*time.Second)
	waitUntil(t, 15*time.Second, "the breaker to trip on rpz.trip.", func() bool {
		// The whole set or its one rule, as the breaker decides: a Resume undoes either.
		m := scrape(t, base)
		return strings.Contains(m, `warden_policy_set_suspended{set="rpz.trip."} 1`) ||
			strings.Contains(m, `warden_policy_rule_suspended{rule="*.spike.example.",set="rpz.trip."} 1`)
	})
	spike.stop()
	load := startLoad(ctx, dnsAddr, normalNames, 90*time.Second)
	defer load.stop()
	// The top lists come from the rows the log has written: wait until a blocked name is there.
	waitUntil(t, 10*time.Second, "the query log's first rows", func() bool {
		return strings.Contains(httpGet(t, base+"/api/dashboard", token).body, `"ads1.example."`)
	})

	proxy := newRecordingProxy(t, base)
	page := proxy.URL + "/?token=" + url.QueryEscape(token) + "#resume=rpz.trip.&search=www.dash.test."
	// The screenshot first, while rpz.trip. is suspended and its Resume button shows.
	png := filepath.Join(dir, "dashboard.png")
	runChromium(t, chromium, "--screenshot="+png, "--window-size=1400,1800", "--hide-scrollbars", "--virtual-time-budget=5000",
		proxy.URL+"/?token="+url.QueryEscape(token)+"#search=www.dash.test.")
	shot, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) || len(shot) < 10_000 {
		t.Fatalf("screenshot: %d bytes, %v", len(shot), err)
	}
	if keep := os.Getenv("WARDEN_DASHBOARD_PNG"); keep != "" {
		if err := os.WriteFile(keep, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot written to %s", keep)
	}
	before := parseMetrics(t, scrape(t, base))
	dom := runChromium(t, chromium, "--dump-dom", "--virtual-time-budget=7000", page)
	after := parseMetrics(t, scrape(t, base))
	if load.sent.Load() == 0 {
		t.Fatal("no load while the page ran")
	}
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}

	body := find(doc, func(n *html.Node) bool { return n.Data == "body" })
	if len(body) != 1 || attr(body[0], "data-error") != "" {
		t.Fatalf("the page reports an error: %q\n%s", attr(body[0], "data-error"), dom)
	}
	if n, _ := strconv.Atoi(attr(body[0], "data-updates")); n < 2 {
		t.Errorf("the page refreshed %d times, want at least 2", n)
	}

	// Every figure against /metrics.
	figures := find(doc, func(n *html.Node) bool { return attr(n, "data-metric") != "" })
	shown := map[string]float64{}
	for _, n := range figures {
		sel, raw := attr(n, "data-metric"), attr(n, "data-value")
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			t.Errorf("%s: data-value %q is not a number", sel, raw)
			continue
		}
		name, labels, err := parseSelector(sel)
		if err != nil {
			t.Errorf("data-metric %q: %v", sel, err)
			continue
		}
		lo, hi := sumOf(before, name, labels), sumOf(after, name, labels)
		if lo > hi {
			lo, hi = hi, lo
		}
		if v < lo || v > hi {
			t.Errorf("%s shows %v; /metrics had %v before and %v after", sel, v, sumOf(before, name, labels), sumOf(after, name, labels))
		}
		shown[sel] = v
	}
	for sel, want := range map[string]float64{
		`zone_serial{zone="dash.test."}`:                     2026120701,
		`zone_serial{zone="sec.test."}`:                      42,
		`injections_detected_total`:                          -1,
		`queries_total`:                                      -1,
		`cache_hits_total`:                                   -1,
		`cache_misses_total`:                                 -1,
		`queries_total{rcode="NXDOMAIN"}`:                    -1,
		`queries_total{source="policy"}`:                     -1,
		`queries_total{source="authority"}`:                  -1,
		`policy_hits_total{set="rpz.block."}`:                -1,
		`policy_shadow_hits_total{set="rpz.block."}`:         0,
		`policy_set_suspended{set="rpz.trip."}`:              0,
		`upstream_rtt_seconds{upstream="` + upstream + `"}`:  -1,
		`upstream_errors_total{upstream="` + upstream + `"}`: 0,
	} {
		v, ok := shown[sel]
		switch {
		case !ok:
			t.Errorf("the page shows no %s", sel)
		case want >= 0 && v != want:
			t.Errorf("%s: the page shows %v, want %v", sel, v, want)
		}
	}
	if shown["queries_total"] < 100 || shown["cache_hits_total"] == 0 || shown[`policy_hits_total{set="rpz.block."}`] == 0 {
		t.Errorf("the load does not show: %v", shown)
	}
	transfers := 0.0
	for sel, v := range shown {
		if strings.HasPrefix(sel, "transfers_total{") && strings.Contains(sel, `result="success"`) && strings.Contains(sel, `zone="sec.test."`) {
			transfers += v
		}
	}
	if transfers < 1 {
		t.Errorf("the page shows no transfer of sec.test.: %v", shown)
	}
	t.Logf("%d figures checked against /metrics; queries_total %v", len(figures), shown["queries_total"])

	// The top lists: www is asked most, the load's clients ask, and only blocked names are in
	// the blocked list.
	top := func(kind string) []string {
		var keys []string
		for _, ol := range find(doc, func(n *html.Node) bool { return n.Data == "ol" && attr(n, "data-top") == kind }) {
			for _, li := range find(ol, func(n *html.Node) bool { return n.Data == "li" }) {
				keys = append(keys, attr(li, "data-key"))
			}
		}
		return keys
	}
	if names := top("names"); len(names) == 0 || names[0] != "www.dash.test." {
		t.Errorf("top names %q, want www.dash.test. first", names)
	}
	// (The few questions that saw warden start came from 127.0.0.1: last, if there at all.)
	if clients := top("clients"); len(clients) < len(loadClients) || !slices.Equal(slices.Sorted(slices.Values(clients[:len(loadClients)])), loadClients) {
		t.Errorf("top clients %q, want %q first", clients, loadClients)
	}
	blocked := top("blocked")
	slices.Sort(blocked)
	if !slices.Contains(blocked, "ads1.example.") || !slices.Contains(blocked, "ads2.example.") || slices.Contains(blocked, "www.dash.test.") {
		t.Errorf("top blocked %q", blocked)
	}

	// The Resume button, pressed through the fragment, resumed the set.
	notices := find(doc, func(n *html.Node) bool { return attr(n, "id") == "notice" })
	if len(notices) != 1 || attr(notices[0], "data-resumed") != "rpz.trip." {
		t.Errorf("no resume of rpz.trip. on the page:\n%s", dom)
	}
	if m := scrape(t, base); strings.Contains(m, `warden_policy_rule_suspended{`) || !strings.Contains(m, "warden_policy_alarms 0\n") ||
		!strings.Contains(m, `warden_policy_set_suspended{set="rpz.trip."} 0`) {
		t.Errorf("rpz.trip. still suspended after the page resumed it:\n%s", grepLines(m, "warden_policy_"))
	}

	// The query-log search the fragment ran.
	if rows := find(doc, func(n *html.Node) bool { return attr(n, "data-row-name") == "www.dash.test." }); len(rows) == 0 {
		t.Error("the page's query-log search found no rows for www.dash.test.")
	}

	// What the page asked for, and that each API call carried the token.
	calls := proxy.requests()
	seen := map[string]bool{}
	for _, c := range calls {
		seen[c.method+" "+c.path] = true
		if c.path == "/" {
			continue // the page itself, opened with ?token=
		}
		if c.auth != "Bearer "+token {
			t.Errorf("%s %s without the token (Authorization %q)", c.method, c.path, c.auth)
		}
		if c.status != http.StatusOK {
			t.Errorf("%s %s: %d", c.method, c.path, c.status)
		}
	}
	for _, want := range []string{"GET /", "GET /api/dashboard", "POST /api/policy/resume", "GET /api/querylog"} {
		if !seen[want] {
			t.Errorf("the page made no %s (it made %v)", want, calls)
		}
	}

}

// runChromium runs headless Chromium on url with args (as root it needs --no-sandbox), in a
// profile of its own, with everything that would reach outside this machine off, and returns
// what it printed.
func runChromium(t *testing.T, chromium string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()}, args...)
	cmd := exec.CommandContext(ctx, chromium, all...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// recordingProxy stands between Chromium and warden and notes every request the page makes.
type recordingProxy struct {
	*httptest.Server
	mu    sync.Mutex
	calls []call
}

type call struct {
	method, path, auth string
	status             int
}

func (c call) String() string { return c.method + " " + c.path }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(sw, r)
		p.mu.Lock()
		p.calls = append(p.calls, call{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), status: sw.status})
		p.mu.Unlock()
	}))
	l, err := net.Listen("tcp", "127.0.31.30:0")
	if err != nil {
		t.Fatal(err)
	}
	p.Listener = l
	p.Start()
	t.Cleanup(p.Close)
	return p
}

func (p *recordingProxy) requests() []call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// load sends A queries for names, round robin, from each of loadClients, until its time is up
// or it is stopped; each client paces itself to about a thousand queries a second.
type load struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
	sent   atomic.Uint64
}

func startLoad(parent context.Context, server string, names []string, d time.Duration) *load {
	ctx, cancel := context.WithTimeout(parent, d)
	l := &load{cancel: cancel}
	for ci, client := range loadClients {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(client)}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(server)))
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 1500)
			for i := ci; ctx.Err() == nil && i < 1_000_000; i++ {
				m := dns.NewMsg(names[i%len(names)], dns.TypeA)
				if m.Pack() != nil {
					return
				}
				_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
				if _, err := c.Write(m.Data); err != nil {
					continue
				}
				_, _ = c.Read(buf)
				l.sent.Add(1)
				time.Sleep(time.Millisecond)
			}
		}()
	}
	return l
}

func (l *load) wait() { l.done.Wait(); l.cancel() }
func (l *load) stop() { l.cancel(); l.done.Wait() }

type wardenProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *bytes.Buffer
}

func startWarden(t *testing.T, bin, cfgPath, dnsAddr string) *wardenProc {
	t.Helper()
	w := &wardenProc{cmd: exec.Command(bin, "serve", "--config", cfgPath), exited: make(chan struct{}), logs: &bytes.Buffer{}}
	w.cmd.Stderr = &lockedWriter{w: w.logs}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = w.cmd.Wait(); close(w.exited) }()
	t.Cleanup(func() {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.exited:
		case <-time.After(10 * time.Second):
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
	})
	waitUntil(t, 15*time.Second, "warden to answer", func() bool {
		select {
		case <-w.exited:
			t.Fatalf("warden exited:\n%s", w.logs.String())
		default:
		}
		m, err := dnstest.Exchange(dnsAddr, dnstest.Query{Name: "www.dash.test.", Type: dns.TypeA})
		return err == nil && m.Rcode == dns.RcodeSuccess
	})
	return w
}

func (w *wardenProc) logText() string {
	lw := w.cmd.Stderr.(*lockedWriter)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return w.logs.String()
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type reply struct {
	code int
	body string
}

func httpDo(t *testing.T, method, u, token string) reply {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b)}
}

func httpGet(t *testing.T, u, token string) reply  { return httpDo(t, http.MethodGet, u, token) }
func httpPost(t *testing.T, u, token string) reply { return httpDo(t, http.MethodPost, u, token) }

func scrape(t *testing.T, base string) string {
	t.Helper()
	r := httpGet(t, base+"/metrics", "")
	if r.code != http.StatusOK {
		t.Fatalf("/metrics: %d", r.code)
	}
	return r.body
}

func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	return fams
}

// sumOf is what a data-metric selector means: the sum of the series of warden_NAME whose labels
// include labels; 0 when the family is not exported.
func sumOf(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams["warden_"+name]
	if f == nil {
		return 0
	}
	var total float64
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range labels {
			match = match && have[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Untyped != nil:
			total += m.GetUntyped().GetValue()
		}
	}
	return total
}

// parseSelector reads NAME or NAME{k="v",...} as the page writes it.
func parseSelector(s string) (string, map[string]string, error) {
	name, rest, ok := strings.Cut(s, "{")
	labels := map[string]string{}
	if !ok {
		return name, labels, nil
	}
	if !strings.HasSuffix(rest, "}") {
		return "", nil, fmt.Errorf("no closing brace")
	}
	rest = rest[:len(rest)-1]
	for rest != "" {
		k, v, ok := strings.Cut(rest, `="`)
		if !ok {
			return "", nil, fmt.Errorf("label without a quoted value at %q", rest)
		}
		var val strings.Builder
		i := 0
		for ; i < len(v) && v[i] != '"'; i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			val.WriteByte(v[i])
		}
		if i == len(v) {
			return "", nil, fmt.Errorf("unterminated value of %s", k)
		}
		labels[k] = val.String()
		rest = strings.TrimPrefix(v[i+1:], ",")
	}
	return name, labels, nil
}

func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// freeAddr returns an address on 127.0.31.x with a port free for network ("udp" or "tcp").
func freeAddr(t *testing.T, network string) string {
	t.Helper()
	for range 50 {
		a := fmt.Sprintf("127.0.31.%d:%d", 2+rand.IntN(18), 20000+rand.IntN(40000))
		var err error
		if network == "udp" {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp", a); err == nil {
				var l net.Listener
				if l, err = net.Listen("tcp", a); err == nil {
					l.Close()
				}
				c.Close()
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp", a); err == nil {
				l.Close()
			}
		}
		if err == nil {
			return a
		}
	}
	t.Fatal("no free address on 127.0.31.x")
	return ""
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// With the query log off, the page says so in the three top panels instead of showing empty
// lists, and the figures it shows are the registry's, exactly (nothing changes them here).
func TestDashboardQueryLogOffInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs chromium")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it")
		}
		t.Skip("no chromium (Debian package chromium); CI installs it")
	}
	q := metrics.NewQueries()
	q.Recorder(query.UDP, true).Record([]query.Record{
		{QType: dns.TypeA, Outcome: query.Outcome{Source: query.SourceAuthority}},
		{QType: dns.TypeA, Rcode: dns.RcodeNameError, Outcome: query.Outcome{Source: query.SourceAuthority}},
	})
	reg := metrics.New(metrics.Sources{Queries: q})
	h, err := web.Handler(web.Deps{Metrics: reg.Handler(), Gatherer: reg.Gatherer(), Token: []byte("dashboard-token-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.31.31:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	defer srv.Close()

	dom := runChromium(t, chromium, "--dump-dom", "--virtual-time-budget=3000", srv.URL+"/?token=dashboard-token-0123456789")
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	off := find(doc, func(n *html.Node) bool { return attr(n, "data-off") == "query-log" })
	var kinds []string
	for _, n := range off {
		kinds = append(kinds, attr(n, "data-top"))
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{"blocked", "clients", "names"}) {
		t.Errorf("panels saying the log is off: %q\n%s", kinds, dom)
	}
	fams := parseMetrics(t, scrape(t, srv.URL))
	figures := find(doc, func(n *html.Node) bool { return attr(n, "data-metric") != "" })
	for _, n := range figures {
		name, labels, err := parseSelector(attr(n, "data-metric"))
		if err != nil {
			t.Fatal(err)
		}
		if want := sumOf(fams, name, labels); attr(n, "data-value") != strconv.FormatFloat(want, 'g', -1, 64) {
			t.Errorf("%s shows %s, /metrics has %v", attr(n, "data-metric"), attr(n, "data-value"), want)
		}
	}
	if len(figures) < 10 {
		t.Errorf("only %d figures on the page", len(figures))
	}
	for _, sel := range []string{"queries_total", `queries_total{rcode="NXDOMAIN"}`} {
		if !slices.ContainsFunc(figures, func(n *html.Node) bool { return attr(n, "data-metric") == sel && attr(n, "data-value") != "0" }) {
			t.Errorf("no %s above 0 on the page", sel)
		}
	}
}
