package zones

import (
	"fmt"
	"slices"
	"strings"

	"codeberg.org/miekg/dns/dnsutil"

	"warden/internal/control"
	"warden/internal/health"
)

func canonical(name string) string { return strings.ToLower(dnsutil.Fqdn(name)) }

func errNoZone(origin string) error {
	return fmt.Errorf("%w: %s", control.ErrNoZone, canonical(origin))
}

func errNotSecondary(origin string) error {
	return fmt.Errorf("%w: %s is read from a file here; refresh and retransfer are for secondaries", control.ErrNotSecondary, canonical(origin))
}

// ZoneList describes every served zone, sorted by origin.
func (m *Manager) ZoneList() []control.ZoneStatus {
	zones := m.all()
	out := make([]control.ZoneStatus, 0, len(zones))
	for _, z := range zones {
		out = append(out, m.status(z))
	}
	slices.SortFunc(out, func(a, b control.ZoneStatus) int { return strings.Compare(a.Zone, b.Zone) })
	return out
}

func (m *Manager) status(z *Zone) control.ZoneStatus {
	c := z.conf()
	st := control.ZoneStatus{Zone: c.Origin, Role: "primary", Source: c.Source(), Catalog: z.catalog, Expired: z.expired.Load()}
	if c.IsProducedCatalog() {
		st.Source = "catalog of this server's zones"
	}
	if cur := z.cur.Load(); cur != nil {
		st.Loaded, st.Serial, st.Records = true, cur.Serial(), cur.Records
	}
	if p := z.fileErr.Load(); p != nil {
		st.LastError = (*p).Error()
	}
	z.signingStatus(&st)
	if z.journal != nil {
		if from, ok := z.journal.Oldest(); ok {
			st.JournalFrom = from
		}
	}
	if s := z.sec; s != nil {
		st.Role = "secondary"
		if z.policy {
			st.Role = "policy"
		}
		s.mu.Lock()
		st.LastRefresh, st.NextRefresh, st.ExpiresAt, st.LastError = s.lastRefresh, s.nextRefresh, s.expiresAt, s.lastErr
		prims := make([]string, len(c.Primaries))
		for i, p := range c.Primaries {
			prims[i] = p.String()
		}
		st.Source = "primaries " + strings.Join(prims, ", ")
		s.mu.Unlock()
	}
	kind := health.ZoneFile
	if z.sec != nil {
		kind = health.ZoneTransfer
	}
	if p, ok := m.trouble(kind, c.Origin).Problem(); ok && st.LastError != "" {
		st.ErrorSince, st.Failures = p.Since, p.Failures
	}
	if p, ok := m.trouble(health.ZoneSigning, c.Origin).Problem(); ok && st.SigningError != "" {
		st.SigningErrorSince = p.Since
	}
	return st
}
