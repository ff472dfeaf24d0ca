package upstream

import (
	"slices"
	"sync"
	"time"
)

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
