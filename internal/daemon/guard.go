package daemon

import (
	"fmt"
	"log/slog"
	"reflect"

	"warden/internal/config"
	"warden/internal/cookie"
	"warden/internal/pipeline"
	"warden/internal/rrl"
)

// applyGuards puts cookies and response rate limiting in force as cfg says, when they differ from
// what prev said (prev nil: at start). A random cookie secret is kept across reloads so that
// clients' cookies stay valid; the limiter starts afresh only when its configuration changes.
func (d *daemon) applyGuards(prev, cfg *config.Config) error {
	if prev != nil && reflect.DeepEqual(prev.RRL, cfg.RRL) && reflect.DeepEqual(prev.Cookies, cfg.Cookies) {
		return nil
	}
	var secret *cookie.Secret
	if cfg.Cookies.Enabled {
		text, err := cfg.Cookies.SecretHex()
		if err != nil {
			return fmt.Errorf("cookies.secret: %w", err)
		}
		var s cookie.Secret
		switch {
		case text != "":
			if s, err = cookie.ParseSecret(text); err != nil {
				return err
			}
		case d.randomSecret != nil:
			s = *d.randomSecret
		default:
			if s, err = cookie.NewSecret(); err != nil {
				return err
			}
			d.randomSecret = &s
		}
		secret = &s
	}
	var lim *rrl.Limiter
	if cfg.RRL.Rate > 0 {
		if prev != nil && reflect.DeepEqual(prev.RRL, cfg.RRL) {
			lim = d.pipe.Snapshot().RateLimit
		} else {
			lim = rrl.New(rrl.Config(cfg.RRL), rrlReport(d.log, cfg.RRL.LogOnly))
		}
	}
	d.pipe.Update(func(s *pipeline.Snapshot) { s.Cookies, s.RateLimit = secret, lim })
	return nil
}

// rrlReport logs the responses limited, once per window while there are any.
func rrlReport(log *slog.Logger, logOnly bool) func(total, delta rrl.Counters) {
	return func(total, delta rrl.Counters) {
		if logOnly {
			log.Warn("rate limit exceeded (log only: every response sent)", "would_limit", delta.LogOnly, "total", total.LogOnly)
			return
		}
		log.Warn("rate limited responses", "dropped", delta.Dropped, "slipped", delta.Slipped,
			"total_dropped", total.Dropped, "total_slipped", total.Slipped)
	}
}
