package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"warden/internal/pipeline"
	"warden/internal/validator"
)

// trustStateFile is where, under the state directory, the trust anchors' RFC 5011 state is kept.
const trustStateFile = "trust-anchors.json"

// trustKeeper keeps the trust anchors current by RFC 5011: it fetches each anchored zone's
// DNSKEY RRset when its refresh interval comes, lets the zone's trackers follow its key
// rollovers, writes their state into the state directory (so a restart starts from the keys
// last trusted, not the configured ones) and puts the anchors in force in the resolution stage.
type trustKeeper struct {
	path     string
	log      *slog.Logger
	mu       sync.Mutex // guards trackers and the file
	trackers []*validator.Tracker
	rec      atomic.Pointer[pipeline.Recursor]
}

// retryAfterFailure is how soon a refresh that failed is tried again (RFC 5011 §2.3 asks for
// at most a day, and no sooner than an hour here, to spare the servers).
const retryAfterFailure = time.Hour

// newTrustKeeper starts from the state file in stateDir when there is one, for the zones
// configured is anchored at, and from configured for the rest. A damaged state file is an
// error that names it; nothing is replaced then.
func newTrustKeeper(stateDir string, configured *validator.Anchors, log *slog.Logger) (*trustKeeper, error) {
	k := &trustKeeper{path: filepath.Join(stateDir, trustStateFile), log: log}
	saved := map[string]*validator.Tracker{}
	data, err := os.ReadFile(k.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("trust anchor state: %w", err)
	default:
		var list []*validator.Tracker
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, fmt.Errorf("trust anchor state %s: %w", k.path, err)
		}
		for _, t := range list {
			if err := t.Load(); err != nil {
				return nil, fmt.Errorf("%s: %w", k.path, err)
			}
			saved[t.Zone] = t
		}
	}
	now := time.Now()
	for _, a := range configured.All() {
		if t := saved[a.Zone]; t != nil {
			k.trackers = append(k.trackers, t)
			continue
		}
		k.trackers = append(k.trackers, validator.NewTracker(a, now))
	}
	if err := k.save(); err != nil {
		return nil, err
	}
	return k, nil
}

// anchors returns the anchors the trackers stand for.
func (k *trustKeeper) anchors() *validator.Anchors {
	k.mu.Lock()
	defer k.mu.Unlock()
	list := make([]*validator.Anchor, len(k.trackers))
	for i, t := range k.trackers {
		list[i] = t.Anchor()
	}
	return validator.NewAnchors(list...)
}

// use makes rec the stage whose anchors are kept, and puts them in force in it.
func (k *trustKeeper) use(rec *pipeline.Recursor) {
	rec.SetTrustAnchors(k.anchors())
	k.rec.Store(rec)
}

// run refreshes until ctx ends.
func (k *trustKeeper) run(ctx context.Context) {
	for {
		wait := k.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// refresh fetches each anchored zone's DNSKEY RRset once and applies it; it returns how long
// to wait before the next.
func (k *trustKeeper) refresh(ctx context.Context) time.Duration {
	rec := k.rec.Load()
	if rec == nil {
		return retryAfterFailure
	}
	wait := 15 * 24 * time.Hour
	changed := false
	k.mu.Lock()
	trackers := append([]*validator.Tracker(nil), k.trackers...)
	k.mu.Unlock()
	for _, t := range trackers {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		reply, err := rec.FetchKeys(fctx, t.Zone)
		cancel()
		if err != nil {
			k.log.Warn("trust anchor: DNSKEY refresh failed", "zone", t.Zone, "err", err)
			wait = min(wait, retryAfterFailure)
			continue
		}
		keys, sigs := validator.DNSKEYs(reply.Answer, t.Zone)
		now := time.Now()
		k.mu.Lock()
		c, err := t.Update(validator.Options{}, keys, sigs, now)
		k.mu.Unlock()
		if err != nil {
			k.log.Warn("trust anchor: DNSKEY RRset not taken", "zone", t.Zone, "err", err)
			wait = min(wait, retryAfterFailure)
			continue
		}
		if c {
			changed = true
			k.log.Info("trust anchor keys changed", "zone", t.Zone, "keys", keyStates(t))
		}
		wait = min(wait, validator.RefreshInterval(keys, sigs, now))
	}
	if changed {
		if err := k.save(); err != nil {
			k.log.Error("trust anchor: state not written; the anchors in force are kept", "err", err)
		}
		rec.SetTrustAnchors(k.anchors())
	}
	return wait
}

func keyStates(t *validator.Tracker) []string {
	var out []string
	for _, k := range t.Keys {
		out = append(out, fmt.Sprintf("%.40s… %s", k.Key, k.State))
	}
	return out
}

// save writes the trackers through a temporary file and a rename, so a crash leaves the old
// state or the new, never half of one.
func (k *trustKeeper) save() error {
	k.mu.Lock()
	data, err := json.MarshalIndent(k.trackers, "", "  ")
	k.mu.Unlock()
	if err != nil {
		return err
	}
	tmp := k.path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("trust anchor state: %w", err)
	}
	if err := os.Rename(tmp, k.path); err != nil {
		return fmt.Errorf("trust anchor state: %w", err)
	}
	return nil
}
