package probe

import (
	"fmt"
	"strings"
	"time"

	"codeberg.org/miekg/dns"
)

// judge turns what was seen into a verdict and its evidence. The checks run from the strongest
// evidence to the weakest: a reply that cannot have come from the resolver proves injection
// whatever it says, a listed forged address proves it without a trusted channel, an Extended DNS
// Error of filtering is the resolver's own account of the answer, and only then is the answer
// compared with the trusted one.
func judge(dark bool, out raceOutcome, ta trustedAnswer, forged *Forged, trustedName string) (Verdict, string) {
	if dark {
		if len(out.replies) == 0 {
			return Consistent, "no reply, as expected from an address that runs no DNS server"
		}
		return Injected, "reply from an address that runs no DNS server: " + listReplies(out.replies)
	}
	if len(out.replies) == 0 {
		return Timeout, "no reply"
	}
	if len(out.replies) > 1 {
		return Injected, fmt.Sprintf("%d different replies to one query (the first is usually forged): %s",
			len(out.replies), listReplies(out.replies))
	}
	got := out.replies[0].answer
	if ip, p, ok := forged.Match(got.Addrs); ok {
		return Injected, fmt.Sprintf("answer %s is in the forged list (%s)", ip, p)
	}
	// The resolver says it filtered the name: whatever the answer, it is not hidden, so it is
	// neither compared with the trusted one nor counted as tampering.
	if got.Filter != nil {
		return Filtered, fmt.Sprintf("resolver declares filtering: %s; answer %s", got.Filter, got)
	}
	if got.Rcode != dns.RcodeSuccess && got.Rcode != dns.RcodeNameError {
		return ServFail, "resolver answered " + rcodeName(got.Rcode)
	}
	if trustedName == "" {
		return Consistent, fmt.Sprintf("one reply, %s; no trusted channel to compare with", got)
	}
	if ta.err != nil {
		return Consistent, fmt.Sprintf("one reply, %s; not compared: %v", got, ta.err)
	}
	if !ta.ok {
		return Consistent, fmt.Sprintf("one reply, %s; %s has no answer to compare with", got, trustedName)
	}
	want := ta.a
	versus := fmt.Sprintf("resolver %s, trusted %s", got, want)
	switch {
	case got.Equal(want):
		return Consistent, "same answer as trusted: " + got.String()
	case want.Rcode != dns.RcodeSuccess && want.Rcode != dns.RcodeNameError:
		return Consistent, fmt.Sprintf("resolver %s; trusted channel answered %s, not compared", got, rcodeName(want.Rcode))
	case got.Rcode == dns.RcodeNameError && len(want.Addrs) > 0:
		return NXDomainInjected, "NXDOMAIN where the name exists: " + versus
	case got.Rcode == dns.RcodeNameError:
		return Consistent, "NXDOMAIN, and trusted has no addresses: " + versus
	case sameNetwork(got.Addrs, want.Addrs):
		return Consistent, "same networks as trusted (CDN): " + versus
	}
	return Redirected, versus
}

// listReplies describes replies in arrival order.
func listReplies(rs []seen) string {
	parts := make([]string, len(rs))
	for i, s := range rs {
		parts[i] = fmt.Sprintf("#%d after %s: %s", i+1, s.after.Round(100*time.Microsecond), s.answer)
		if s.copies > 1 {
			parts[i] += fmt.Sprintf(" (%d copies)", s.copies)
		}
	}
	return strings.Join(parts, "; ")
}
