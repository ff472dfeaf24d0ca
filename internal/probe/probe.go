// Package probe measures DNS tampering from the outside: for names and resolvers it finds forged
// replies racing real ones, replies from addresses that run no DNS server, answers inside known
// forged address lists, and answers that differ from a trusted channel (DoT, DoH or a file of
// known answers). It stands beside the query path rather than in it: `warden probe` uses it to
// show where the network between a client and its resolver lies, and a Locator, when given, finds
// the hop at which forged replies start.
package probe

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"codeberg.org/miekg/dns"
)

// Verdict is the outcome for one (name, resolver) pair.
type Verdict string

const (
	Consistent       Verdict = "consistent"        // nothing suspicious seen
	Injected         Verdict = "injected"          // a reply that the resolver cannot have sent
	Redirected       Verdict = "redirected"        // addresses outside the trusted answer's networks
	NXDomainInjected Verdict = "nxdomain-injected" // NXDOMAIN for a name the trusted side resolves
	Timeout          Verdict = "timeout"           // no reply at all
	ServFail         Verdict = "servfail"          // the resolver failed (SERVFAIL, REFUSED, ...)
	// Filtered is filtering the resolver declares with an Extended DNS Error (FilterCodes): seen
	// and reported, but not tampering.
	Filtered Verdict = "filtered"
)

// Tampered reports whether v is evidence of tampering, as opposed to a clean or failed probe.
func (v Verdict) Tampered() bool {
	return v == Injected || v == Redirected || v == NXDomainInjected
}

// Result is the verdict for one name, type and resolver, with what it rests on.
type Result struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Resolver string   `json:"resolver"`
	Verdict  Verdict  `json:"verdict"`
	Evidence string   `json:"evidence"`          // human-readable: what was seen
	Answers  []string `json:"answers,omitempty"` // addresses the resolver gave (the first reply)
	Trusted  []string `json:"trusted,omitempty"` // addresses the trusted channel gave
	Hop      int      `json:"hop,omitempty"`     // set by localisation
	HopAddr  string   `json:"hop_addr,omitempty"`
}

// Target is one pair to probe.
type Target struct {
	Name     string // as CanonicalName returns it
	Type     uint16
	Resolver netip.AddrPort
	// Dark marks an address that runs no DNS server: any reply from it is injected.
	Dark bool
}

// Default limits of a Prober.
const (
	DefaultHold        = 500 * time.Millisecond
	DefaultTimeout     = 3 * time.Second
	DefaultConcurrency = 16
)

// Prober probes targets. The zero value probes with the defaults and no comparison.
type Prober struct {
	Trusted Trusted // nil: answers are not compared with a trusted channel
	Forged  *Forged // nil: no known forged addresses
	Locator Locator // nil: tampered pairs are not localised
	// Hold is how long to keep listening after the first reply for a second, different one;
	// 0 means DefaultHold.
	Hold time.Duration
	// Timeout bounds the wait for the first reply and each trusted lookup; 0 means DefaultTimeout.
	Timeout time.Duration
	// Concurrency bounds the pairs probed at once; 0 means DefaultConcurrency.
	Concurrency int
	// Progress, when set, is called after each pair with the count done and the total, from one
	// goroutine at a time.
	Progress func(done, total int)
}

// trustedKey is one question asked of the trusted channel.
type trustedKey struct {
	name  string
	qtype uint16
}

// trustedAnswer is the trusted channel's answer to one question; ok false means no opinion.
type trustedAnswer struct {
	a   Answer
	ok  bool
	err error
}

// Run probes every target, at most Concurrency at once, and returns the results in the order of
// targets. The trusted channel is asked once per name and type, before the probes, so that a slow
// trusted resolver does not stretch the probes' timing.
func (p *Prober) Run(ctx context.Context, targets []Target) []Result {
	trusted := p.lookupTrusted(ctx, targets)
	results := make([]Result, len(targets))
	var mu sync.Mutex
	done := 0
	p.each(len(targets), func(i int) {
		t := targets[i]
		results[i] = p.probe(ctx, t, trusted[trustedKey{t.Name, t.Type}])
		if p.Progress != nil {
			mu.Lock()
			done++
			p.Progress(done, len(targets))
			mu.Unlock()
		}
	})
	return results
}

// Probe probes one target.
func (p *Prober) Probe(ctx context.Context, t Target) Result {
	var ta trustedAnswer
	if p.Trusted != nil {
		ta = p.askTrusted(ctx, t.Name, t.Type)
	}
	return p.probe(ctx, t, ta)
}

func (p *Prober) lookupTrusted(ctx context.Context, targets []Target) map[trustedKey]trustedAnswer {
	out := map[trustedKey]trustedAnswer{}
	if p.Trusted == nil {
		return out
	}
	var keys []trustedKey
	for _, t := range targets {
		k := trustedKey{t.Name, t.Type}
		if _, dup := out[k]; !dup {
			out[k] = trustedAnswer{}
			keys = append(keys, k)
		}
	}
	answers := make([]trustedAnswer, len(keys))
	p.each(len(keys), func(i int) { answers[i] = p.askTrusted(ctx, keys[i].name, keys[i].qtype) })
	for i, k := range keys {
		out[k] = answers[i]
	}
	return out
}

func (p *Prober) askTrusted(ctx context.Context, name string, qtype uint16) trustedAnswer {
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	a, ok, err := p.Trusted.Lookup(ctx, name, qtype)
	return trustedAnswer{a: a, ok: ok, err: err}
}

// each runs fn(0..n-1) on at most Concurrency goroutines and returns when all are done.
func (p *Prober) each(n int, fn func(i int)) {
	workers := p.Concurrency
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func (p *Prober) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

func (p *Prober) hold() time.Duration {
	if p.Hold > 0 {
		return p.Hold
	}
	return DefaultHold
}

func (p *Prober) probe(ctx context.Context, t Target, ta trustedAnswer) Result {
	r := Result{Name: t.Name, Type: typeName(t.Type), Resolver: t.Resolver.String()}
	if ta.ok {
		r.Trusted = ta.a.addrStrings()
	}
	out, err := race(ctx, t.Resolver, t.Name, t.Type, p.timeout(), p.hold())
	if err != nil && len(out.replies) == 0 {
		r.Verdict, r.Evidence = Timeout, fmt.Sprintf("no reply: %v", err)
		return r
	}
	if len(out.replies) > 0 {
		r.Answers = out.replies[0].answer.addrStrings()
	}
	r.Verdict, r.Evidence = judge(t.Dark, out, ta, p.Forged, p.trustedName())
	if out.strays > 0 {
		r.Evidence += fmt.Sprintf("; %d stray datagram(s) ignored", out.strays)
	}
	if r.Verdict.Tampered() && p.Locator != nil {
		p.locate(ctx, t, &r)
	}
	return r
}

func (p *Prober) trustedName() string {
	if p.Trusted == nil {
		return ""
	}
	return p.Trusted.String()
}

func (p *Prober) locate(ctx context.Context, t Target, r *Result) {
	hop, addr, err := p.Locator.Locate(ctx, t.Resolver, t.Name, t.Type)
	if err != nil {
		r.Evidence += fmt.Sprintf("; not located: %v", err)
		return
	}
	r.Hop = hop
	if addr.IsValid() {
		r.HopAddr = addr.String()
	}
}

func typeName(qtype uint16) string {
	if s, ok := dns.TypeToString[qtype]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", qtype)
}
