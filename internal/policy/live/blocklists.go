package live

import (
	"context"
	"fmt"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/config"
	"warden/internal/policy"
	"warden/internal/policy/blocklist"
)

// DefaultURLRefresh is how often a list from a URL is fetched again when its configuration does
// not say: list publishers update about daily.
const DefaultURLRefresh = 24 * time.Hour

// nullTTL is the TTL of the 0.0.0.0 and :: answers of null blocking: short, as AdGuard Home's
// default, so that a name taken off a list resolves again soon.
const nullTTL = 10

// BlocklistSource turns one configured blocklist into the Fetcher's source. A file whose
// configuration gives no refresh is checked every fileRefresh (reload.watch_interval: read again
// only when its size or modification time changed; 0 never).
func BlocklistSource(c config.BlocklistConfig, fileRefresh time.Duration) blocklist.Source {
	f, _ := blocklist.ParseFormat(c.Format) // validated with the configuration; "" is auto
	refresh := c.Refresh
	if refresh == 0 {
		refresh = fileRefresh
		if c.IsURL() {
			refresh = DefaultURLRefresh
		}
	}
	return blocklist.Source{Location: c.Source, Format: f, Refresh: refresh}
}

// BlocklistSet compiles a loaded list into the rule set the configuration asks for.
func BlocklistSet(c config.BlocklistConfig, l *blocklist.List) (*policy.RuleSet, error) {
	opts := policy.Options{Name: c.Name, Shadow: c.Shadow, Clients: c.Clients, Blocklist: true}
	action, data := policy.NXDomain, []dns.RR(nil)
	switch c.Action {
	case "nodata":
		action = policy.NoData
	case "null":
		action, data = policy.Local, policy.NullAnswer(nullTTL)
	}
	return policy.NewBlocklistSet(blocklist.Compile(l), opts, action, data)
}

// CheckBlocklist loads one configured blocklist once, as the server would (a URL fetched with a
// timeout of timeout), and compiles it, for `warden check`. The list tells what was skipped.
func CheckBlocklist(ctx context.Context, c config.BlocklistConfig, timeout time.Duration) (*blocklist.List, *policy.RuleSet, error) {
	f := &blocklist.Fetcher{Timeout: timeout}
	l, err := f.Fetch(ctx, BlocklistSource(c, 0))
	if err != nil {
		return nil, nil, fmt.Errorf("blocklist %s: %w", c.Name, err)
	}
	s, err := BlocklistSet(c, l)
	if err != nil {
		return l, nil, err
	}
	return l, s, nil
}
