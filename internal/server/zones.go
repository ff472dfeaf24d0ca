package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"warden/internal/config"
	"warden/internal/zone"
)

// ZoneLoader loads the configured zones and, on later calls, reloads only those whose file changed.
// A zone that fails to reload keeps its previous version serving; so does one whose new file does
// not raise the SOA serial (RFC 1982 arithmetic), since secondaries would never pick the change up.
type ZoneLoader struct {
	log    *slog.Logger
	loaded map[string]loadedZone // by origin
}

type loadedZone struct {
	z     *zone.Zone
	mtime time.Time
	size  int64
}

// NewZoneLoader returns a loader that reports through log.
func NewZoneLoader(log *slog.Logger) *ZoneLoader {
	return &ZoneLoader{log: log, loaded: make(map[string]loadedZone)}
}

// Load returns the zones to serve for cfgs and whether any differs from the last call. Zones whose
// file is unchanged since the last load are kept without reading. A zone that cannot be loaded is
// an error only when there is no previous version to keep serving.
func (l *ZoneLoader) Load(cfgs []config.ZoneConfig) ([]*zone.Zone, bool, error) {
	var errs []error
	changed := len(cfgs) != len(l.loaded)
	next := make(map[string]loadedZone, len(cfgs))
	zones := make([]*zone.Zone, 0, len(cfgs))
	for _, c := range cfgs {
		prev, hadPrev := l.loaded[c.Origin]
		cur, err := l.loadOne(c, prev, hadPrev)
		if err != nil {
			if !hadPrev {
				errs = append(errs, err)
				continue
			}
			l.log.Error("zone reload failed; the previous version keeps serving", "zone", c.Origin, "serial", prev.z.Serial(), "err", err)
			cur = prev
		}
		if !hadPrev || cur.z != prev.z {
			changed = true
		}
		next[c.Origin] = cur
		zones = append(zones, cur.z)
	}
	if len(errs) > 0 {
		return nil, false, errors.Join(errs...)
	}
	l.loaded = next
	return zones, changed, nil
}

func (l *ZoneLoader) loadOne(c config.ZoneConfig, prev loadedZone, hadPrev bool) (loadedZone, error) {
	var cur loadedZone
	if c.File != "" {
		fi, err := os.Stat(c.File)
		if err != nil {
			return cur, fmt.Errorf("zone %s: %w", c.Origin, err)
		}
		cur.mtime, cur.size = fi.ModTime(), fi.Size()
		if hadPrev && prev.mtime.Equal(cur.mtime) && prev.size == cur.size {
			return prev, nil
		}
	} else if hadPrev {
		return prev, nil // built-in data never changes
	}
	z, warnings, err := loadZone(c)
	for _, w := range warnings {
		l.log.Warn("zone check", "zone", c.Origin, "problem", w.Error())
	}
	if err != nil {
		return cur, err
	}
	if hadPrev && !serialNewer(z.Serial(), prev.z.Serial()) {
		l.log.Warn("zone file changed but its serial did not increase; keeping the loaded version",
			"zone", c.Origin, "serial", prev.z.Serial(), "file_serial", z.Serial())
		prev.mtime, prev.size = cur.mtime, cur.size // do not re-read it until it changes again
		return prev, nil
	}
	l.log.Info("zone loaded", "zone", c.Origin, "serial", z.Serial(), "records", z.Records, "source", c.Source())
	cur.z = z
	return cur, nil
}

// loadZone reads and checks one configured zone, returning its warnings too.
func loadZone(c config.ZoneConfig) (*zone.Zone, []zone.Problem, error) {
	r, err := c.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("zone %s: %w", c.Origin, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("zone %s: read %s: %w", c.Origin, c.Source(), err)
	}
	return zone.Load(c.Origin, c.Source(), data)
}

// CheckZone loads one zone as the server would and returns its warnings and error, for `warden check`.
func CheckZone(c config.ZoneConfig) (*zone.Zone, []zone.Problem, error) { return loadZone(c) }

// serialNewer compares SOA serials in RFC 1982 arithmetic: is a after b?
func serialNewer(a, b uint32) bool {
	return a != b && int32(a-b) > 0
}
