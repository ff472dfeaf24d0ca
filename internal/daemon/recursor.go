// Package daemon turns a configuration into a running server: the stages of the pipeline built
// from their sections, the listeners opened on its addresses, and the reloads that follow a
// changed file or a signal. cmd/warden only parses flags and calls it.
package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"warden/internal/cache"
	"warden/internal/config"
	"warden/internal/dnstap"
	"warden/internal/health"
	"warden/internal/pipeline"
	"warden/internal/resolver"
	"warden/internal/upstream"
	"warden/internal/validator"
	"warden/internal/wire"
)

// NewRecursor builds the resolution stage when the configuration asks for recursion, nil otherwise.
func NewRecursor(cfg *config.Config, log *slog.Logger) (*pipeline.Recursor, error) {
	return newRecursor(cfg, log, nil, nil, upstream.NewHoldOn(log), validator.NewNegativeAnchors())
}

// newRecursor is NewRecursor with the upstream exchanges shown to dt (nil: dnstap off), the
// forwarders' and authoritative servers' outages told to board (nil: to nobody), and the
// injections detected counted in holdOn, which outlives the recursor across reloads, and the
// negative trust anchors nta, which outlive it too: a reload replaces the configuration's and
// keeps those added by `warden ctl nta`. The upstreams no longer configured are no longer
// watched.
func newRecursor(cfg *config.Config, log *slog.Logger, dt *dnstap.Writer, board *health.Board, holdOn *upstream.HoldOn, nta *validator.NegativeAnchors) (*pipeline.Recursor, error) {
	var resolverTap, forwarderTap upstream.Tap
	if dt != nil {
		resolverTap, forwarderTap = dt.ResolverTap(), dt.ForwarderTap()
	}
	rc := cfg.Resolver
	configured := map[string]bool{}
	if !rc.Enabled() {
		board.Forget(health.Upstream, func(string) bool { return false })
		board.Forget(health.Resolution, func(string) bool { return false })
		return nil, nil
	}
	var hints []resolver.NameServer
	switch rc.RootHints {
	case "":
	case "iana":
		hints = resolver.IANARootHints()
	default:
		data, err := os.ReadFile(rc.RootHints)
		if err != nil {
			return nil, fmt.Errorf("root hints: %w", err)
		}
		if hints, err = resolver.ParseHints(data, rc.RootHints); err != nil {
			return nil, err
		}
	}
	// Served zones answer before this stage anyway; forwarded ones under a special-use name are
	// carved out of the local answers.
	var except []string
	var fwds []pipeline.Forward
	validating := rc.Anchor() != ""
	for _, f := range rc.Forward {
		fw := pipeline.Forward{Zone: f.Zone}
		opts := upstream.Options{Tap: forwarderTap, HoldOn: holdOnIf(f.HoldOnOn(), holdOn)}
		if validating && opts.HoldOn != nil {
			fw.Replies = new(validator.ReplyCheck)
			opts.Validates = fw.Replies.Validates
		}
		for _, a := range f.Upstreams {
			up, err := upstream.ParseAddrOptions(a, opts)
			if err != nil {
				return nil, fmt.Errorf("forward %s: %w", f.Zone, err)
			}
			fw.Upstreams = append(fw.Upstreams, up)
			configured[up.Addr()] = true
		}
		fwds = append(fwds, fw)
		if f.Zone != "." {
			except = append(except, f.Zone)
		}
	}
	local, err := pipeline.NewSpecialUse(rc.SpecialUseOff)
	if err != nil {
		return nil, err
	}
	board.Forget(health.Upstream, func(addr string) bool { return configured[addr] })
	validation := resolver.Validation{Options: validator.Options{Negative: nta}}
	if anchor := rc.Anchor(); anchor != "" {
		if validation.Anchors, err = validator.LoadAnchors(anchor); err != nil {
			return nil, err
		}
		log.Info("DNSSEC validation on", "trust_anchor", anchor, "zones", validation.Anchors.Zones())
	} else {
		log.Info("DNSSEC validation off: no trust anchor (resolver.trust_anchor, --trust-anchor); answers are insecure and upstream AD bits are not passed on")
	}
	log.Info("recursion on", "root_hints", rc.RootHints, "servers", len(hints), "forward_zones", len(fwds), "allow", rc.AllowedNets())
	if err := nta.SetConfigured(rc.NTAs()); err != nil {
		return nil, err
	}
	exchanger := authServers(resolverTap, uint16(rc.ServerPort), board.Watch(health.Resolution, "authoritative servers"), holdOnIf(bool(rc.HoldOn), holdOn))
	exchanger.DNSSEC = validation.Anchors.Len() > 0
	if exchanger.DNSSEC && exchanger.HoldOn != nil {
		validation.Replies = new(validator.ReplyCheck)
		exchanger.Validates = validation.Replies.Validates
	}
	return pipeline.NewRecursor(pipeline.RecursorConfig{
		Hints:     hints,
		Allow:     rc.AllowedNets(),
		Exchanger: exchanger,
		Limits: resolver.Limits{
			MaxQueries: rc.MaxQueries, MaxReferrals: rc.MaxReferrals, MaxCNAMEs: rc.MaxCNAMEs,
			MaxNSLookups: rc.MaxNSLookups, MaxDepth: resolver.DefaultLimits.MaxDepth,
			MinimiseSteps: minimiseSteps(rc.QNameMinimisation),
		},
		MaxZoneQueries: rc.MaxZoneQueries,
		Timeout:        rc.Timeout,
		MaxConcurrent:  rc.MaxConcurrent,
		UDPPayload:     uint16(cfg.Limits.UDPPayload),
		// Hits are rendered with the limits of every other answer.
		Cache: cache.New(cache.Config{MaxBytes: rc.CacheBytes, MinTTL: rc.MinTTL, MaxTTL: rc.MaxTTL, StaleTTL: staleTTL(rc.StaleTTL),
			Limits: wire.Limits{UDPPayload: uint16(cfg.Limits.UDPPayload)}}),
		Forwards:    fwds,
		Local:       local,
		LocalExcept: except,
		Validation:  validation,
		Health:      board,
	}), nil
}

// minimiseSteps turns the qname_minimisation switch into the resolver's step bound.
func minimiseSteps(on bool) int {
	if on {
		return resolver.DefaultLimits.MinimiseSteps
	}
	return 0
}

// staleTTL maps the configuration's "0 = off" onto the cache's "negative = off".
func staleTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// authServers is the resolver's Exchanger, its queries shown to tap when it is set, its outages
// told to outage, and its UDP exchanges watched for injection by holdOn when it is set.
func authServers(tap upstream.Tap, port uint16, outage *health.Condition, holdOn *upstream.HoldOn) *resolver.Upstreams {
	u := resolver.NewUpstreams(port, time.Second)
	u.Tap, u.Outage, u.HoldOn = tap, outage, holdOn
	return u
}

// holdOnIf is h when the switch is on, nil (Hold-On off) otherwise.
func holdOnIf(on bool, h *upstream.HoldOn) *upstream.HoldOn {
	if on {
		return h
	}
	return nil
}
