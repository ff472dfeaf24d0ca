package control

import (
	"net/http"
	"runtime/debug"
	"time"

	"warden/internal/health"
	"warden/internal/rrl"
	"warden/internal/upstream"
)

// Status is the body of GET /status: the server at a glance.
type Status struct {
	Version       string    `json:"version"`
	Started       time.Time `json:"started"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	Listeners     []string  `json:"listeners"`
	// Zones and Policy are nil when the server has no zone manager or no policy guard.
	Zones  *ZoneCounts    `json:"zones,omitempty"`
	Policy *PolicySummary `json:"policy,omitempty"`
	// ZoneErrors are the zones whose last load, refresh or transfer failed, by origin: what an
	// operator looks at first.
	ZoneErrors []ZoneError `json:"zone_errors,omitempty"`
	// RateLimit is response rate limiting; nil when it is off.
	RateLimit *RateLimitSummary `json:"rate_limit,omitempty"`
	// Problems are what is failing right now (an upstream, a zone file, a transfer, a signing,
	// a policy list, a tripped breaker), oldest first; [] when nothing is.
	Problems []health.Problem `json:"problems"`
	// Injections are the injected replies detected on plain UDP exchanges (Hold-On), with the
	// servers and names they came for; nil when Deps has no InjectionCounts (a server counts
	// them from start, at 0 while it does not resolve).
	Injections *upstream.Detections `json:"injections,omitempty"`
}

// InjectionCounts is what the status reads of Hold-On: a *upstream.HoldOn.
type InjectionCounts interface {
	Snapshot() upstream.Detections
}

// RateLimitSummary is response rate limiting's configuration and what it has done since the
// server started (a change of rate keeps the counts).
type RateLimitSummary struct {
	Rate    int  `json:"rate"`
	Slip    int  `json:"slip"`
	LogOnly bool `json:"log_only"`
	// Dropped and Slipped are the responses over the rate not sent and sent empty with TC=1;
	// WouldLimit those over it in log-only mode, sent all the same.
	Dropped    uint64 `json:"dropped"`
	Slipped    uint64 `json:"slipped"`
	WouldLimit uint64 `json:"would_limit"`
	// Entries are the keys the table holds, of Capacity.
	Entries  int `json:"entries"`
	Capacity int `json:"capacity"`
}

func rateLimitSummary(l *rrl.Limiter) *RateLimitSummary {
	if l == nil {
		return nil
	}
	cfg, st := l.Config(), l.Stats()
	return &RateLimitSummary{
		Rate: cfg.Rate, Slip: cfg.Slip, LogOnly: cfg.LogOnly,
		Dropped: st.Dropped, Slipped: st.Slipped, WouldLimit: st.WouldLimit,
		Entries: st.Entries, Capacity: st.Capacity,
	}
}

// ZoneError is a zone in trouble: what failed, and what is served meanwhile.
type ZoneError struct {
	Zone string `json:"zone"`
	// Loaded says a version of the zone is served, with Serial; false when none is.
	Loaded bool   `json:"loaded"`
	Serial uint32 `json:"serial"`
	Error  string `json:"error"`
	// Since is when the zone began to fail; zero when unknown.
	Since time.Time `json:"since,omitzero"`
}

// ZoneCounts sums up the zones by role and by trouble.
type ZoneCounts struct {
	Total     int `json:"total"`
	Primary   int `json:"primary"`
	Secondary int `json:"secondary"`
	NotLoaded int `json:"not_loaded"`
	Expired   int `json:"expired"`
	// Failing counts zones whose last load, refresh or transfer failed.
	Failing int `json:"failing"`
}

// PolicySummary is the policy in force, in brief; GET /policy has the whole of it.
type PolicySummary struct {
	Version   int       `json:"version"`
	Reason    string    `json:"reason"`
	Since     time.Time `json:"since"`
	Sets      int       `json:"sets"`
	Suspended int       `json:"suspended"` // rule sets suspended whole
	// SuspendedRules counts the rules suspended in sets that stay in force.
	SuspendedRules int      `json:"suspended_rules,omitempty"`
	Alarms         []string `json:"alarms,omitempty"`
}

func (d Deps) status(w http.ResponseWriter, r *http.Request) {
	reply(w, http.StatusOK, d.Status())
}

// Status is the server at a glance, as GET /status answers it. Version and Started are as
// Handler filled them in when d went through it; otherwise as given.
func (d Deps) Status() Status {
	if d.Version == "" {
		d.Version = buildVersion()
	}
	st := Status{
		Version:       d.Version,
		Started:       d.Started,
		UptimeSeconds: int64(time.Since(d.Started) / time.Second),
		Listeners:     d.Listeners,
	}
	if st.Listeners == nil {
		st.Listeners = []string{}
	}
	st.Problems = d.Health.Problems()
	if st.Problems == nil {
		st.Problems = []health.Problem{}
	}
	if d.Zones != nil {
		var c ZoneCounts
		for _, z := range sortedZones(d.Zones) {
			c.Total++
			switch z.Role {
			case "primary":
				c.Primary++
			case "secondary":
				c.Secondary++
			}
			if !z.Loaded {
				c.NotLoaded++
			}
			if z.Expired {
				c.Expired++
			}
			if z.LastError != "" {
				c.Failing++
				st.ZoneErrors = append(st.ZoneErrors, ZoneError{Zone: z.Zone, Loaded: z.Loaded && !z.Expired, Serial: z.Serial, Error: z.LastError, Since: z.ErrorSince})
			}
		}
		st.Zones = &c
	}
	if d.Policy != nil {
		ps := d.Policy.Status()
		p := PolicySummary{Version: ps.Version, Reason: ps.Reason, Since: ps.Since, Sets: len(ps.Sets), Alarms: ps.Alarms}
		for _, s := range ps.Sets {
			if s.Suspended {
				p.Suspended++
			}
			p.SuspendedRules += len(s.SuspendedRules)
		}
		st.Policy = &p
	}
	if d.RateLimiter != nil {
		st.RateLimit = rateLimitSummary(d.RateLimiter())
	}
	if d.Injections != nil {
		in := d.Injections.Snapshot()
		st.Injections = &in
	}
	return st
}

// buildVersion names the running binary: its module version, which since Go 1.24 carries the
// commit of a build from a checkout; failing that, the commit itself.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", ""
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = " " + s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	return "devel" + rev + dirty
}
