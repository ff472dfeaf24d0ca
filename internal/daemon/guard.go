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

// applyGuards puts cookies and response rate limiting in force as cfg says (prev nil: at start).
// The cookie secrets are read again at every reload, so that a rotation written into their files
// takes effect on the next SIGHUP; a random secret is kept across reloads so that clients'
// cookies stay valid; the limiter starts afresh only when its configuration changes.
func (d *daemon) applyGuards(prev, cfg *config.Config) error {
	if prev == cfg {
		return nil // the watch tick: the configuration was not read again
	}
	keys, err := d.cookieKeys(cfg.Cookies)
	if err != nil {
		return err
	}
	snap := d.pipe.Snapshot()
	lim := snap.RateLimit
	if prev == nil || !reflect.DeepEqual(prev.RRL, cfg.RRL) {
		lim = nil
		if cfg.RRL.Rate > 0 {
			lim = rrl.New(rrl.Config(cfg.RRL), rrlReport(d.log, cfg.RRL.LogOnly))
			// The counts go on across a change of rate: they are totals since start.
			lim.ContinueFrom(snap.RateLimit)
		}
	}
	if prev != nil && keys.Equal(snap.Cookies) && lim == snap.RateLimit {
		return nil
	}
	d.pipe.Update(func(s *pipeline.Snapshot) { s.Cookies, s.RateLimit = keys, lim })
	if prev != nil && !keys.Equal(snap.Cookies) && keys != nil {
		d.log.Info("cookie secrets changed", "previous_secrets", len(cfg.Cookies.PreviousSecrets))
	}
	return nil
}

// rateLimiter is the limiter in force, for the control interface; nil when limiting is off.
func (d *daemon) rateLimiter() *rrl.Limiter { return d.pipe.Snapshot().RateLimit }

// cookieKeys reads the cookie secrets cfg names; nil when cookies are off.
func (d *daemon) cookieKeys(cfg config.CookiesConfig) (*cookie.Keyring, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	text, err := cfg.SecretHex()
	if err != nil {
		return nil, fmt.Errorf("cookies.secret: %w", err)
	}
	var current cookie.Secret
	switch {
	case text != "":
		if current, err = cookie.ParseSecret(text); err != nil {
			return nil, fmt.Errorf("cookies.secret: %w", err)
		}
	case d.randomSecret != nil:
		current = *d.randomSecret
	default:
		if current, err = cookie.NewSecret(); err != nil {
			return nil, err
		}
		d.randomSecret = &current
	}
	texts, err := cfg.PreviousHex()
	if err != nil {
		return nil, fmt.Errorf("cookies.%w", err)
	}
	previous := make([]cookie.Secret, 0, len(texts))
	for i, t := range texts {
		s, err := cookie.ParseSecret(t)
		if err != nil {
			return nil, fmt.Errorf("cookies.previous_secrets[%d]: %w", i, err)
		}
		previous = append(previous, s)
	}
	return cookie.NewKeyring(current, previous...), nil
}

// rrlReport logs the responses limited, once per window while there are any.
func rrlReport(log *slog.Logger, logOnly bool) func(total, delta rrl.Counters) {
	return func(total, delta rrl.Counters) {
		if logOnly {
			log.Warn("rate limit exceeded (log only: every response sent)", "would_limit", delta.WouldLimit, "total", total.WouldLimit)
			return
		}
		log.Warn("rate limited responses", "dropped", delta.Dropped, "slipped", delta.Slipped,
			"total_dropped", total.Dropped, "total_slipped", total.Slipped)
	}
}
