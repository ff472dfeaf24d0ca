package upstream

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
)

// Hold-On (Duan et al., "Hold-On: Protecting Against On-Path DNS Poisoning", 2012): an on-path
// injector can send its forgery before the server's reply, but it cannot stop the real reply from
// arriving. A plain UDP exchange whose first matching reply comes well before the server's usual
// round trip, or with an IP TTL the server's replies do not have, keeps the socket open until
// about that round trip; a second matching reply that differs is evidence of injection. The
// exchange then prefers the reply that validates, or else the one that looks like the server
// (TTL, timing) and asks again over TCP, whose answer wins. Only the chosen reply leaves the
// exchange, so the other is never cached.

// ErrUnconfirmed comes with a non-nil Reply that was held for its IP TTL, unlike the server's, and
// that no rival followed within the window: the rival may only have been late. The caller should
// confirm over TCP (Plain does), and a different TCP answer is counted as an injection.
var ErrUnconfirmed = errors.New("upstream: a lone reply with an IP TTL unlike the server's")

// ErrInjected comes with a non-nil Reply when two different replies matched one UDP query and
// validation could not tell them apart: the Reply is the one whose IP TTL and timing look most
// like the server's, and the caller should confirm over TCP (Plain does).
var ErrInjected = errors.New("upstream: two different replies to one query (on-path injection)")

// HoldOn is the injection detection that the plain UDP exchanges of one server process share:
// what has been detected (counts per server and per name, the log) and the round trips of every
// server asked, the fallback for a server not yet known. A nil *HoldOn in Options turns the hold
// window off.
type HoldOn struct {
	log *slog.Logger
	// logEvery is how often one server and name is logged again while injection goes on.
	logEvery time.Duration

	total atomic.Uint64
	// everyServer is the RTT history of all servers together: how far servers usually are,
	// for the first exchanges with one that has no history of its own.
	everyServer history

	mu       sync.Mutex
	byServer map[string]uint64
	byName   map[string]uint64
	logged   map[detectionKey]time.Time
	// unlisted counts detections whose server or name found its table full.
	unlisted uint64
}

type detectionKey struct{ server, name string }

const (
	// maxDetectionKeys bounds each table of detections: the names come from the network, and an
	// attacker may inject for as many as it likes.
	maxDetectionKeys = 1024
	// defaultLogEvery keeps the log to one line per server and name a minute, however many
	// queries the injector answers.
	defaultLogEvery = time.Minute
)

// NewHoldOn returns the detection shared by the exchanges of one process, logging to log (nil:
// no log).
func NewHoldOn(log *slog.Logger) *HoldOn {
	return &HoldOn{
		log:      log,
		logEvery: defaultLogEvery,
		byServer: make(map[string]uint64),
		byName:   make(map[string]uint64),
		logged:   make(map[detectionKey]time.Time),
	}
}

// candidate is one reply that matched the query.
type candidate struct {
	data []byte
	rtt  time.Duration
	ttl  int
}

// looksLikeServer scores how much c looks like the server's own reply: its TTL is the usual one,
// and it did not come early.
func (c candidate) looksLikeServer(u usual) int {
	score := 0
	if u.ttl >= 0 && c.ttl == u.ttl {
		score += 2
	}
	if !u.early(c.rtt) {
		score++
	}
	return score
}

// choose picks between two different replies: the one that validates, if exactly one does;
// otherwise the one that looks more like the server, and on a tie the later one, since an
// injector wins races by sitting nearer. confirmed says validation decided.
func choose(first, second candidate, u usual, validates func([]byte) bool) (winner candidate, confirmed bool) {
	if validates != nil {
		v1, v2 := validates(first.data), validates(second.data)
		if v1 != v2 {
			if v1 {
				return first, true
			}
			return second, true
		}
	}
	if first.looksLikeServer(u) > second.looksLikeServer(u) {
		return first, false
	}
	return second, false
}

// sameAnswer says whether two replies to one question say the same: the same rcode and flags
// that matter (AA, TC), and the same records in each section in any order, since servers rotate
// RRsets. The header IDs and the question's letter case are not compared: a UDP and a TCP query
// carry their own.
func sameAnswer(a, b []byte) bool {
	ma, erra := wire.Unpack(a)
	mb, errb := wire.Unpack(b)
	if erra != nil || errb != nil {
		return false
	}
	if ma.Rcode != mb.Rcode || ma.Authoritative != mb.Authoritative || ma.Truncated != mb.Truncated {
		return false
	}
	for _, pair := range [][2][]dns.RR{{ma.Answer, mb.Answer}, {ma.Ns, mb.Ns}} {
		if !sameRecords(pair[0], pair[1]) {
			return false
		}
	}
	return true
}

// sameRecords compares two sections as sets of records, ignoring order and owner-name case.
func sameRecords(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	text := func(rrs []dns.RR) []string {
		out := make([]string, len(rrs))
		for i, rr := range rrs {
			// A caching server counts its TTLs down between the two replies.
			rr.Header().TTL = 0
			out[i] = strings.ToLower(rr.String())
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(text(a), text(b))
}
