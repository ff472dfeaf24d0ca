package web

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"warden/internal/querylog"
)

// topLength is how many keys each of the dashboard's top lists shows.
const topLength = 10

// dashboardAnswer is the body of GET /api/dashboard: every Warden series of the registry that
// /metrics serves, read in one gather so that the figures on the page are of one moment, and the
// query log's top lists.
type dashboardAnswer struct {
	Time time.Time `json:"time"`
	// Series holds each family by its name in the text format; a histogram is given as its
	// _count and _sum families, as the text format writes them.
	Series map[string][]series `json:"series"`
	// QueryLog is null while the log is off.
	QueryLog *querylog.TopLists `json:"query_log"`
	// Errors are the collectors that failed this time; their families are missing.
	Errors []string `json:"errors,omitempty"`
}

// series is one labelled value of a family.
type series struct {
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

// maxGathers bounds the reads of /api/dashboard under way at once, as the metrics handler bounds
// its scrapes: however many pages are open, the collectors are not run more often than that.
const maxGathers = 4

// dashboard answers GET /api/dashboard.
func dashboard(g prometheus.Gatherer, top func(n int) querylog.TopLists) http.HandlerFunc {
	slots := make(chan struct{}, maxGathers)
	return func(w http.ResponseWriter, r *http.Request) {
		if g == nil {
			replyJSON(w, http.StatusNotImplemented, apiError{"this listener has no metrics registry to show"})
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			w.Header().Set("Retry-After", "1")
			replyJSON(w, http.StatusServiceUnavailable, apiError{fmt.Sprintf("%d dashboard reads under way already; try again", maxGathers)})
			return
		}
		ans := dashboardAnswer{Time: time.Now().UTC(), Series: map[string][]series{}}
		fams, err := g.Gather()
		if err != nil {
			// Gather returns what it could read beside the error: the page shows that and says
			// what failed, as /metrics does with ContinueOnError.
			ans.Errors = append(ans.Errors, err.Error())
		}
		for _, f := range fams {
			if strings.HasPrefix(f.GetName(), "warden_") {
				addFamily(ans.Series, f)
			}
		}
		if top != nil {
			t := top(topLength)
			ans.QueryLog = &t
		}
		replyJSON(w, http.StatusOK, ans)
	}
}

// addFamily puts f's series into m under the names the text format gives them.
func addFamily(m map[string][]series, f *dto.MetricFamily) {
	name := f.GetName()
	for _, mt := range f.GetMetric() {
		labels := make(map[string]string, len(mt.GetLabel()))
		for _, l := range mt.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			put(m, name, labels, mt.GetCounter().GetValue())
		case dto.MetricType_GAUGE:
			put(m, name, labels, mt.GetGauge().GetValue())
		case dto.MetricType_UNTYPED:
			put(m, name, labels, mt.GetUntyped().GetValue())
		case dto.MetricType_HISTOGRAM:
			put(m, name+"_count", labels, float64(mt.GetHistogram().GetSampleCount()))
			put(m, name+"_sum", labels, mt.GetHistogram().GetSampleSum())
		case dto.MetricType_SUMMARY:
			put(m, name+"_count", labels, float64(mt.GetSummary().GetSampleCount()))
			put(m, name+"_sum", labels, mt.GetSummary().GetSampleSum())
		}
	}
}

// put adds one series; JSON has no NaN or infinity, so such a value is left out (the page
// shows the figure as missing, not as a wrong number).
func put(m map[string][]series, name string, labels map[string]string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	m[name] = append(m[name], series{Labels: labels, Value: v})
}

// Resumer puts a rule set the circuit breaker suspended back in service: a *live.Guard, the
// same call `warden ctl policy resume` makes through the control interface.
type Resumer interface {
	// Resume reports whether the set was suspended.
	Resume(set string) (bool, error)
}

// resumeAnswer is the body of a resume that was carried out or had nothing to do.
type resumeAnswer struct {
	Message string `json:"message"`
	Resumed bool   `json:"resumed"`
}

// resume answers POST /api/policy/resume?set=NAME.
func resume(p Resumer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p == nil {
			replyJSON(w, http.StatusNotImplemented, apiError{"this server has no policy to resume"})
			return
		}
		name := r.URL.Query().Get("set")
		if name == "" {
			replyJSON(w, http.StatusBadRequest, apiError{"set: say which rule set to resume (?set=NAME)"})
			return
		}
		resumed, err := p.Resume(name)
		switch {
		case err != nil:
			replyJSON(w, http.StatusNotFound, apiError{"set: " + err.Error()})
		case !resumed:
			replyJSON(w, http.StatusOK, resumeAnswer{Message: "rule set " + name + " is not suspended: nothing to resume"})
		default:
			replyJSON(w, http.StatusOK, resumeAnswer{Message: "rule set " + name + " resumed", Resumed: true})
		}
	}
}
