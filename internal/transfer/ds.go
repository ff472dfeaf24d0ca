package transfer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"codeberg.org/miekg/dns"
)

// QueryDS asks p, a server of a zone's parent, for the DS records of name, as Knot's KSK
// submission check does: the answer must be authoritative, and an answer without DS records
// (NODATA, or a referral) is an empty list, not an error.
func QueryDS(ctx context.Context, p Peer, name string) ([]*dns.DS, error) {
	name = fqdnLower(name)
	ctx, cancel := withTimeout(ctx, p.Timeout, 5*time.Second)
	defer cancel()
	q, err := newQuery(name, dns.TypeDS, nil, p.Key, dns.OpcodeQuery)
	if err != nil {
		return nil, err
	}
	resp, err := exchangeUDP(ctx, p.Addr, q)
	if err != nil {
		return nil, fmt.Errorf("DS %s from %s: %w", name, p.Addr, err)
	}
	m, err := q.checkResponse(resp)
	if err == nil && m.Truncated {
		if resp, err = exchangeTCP(ctx, p.Addr, q.wire); err == nil {
			m, err = q.checkResponse(resp)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("DS %s from %s: %w", name, p.Addr, err)
	}
	if !m.Authoritative {
		return nil, fmt.Errorf("DS %s from %s: answer is not authoritative (AA not set)", name, p.Addr)
	}
	var out []*dns.DS
	for _, rr := range m.Answer {
		if ds, ok := rr.(*dns.DS); ok && strings.EqualFold(ds.Hdr.Name, name) && ds.Hdr.Class == dns.ClassINET {
			out = append(out, ds)
		}
	}
	return out, nil
}
