package probe

import (
	"context"
	"fmt"
	"os"
	"strings"

	"warden/internal/upstream"
)

// Trusted answers questions over a channel an on-path attacker cannot change: an encrypted
// resolver, or a file of answers known to be right.
type Trusted interface {
	// Lookup returns the trusted answer for name and qtype. ok is false when the channel has no
	// opinion (the file does not list the name); err when the channel failed.
	Lookup(ctx context.Context, name string, qtype uint16) (a Answer, ok bool, err error)
	// String names the channel in evidence.
	String() string
}

// OpenTrusted returns the trusted channel for s: a file of known answers when s names an existing
// file, else a resolver address in any form upstream.ParseAddr takes (tls://IP:853#name,
// https://IP/path#name, IP:port), meant to be DoT or DoH. opts configures the resolver (its TLS
// roots, timeout).
func OpenTrusted(s string, opts upstream.Options) (Trusted, error) {
	if !strings.Contains(s, "://") {
		if _, err := os.Stat(s); err == nil {
			return LoadKnown(s)
		}
	}
	up, err := upstream.ParseAddrOptions(s, opts)
	if err != nil {
		return nil, fmt.Errorf("trusted channel %q is neither a readable file nor a resolver address: %w", s, err)
	}
	return &Resolver{Up: up}, nil
}

// Resolver is a trusted channel that asks a resolver, meant to be reached over DoT or DoH.
type Resolver struct {
	Up upstream.Upstream
}

var _ Trusted = (*Resolver)(nil)

func (r *Resolver) String() string { return r.Up.Addr() }

// Lookup asks the resolver with recursion desired and reduces the reply to an Answer.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) (Answer, bool, error) {
	q, err := upstream.NewQuery(name, qtype)
	if err != nil {
		return Answer{}, false, err
	}
	q.RD = true
	rep, err := r.Up.Exchange(ctx, q)
	if err != nil {
		return Answer{}, false, fmt.Errorf("trusted %s: %w", r.Up.Addr(), err)
	}
	a, err := parseAnswer(rep.Data, qtype)
	if err != nil {
		return Answer{}, false, fmt.Errorf("trusted %s: %w", r.Up.Addr(), err)
	}
	return a, true, nil
}

// Close releases the resolver's connections.
func (r *Resolver) Close() error {
	if c, ok := r.Up.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}
