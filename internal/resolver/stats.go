package resolver

import "warden/internal/upstream"

// Stats adds up the counters of every server asked (since the table last started afresh). SRTT,
// which does not add up, is left at zero; SRTT(server) has it per server.
func (u *Upstreams) Stats() upstream.Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	var sum upstream.Stats
	for _, p := range u.servers {
		s := p.Stats()
		sum.Queries += s.Queries
		sum.Timeouts += s.Timeouts
		sum.Mismatches += s.Mismatches
		sum.Truncated += s.Truncated
		sum.Errors += s.Errors
	}
	return sum
}
