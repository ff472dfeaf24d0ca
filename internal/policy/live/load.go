package live

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"warden/internal/config"
	"warden/internal/policy"
	"warden/internal/policy/blocklist"
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

// BreakerConfig maps the configuration onto the circuit breaker's settings.
func BreakerConfig(c config.BreakerConfig) policy.BreakerConfig {
	return policy.BreakerConfig{Window: c.Window, Factor: c.Factor, Floor: c.Floor / 100, MinQueries: c.MinQueries}
}

// LoadRPZ loads and compiles one configured policy zone; errors and warnings name file and line.
// The source holds the bytes read.
func LoadRPZ(c config.RPZConfig) (*policy.RuleSet, Source, error) {
	data, err := os.ReadFile(c.File)
	if err != nil {
		return nil, Source{}, fmt.Errorf("policy %s: %w", c.Origin, err)
	}
	s, err := policy.LoadRPZ(c.Origin, c.File, data, RPZOptions(c))
	if err != nil {
		return nil, Source{}, err
	}
	src := rpzSource(c, data)
	src.Name, src.Rules = s.Name(), s.Len()
	return s, src, nil
}

// LoadPolicy loads every configured policy zone, in order, into one policy; nil when none is
// configured. Any zone that fails makes the whole policy fail, so that a reload keeps the running
// policy rather than serve one with a zone silently missing.
func LoadPolicy(cfgs []config.RPZConfig) (Proposal, []policy.Problem, error) {
	prop, warns, failed := loadZones(cfgs)
	if err := failed.err(); err != nil {
		return Proposal{}, warns, err
	}
	return prop, warns, nil
}

// zoneFailure is a policy zone that did not load.
type zoneFailure struct {
	origin string
	err    error
}

// zoneFailures are the policy zones of a load that did not load.
type zoneFailures []zoneFailure

// err is the error of the whole load, nil when every zone loaded.
func (fs zoneFailures) err() error {
	if len(fs) == 0 {
		return nil
	}
	errs := make([]error, len(fs))
	for i, f := range fs {
		errs[i] = f.err
	}
	return fmt.Errorf("policy: %w", errors.Join(errs...))
}

// loadZones is LoadPolicy with each zone's failure apart, in the order of cfgs; the Proposal is
// empty when any failed.
func loadZones(cfgs []config.RPZConfig) (Proposal, []policy.Problem, zoneFailures) {
	if len(cfgs) == 0 {
		return Proposal{}, nil, nil
	}
	var failed zoneFailures
	var warns []policy.Problem
	sets := make([]*policy.RuleSet, 0, len(cfgs))
	srcs := make([]Source, 0, len(cfgs))
	for _, c := range cfgs {
		s, src, err := LoadRPZ(c)
		if err != nil {
			failed = append(failed, zoneFailure{origin: c.Origin, err: err})
			continue
		}
		warns = append(warns, s.Warnings()...)
		sets = append(sets, s)
		srcs = append(srcs, src)
	}
	if len(failed) > 0 {
		return Proposal{}, warns, failed
	}
	return Proposal{Policy: policy.New(sets...), Sources: srcs}, warns, nil
}

// compile compiles a rule set again from its source and the bytes stored for it: a version read
// back from the state directory, put in force by a rollback.
func compile(src Source, data []byte) (*policy.RuleSet, error) {
	switch {
	case src.RPZ != nil:
		// $INCLUDE, if any, reads the included files as they are now.
		return policy.LoadRPZ(src.RPZ.Origin, src.RPZ.File, data, RPZOptions(*src.RPZ))
	case src.Blocklist != nil:
		c := *src.Blocklist
		f, _ := blocklist.ParseFormat(c.Format)
		l, err := blocklist.Parse(bytes.NewReader(data), c.Source, f)
		if err != nil {
			return nil, err
		}
		return BlocklistSet(c, l)
	}
	return nil, fmt.Errorf("rule set %s: neither a policy zone nor a blocklist", src.Name)
}
