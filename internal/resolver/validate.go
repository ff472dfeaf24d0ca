package resolver

import (
	"context"
	"fmt"
	"slices"

	"codeberg.org/miekg/dns"

	"warden/internal/validator"
)

// Validation is the DNSSEC validation of a Resolver: on when Anchors holds a trust anchor.
type Validation struct {
	Anchors *validator.Anchors
	Options validator.Options
	// Replies, when set, is pointed at the resolver's chain once it is made: the Exchanger's
	// Hold-On asks it (Upstreams.Validates) whether a reply is proven by keys already known.
	// Only the iterating resolver binds it; forwarded zones have their own (pipeline.Forward).
	Replies *validator.ReplyCheck
}

// Validating reports whether the resolver checks DNSSEC.
func (rv *Resolver) Validating() bool { return rv.chain != nil }

// validate checks a finished resolution's answer along the chain of trust. Failed resolutions
// carry no data to check.
func (rv *Resolver) validate(ctx context.Context, q Question, res Result) Result {
	if rv.chain == nil || (res.Rcode != dns.RcodeSuccess && res.Rcode != dns.RcodeNameError) {
		return res
	}
	res.Security = rv.chain.Response(ctx, q.Name, q.Type, res.Rcode, res.Answer, slices.Concat(res.Ns, res.Proof))
	return res
}

// synthesise answers q from the NSEC records of secure zones already validated (RFC 8198), when
// they prove it does not exist or has no such type; ok is false otherwise.
func (rv *Resolver) synthesise(q Question) (Result, bool) {
	if rv.chain == nil {
		return Result{}, false
	}
	syn, ok := rv.chain.Synthesise(q.Name, q.Type)
	if !ok {
		return Result{}, false
	}
	return SynthesisedResult(syn), true
}

// SynthesisedResult is a negative answer made from validated NSEC records, as a resolution's
// result: the SOA in Ns, the rest in Proof, secure.
func SynthesisedResult(syn validator.Synthesised) Result {
	res := Result{Rcode: syn.Rcode, Security: validator.Result{State: validator.Secure}}
	for _, rr := range syn.Ns {
		if _, ok := rr.(*dns.SOA); ok {
			res.Ns = append(res.Ns, rr)
		} else {
			res.Proof = append(res.Proof, rr)
		}
	}
	return res
}

// keyFetcher resolves the DS and DNSKEY questions of the chain walk with the resolver's own
// iteration, unvalidated: the chain checks what they return.
type keyFetcher struct{ rv *Resolver }

func (f keyFetcher) Fetch(ctx context.Context, name string, qtype uint16) (validator.Reply, error) {
	rv := f.rv
	res := rv.run(ctx, newResolution(Question{Name: name, Type: qtype}, rv.c.Hints, rv.c.Limits, rv.c.Delegations))
	if res.Rcode != dns.RcodeSuccess && res.Rcode != dns.RcodeNameError {
		return validator.Reply{}, fmt.Errorf("%s %s: rcode %d", name, dns.TypeToString[qtype], res.Rcode)
	}
	return validator.Reply{Rcode: res.Rcode, Answer: res.Answer, Ns: slices.Concat(res.Ns, res.Proof)}, nil
}

// SetTrustAnchors puts other trust anchors in force (RFC 5011 updates); nothing when the
// resolver does not validate.
func (rv *Resolver) SetTrustAnchors(a *validator.Anchors) {
	if rv.chain != nil {
		rv.chain.SetAnchors(a)
	}
}

// FetchKeys resolves the DNSKEY RRset of zone with its signatures, unvalidated, for the
// trust anchor's own upkeep.
func (rv *Resolver) FetchKeys(ctx context.Context, zone string) (validator.Reply, error) {
	return keyFetcher{rv}.Fetch(ctx, zone, dns.TypeDNSKEY)
}

// TrustAnchors returns the trust anchors in force, nil when the resolver does not validate.
func (rv *Resolver) TrustAnchors() *validator.Anchors {
	if rv.chain == nil {
		return nil
	}
	return rv.chain.Anchors()
}
