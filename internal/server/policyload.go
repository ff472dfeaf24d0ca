package server

import (
	"errors"
	"fmt"
	"time"

	"warden/internal/config"
	"warden/internal/policy"
)

// RPZOptions turns one configured policy zone into the compiler's options.
func RPZOptions(c config.RPZConfig) policy.Options {
	o, _ := policy.ParseOverride(c.Override) // validated with the configuration
	return policy.Options{
		Name:          c.Origin,
		Override:      o,
		OverrideCNAME: c.CNAME,
		MaxPolicyTTL:  uint32(c.MaxPolicyTTL / time.Second),
		BreakDNSSEC:   c.BreakDNSSEC,
		Shadow:        c.Shadow,
		Clients:       c.Clients,
	}
}

// LoadRPZ loads and compiles one configured policy zone; errors and warnings name file and line.
func LoadRPZ(c config.RPZConfig) (*policy.RuleSet, error) {
	return policy.LoadRPZFile(c.Origin, c.File, RPZOptions(c))
}

// LoadPolicy loads every configured policy zone, in order, into one policy; nil when none is
// configured. Any zone that fails makes the whole policy fail, so that a reload keeps the running
// policy rather than serve one with a zone silently missing.
func LoadPolicy(cfgs []config.RPZConfig) (*policy.Policy, []policy.Problem, error) {
	if len(cfgs) == 0 {
		return nil, nil, nil
	}
	var errs []error
	var warns []policy.Problem
	sets := make([]*policy.RuleSet, 0, len(cfgs))
	for _, c := range cfgs {
		s, err := LoadRPZ(c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		warns = append(warns, s.Warnings()...)
		sets = append(sets, s)
	}
	if len(errs) > 0 {
		return nil, warns, fmt.Errorf("policy: %w", errors.Join(errs...))
	}
	return policy.New(sets...), warns, nil
}
