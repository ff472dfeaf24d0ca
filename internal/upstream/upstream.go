// Package upstream sends one DNS query to one upstream server and returns the reply it accepted.
//
// It is the I/O edge of resolution (stage 6 of the query path): the resolver decides what to ask
// and whom, an Upstream asks over UDP, TCP, DNS over TLS or DNS over HTTPS, and every reply is
// checked against the question it answers before the caller sees it. Spoofing defences that belong
// to the transport live here: a fresh UDP socket per query with a kernel-chosen random source port,
// a random query ID, and 0x20 letter-case randomisation of the query name, all of which a reply
// must echo exactly. Each Upstream counts what happened to its queries and keeps a smoothed RTT so
// that a later server selection can prefer the fast and answering servers.
package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"warden/internal/query"
)

// Upstream sends queries to one server over one transport (or UDP with TCP fallback).
type Upstream interface {
	// Exchange sends q and returns the first reply that matches it. It returns when a matching
	// reply arrives, when ctx is done, or when the Options' Timeout passes, whichever is first.
	// Replies that do not match are dropped and counted; they never end the wait.
	Exchange(ctx context.Context, q *Query) (*Reply, error)
	// Addr is the server as it was configured, for logs and metrics.
	Addr() string
	// Stats returns a snapshot of the counters and the smoothed RTT.
	Stats() Stats
}

// Implementations that keep connections open (TCP, DoT, DoH and Plain) also implement io.Closer
// to release them; UDP holds nothing between queries.

// Errors an Exchange wraps; test with errors.Is.
var (
	// ErrTruncated comes with a non-nil Reply whose TC bit is set: the answer did not fit in the
	// UDP payload and the caller should ask again over TCP (the UDP-with-fallback Upstream that
	// ParseAddr returns for plain addresses does so itself).
	ErrTruncated = errors.New("upstream: reply truncated")
	// ErrTimeout means no matching reply arrived before the deadline.
	ErrTimeout = errors.New("upstream: timeout")
	// ErrMismatch means the only possible reply did not match the query (DoH, where one request
	// has one response). On UDP and TCP mismatched replies are dropped and counted instead.
	ErrMismatch = errors.New("upstream: reply does not match the query")
	// ErrBadQuery means the Query cannot be sent (bad name, nil query).
	ErrBadQuery = errors.New("upstream: bad query")
)

const (
	// DefaultUDPSize is the EDNS payload advertised when Query.UDPSize is 0: the size the DNS Flag
	// Day 2020 agreed on, small enough to avoid IP fragmentation on almost every path.
	DefaultUDPSize = 1232
	// DefaultTimeout bounds an Exchange whose context has no earlier deadline, so that no query
	// waits forever on a silent server.
	DefaultTimeout = 3 * time.Second
)

// Query is one question to send. The zero values of the optional fields mean the defaults.
type Query struct {
	// Name is the query name in uncompressed wire format (length-prefixed labels ending in the
	// root label). Its letter case is sent as given unless the transport randomises it (0x20).
	Name  []byte
	Type  uint16
	Class uint16 // 0 means IN
	// RD asks the server to recurse; a forwarder sets it, an iterating resolver does not.
	RD bool
	// CD asks a validating server not to check DNSSEC.
	CD bool
	// DO asks for DNSSEC records (the DO bit of the EDNS OPT record).
	DO bool
	// UDPSize is the EDNS payload advertised; 0 means DefaultUDPSize.
	UDPSize uint16
	// NoEDNS omits the OPT record, for servers that answer FORMERR to EDNS. DO and UDPSize are
	// then ignored and UDP replies are limited to 512 bytes.
	NoEDNS bool
	// Zone is the zone cut the query goes to (the bailiwick the server was chosen for), in
	// uncompressed wire format, or nil when not known. It is not sent: dnstap's query_zone
	// carries it, as BIND and Unbound fill it, so that a collector can tell which delegation an
	// upstream query followed.
	Zone []byte
}

// Reply is a reply that matched its query.
type Reply struct {
	// Data is the whole reply message as received; the caller owns it.
	Data []byte
	// Flags is the second 16-bit word of the header (QR, opcode, AA, TC, RD, RA, AD, CD, rcode).
	Flags uint16
	// Rcode is the full response code: the header's 4 bits extended by the OPT record's 8 bits.
	Rcode uint16
	// EDNS says whether the reply carried an OPT record; UDPSize is the server's payload from it.
	EDNS    bool
	UDPSize uint16
	// RTT is the time from sending the query to receiving this reply.
	RTT time.Duration
	// ttl is the IP TTL the reply arrived with over UDP with Hold-On, -1 or 0 otherwise.
	ttl int
}

// Truncated reports the TC bit: the answer did not fit.
func (r *Reply) Truncated() bool { return r.Flags&query.FlagTC != 0 }

// Authoritative reports the AA bit.
func (r *Reply) Authoritative() bool { return r.Flags&query.FlagAA != 0 }

// RecursionAvailable reports the RA bit.
func (r *Reply) RecursionAvailable() bool { return r.Flags&query.FlagRA != 0 }

// AuthenticData reports the AD bit (the server validated the answer with DNSSEC).
func (r *Reply) AuthenticData() bool { return r.Flags&query.FlagAD != 0 }

// Options configures an Upstream. The zero value is usable for UDP and TCP.
type Options struct {
	// Timeout bounds each Exchange when the context's deadline is later or absent; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// No0x20 turns off letter-case randomisation of UDP query names, for the rare server that
	// does not copy the question's case into its reply (every reply from it would be dropped).
	// The reply's question must still equal the one sent, in the case the caller gave it.
	No0x20 bool
	// TLS is the client configuration for DoT and DoH: RootCAs (nil means the system roots) and
	// ServerName (the name the certificate must carry; set by ParseAddr from the address). It is
	// cloned, never modified.
	TLS *tls.Config
	// DoHGet sends DoH queries with GET ?dns= instead of POST, which HTTP caches can serve.
	DoHGet bool
	// Tap, when set, is shown every query sent and the reply accepted (dnstap).
	Tap Tap
	// HoldOn, when set, makes plain UDP exchanges watch for a second, different reply to the same
	// query (on-path injection, holdon.go) and count what they find in it; nil turns that off.
	HoldOn *HoldOn
	// Validates says whether a reply's records pass DNSSEC validation, for choosing between two
	// different replies and for using a reply that validates without holding it. nil means
	// validation cannot tell, and so does false: a reply may fail only for want of keys.
	Validates func(reply []byte) bool
}

func (o *Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

// deadline is the earlier of ctx's deadline and now plus the configured timeout.
func (o *Options) deadline(ctx context.Context, now time.Time) time.Time {
	d := now.Add(o.timeout())
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}
