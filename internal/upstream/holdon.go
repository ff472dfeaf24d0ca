package upstream

import (
	"bytes"
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

// Detections is a snapshot of what HoldOn has seen.
type Detections struct {
	Total uint64 `json:"total"`
	// Servers and Names are the detections by server address and by query name (lower case),
	// most first, at most topDetections of each.
	Servers []DetectionCount `json:"servers,omitempty"`
	Names   []DetectionCount `json:"names,omitempty"`
}

// DetectionCount is how often injection was seen for one server or name.
type DetectionCount struct {
	Key   string `json:"key"`
	Count uint64 `json:"count"`
}

// topDetections is how many servers and names a snapshot lists.
const topDetections = 10

// Total is the number of injections detected; nil counts none.
func (h *HoldOn) Total() uint64 {
	if h == nil {
		return 0
	}
	return h.total.Load()
}

// Snapshot returns the counts; nil gives the zero value.
func (h *HoldOn) Snapshot() Detections {
	if h == nil {
		return Detections{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return Detections{Total: h.total.Load(), Servers: top(h.byServer), Names: top(h.byName)}
}

func top(m map[string]uint64) []DetectionCount {
	out := make([]DetectionCount, 0, len(m))
	for k, n := range m {
		out = append(out, DetectionCount{Key: k, Count: n})
	}
	slices.SortFunc(out, func(a, b DetectionCount) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		return bytes.Compare([]byte(a.Key), []byte(b.Key))
	})
	return out[:min(len(out), topDetections)]
}

// detected counts one injection against server for the query name (wire form) and logs it unless
// the same server and name were logged within logEvery.
func (h *HoldOn) detected(server string, qname []byte, why string) {
	h.total.Add(1)
	name := strings.ToLower(wire.NameString(qname))
	now := time.Now()
	h.mu.Lock()
	listed := countIn(h.byServer, server)
	listed = countIn(h.byName, name) && listed
	if !listed {
		h.unlisted++
	}
	key := detectionKey{server, name}
	last, seen := h.logged[key]
	log := !seen || now.Sub(last) >= h.logEvery
	if log {
		if len(h.logged) >= maxDetectionKeys {
			for k, t := range h.logged {
				if now.Sub(t) >= h.logEvery {
					delete(h.logged, k)
				}
			}
		}
		// With the table still full of recent lines, this one is not logged: the counts keep it.
		log = len(h.logged) < maxDetectionKeys || seen
		if log {
			h.logged[key] = now
		}
	}
	count := h.byServer[server]
	h.mu.Unlock()
	if log && h.log != nil {
		h.log.Warn("injected reply detected", "server", server, "name", name, "why", why, "detections_from_server", count)
	}
}

// countIn adds one to m[key] and says whether the key is in the table; a full table takes no new
// key.
func countIn(m map[string]uint64, key string) bool {
	if _, ok := m[key]; !ok && len(m) >= maxDetectionKeys {
		return false
	}
	m[key]++
	return true
}

// historyLen is how many recent replies a server's history keeps: enough for a median that one
// odd reply does not move, small enough to cost nothing per server.
const historyLen = 16

// minHistory is how many replies make a history worth judging by.
const minHistory = 3

// history is the round trips and IP TTLs of the replies accepted from one server (or from all),
// in a fixed ring.
type history struct {
	mu   sync.Mutex
	rtts [historyLen]time.Duration
	ttls [historyLen]int16 // -1: not known
	n    int               // samples held, at most historyLen
	next int
}

// add records an accepted reply.
func (h *history) add(rtt time.Duration, ttl int) {
	h.mu.Lock()
	h.rtts[h.next] = rtt
	h.ttls[h.next] = int16(ttl)
	h.next = (h.next + 1) % historyLen
	h.n = min(h.n+1, historyLen)
	h.mu.Unlock()
}

// len is the number of replies held.
func (h *history) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// usual is what the history says of the server: the median round trip, the longest one held
// (for the window), and the IP TTL most of its replies carried (-1 when none was known). ok is
// false with too few samples to judge round trips by.
type usual struct {
	rtt, longest time.Duration
	ttl          int
	ok           bool
	// stranger says the server has no history of its own yet: the round trips are every
	// server's, and nothing is known of its TTL.
	stranger bool
}

func (h *history) usual() usual {
	var rtts [historyLen]time.Duration
	var ttls [historyLen]int16
	h.mu.Lock()
	n := h.n
	copy(rtts[:], h.rtts[:n])
	copy(ttls[:], h.ttls[:n])
	h.mu.Unlock()
	u := usual{ttl: -1}
	if n >= minHistory {
		s := slices.Clone(rtts[:n])
		slices.Sort(s)
		u = usual{rtt: s[n/2], longest: s[n-1], ttl: -1, ok: true}
	}
	// The TTL is judged from the first reply on: it is the same for every reply that crossed the
	// same routers, where round trips need several replies to say what is usual.
	best := 0
	for i := range n {
		if ttls[i] < 0 {
			continue
		}
		c := 0
		for j := range n {
			if ttls[j] == ttls[i] {
				c++
			}
		}
		if c > best {
			best, u.ttl = c, int(ttls[i])
		}
	}
	return u
}

// early says a reply came well before the usual round trip: sooner than half of it, which no
// ordinary jitter explains but an injector nearer than the server does. A lead of less than
// minLead is not early: on a LAN or loopback, where a round trip is tens of microseconds, the
// scheduler's jitter is that large, and an injector so near sits beside the server.
func (u usual) early(rtt time.Duration) bool {
	return u.ok && rtt < u.rtt/2 && u.rtt-rtt >= minLead
}

// minLead is the least lead over the usual round trip that counts as early.
const minLead = 500 * time.Microsecond

// oddTTL says the reply's IP TTL is not the one the server's replies carry.
func (u usual) oddTTL(ttl int) bool { return u.ttl >= 0 && ttl >= 0 && ttl != u.ttl }

// window is how long after sending a held reply waits for a second one: to about the usual
// round trip, stretched to the slowest reply seen lately but never past twice the median, so that
// a clean answer waits at most about one round trip more.
func (u usual) window() time.Duration {
	w := max(u.rtt+u.rtt/4, u.longest)
	return min(w, 2*u.rtt) + holdSlack
}

// holdSlack covers the scheduling of the reading goroutine, which a window of a loopback round
// trip (tens of microseconds) would not.
const holdSlack = time.Millisecond

// unknownWindow is the window of the very first exchanges of the process, before any server has a
// history, and the most a server with none of its own waits: long enough for a server across a
// continent.
const unknownWindow = 250 * time.Millisecond

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
