// Package rrl is response rate limiting, as BIND's rate-limit and Knot's mod-rrl do it: identical
// responses (same client prefix, same kind of answer, same name) beyond a rate per second are
// dropped or, every slip-th one, sent empty with TC=1 so that a real client retries over TCP,
// which a spoofed victim never does. It blunts the reflection and amplification of UDP answers.
//
// The state is a fixed table of 64-bit words updated with compare-and-swap: bounded memory, no
// lock and no allocation per response. Each word is one key's token bucket; keys that collide
// evict each other (the one least recently seen in a group of four goes), which at worst lets an
// evicted key start again with a second's credit.
package rrl

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Class is the kind of response, part of the key: as in BIND, a flood of NXDOMAINs for random
// names under one zone is one key (the zone's), and so are the referrals to one delegation.
type Class uint8

const (
	Answer   Class = iota + 1 // NOERROR with data: the question name and type
	NoData                    // NOERROR without data: the question name and type
	NXDomain                  // the owner of the SOA record in the authority section
	Referral                  // the owner of the delegation's NS records
	Error                     // any other rcode: the client prefix alone
)

var classNames = [...]string{"", "answer", "nodata", "nxdomain", "referral", "error"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Action is what to do with one response.
type Action uint8

const (
	Send Action = iota // under the rate (or log-only)
	Drop               // over the rate: no response
	Slip               // over the rate: an empty response with TC=1
)

// Config is the limiter's configuration.
type Config struct {
	// Rate is the responses per second per key; a key starts with (and saves up at most) one
	// second's worth.
	Rate int
	// Slip: every Slip-th response over the rate is sent truncated; 0 never, 1 always.
	Slip int
	// Window is how often the counters are logged while responses are being limited.
	Window time.Duration
	// IPv4Prefix and IPv6Prefix group clients into one key: a /24 and a /56 by default.
	IPv4Prefix, IPv6Prefix int
	// LogOnly counts and logs what would be limited but sends every response.
	LogOnly bool
}

// Counters are the responses limited since the limiter was made (or, after ContinueFrom, since
// the first limiter of the chain was).
type Counters struct {
	// Dropped and Slipped are the responses over the rate not sent and sent truncated (TC=1).
	Dropped, Slipped uint64
	// WouldLimit are those over the rate in log-only mode, which were sent all the same.
	WouldLimit uint64
}

// Stats is a snapshot of the limiter: its counters and how full its table is.
type Stats struct {
	Counters
	// Entries are the table's words in use: keys seen and not evicted, however long ago (a
	// word stays until another key takes its place); Capacity is the table's size. Entries
	// near Capacity mean distinct keys are evicting one another, and an evicted key starts
	// again with a second's credit.
	Entries, Capacity int
}

// counterShards spreads the counters over cache lines, by key, so that workers limiting
// different keys at once do not contend on one word.
const counterShards = 16

type counterShard struct {
	dropped, slipped, wouldLimit atomic.Uint64
	_                            [64 - 3*8]byte // a cache line each
}

// Limiter holds the table. It is safe for concurrent use.
type Limiter struct {
	cfg   Config
	slots []atomic.Uint64
	mask  uint64 // groups - 1
	seed  maphash.Seed
	start time.Time
	// Per-tick credit and cap, in 1/ticksPerSecond response units (see word).
	perTick, capacity int64

	shards [counterShards]counterShard
	// base are the counts carried over from the limiter this one replaced (ContinueFrom).
	base     Counters
	lastLog  atomic.Int64 // tick of the last report
	mu       sync.Mutex   // held while reporting
	reported Counters     // at the last report
	report   func(Counters, Counters)
}

// Table geometry: 2^16 groups of 4 words, 2 MiB.
const (
	ways      = 4
	groupBits = 16
	// MaxRate bounds Rate so that a second's credit fits the word's credit field.
	MaxRate = 100000
)

// A word is tag (16 bits) | time of last update (20 bits, in ticks) | slip counter (4 bits) |
// credit (24 bits, in 1/ticksPerSecond responses, offset so that it is never negative).
// Tag 0 marks an empty word.
const (
	ticksPerSecond = 64
	tagShift       = 48
	timeShift      = 28
	timeMask       = 1<<20 - 1
	slipShift      = 24
	slipMask       = 1<<4 - 1
	creditMask     = 1<<24 - 1
	// A key not seen for longer than this starts afresh (its 20-bit time would soon wrap).
	forgetTicks = 1 << 19
)

// New returns a limiter. report, when not nil, is called at most once per window while
// responses are limited, with the counters then and their increase since the last call.
func New(cfg Config, report func(total, delta Counters)) *Limiter {
	if cfg.Rate < 1 {
		cfg.Rate = 1
	}
	cfg.Rate = min(cfg.Rate, MaxRate)
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Second
	}
	l := &Limiter{
		cfg:      cfg,
		slots:    make([]atomic.Uint64, ways<<groupBits),
		mask:     1<<groupBits - 1,
		seed:     maphash.MakeSeed(),
		start:    time.Now(),
		perTick:  int64(cfg.Rate),
		capacity: int64(cfg.Rate) * ticksPerSecond,
		report:   report,
	}
	return l
}

// Config returns the configuration in force.
func (l *Limiter) Config() Config { return l.cfg }

// ContinueFrom makes l's counters go on from prev's, so that the totals survive a change of
// configuration (which replaces the limiter). Call it before l is put in use; what prev counts
// after the call, until l replaces it, is not carried over (a few responses at most).
func (l *Limiter) ContinueFrom(prev *Limiter) {
	if prev == nil {
		return
	}
	l.base = prev.counters()
	l.reported = l.base
}

// Stats returns the counters and the table's use. The counters are read shard by shard without
// stopping the workers, so they may be a few responses apart from one another; each is exact as
// of when it was read. Counting the entries walks the table (2 MiB): for status pages and
// scrapes, not for every query.
func (l *Limiter) Stats() Stats {
	st := Stats{Counters: l.counters(), Capacity: len(l.slots)}
	for i := range l.slots {
		if l.slots[i].Load() != 0 {
			st.Entries++
		}
	}
	return st
}

// counters sums the shards.
func (l *Limiter) counters() Counters {
	c := l.base
	for i := range l.shards {
		sh := &l.shards[i]
		c.Dropped += sh.dropped.Load()
		c.Slipped += sh.slipped.Load()
		c.WouldLimit += sh.wouldLimit.Load()
	}
	return c
}

// Key is what identifies identical responses; Name is lower case, in wire form.
type Key struct {
	Client netip.Addr
	Class  Class
	QType  uint16
	Name   []byte
}

// Check counts one response for key at now and says what to do with it.
func (l *Limiter) Check(k *Key, now time.Time) Action {
	h := l.hash(k)
	tick := uint64(now.Sub(l.start) * ticksPerSecond / time.Second)
	over, slip := l.take(h, tick)
	if !over {
		return Send
	}
	act := Drop
	if slip {
		act = Slip
	}
	// The shard comes from bits of the hash the table index does not use.
	sh := &l.shards[h>>groupBits%counterShards]
	if l.cfg.LogOnly {
		sh.wouldLimit.Add(1)
		act = Send
	} else if act == Slip {
		sh.slipped.Add(1)
	} else {
		sh.dropped.Add(1)
	}
	l.maybeReport(int64(tick))
	return act
}

// hash is the key's hash: the client's prefix, the class, the type and the name.
func (l *Limiter) hash(k *Key) uint64 {
	var buf [16 + 3 + 255]byte
	a := k.Client.Unmap()
	if a.Is4() {
		p, _ := a.Prefix(l.cfg.IPv4Prefix)
		b := p.Addr().As4()
		copy(buf[:], b[:])
	} else {
		p, _ := a.Prefix(l.cfg.IPv6Prefix)
		b := p.Addr().As16()
		copy(buf[:], b[:])
	}
	buf[16] = byte(k.Class)
	buf[17], buf[18] = byte(k.QType>>8), byte(k.QType)
	n := 19 + copy(buf[19:], k.Name)
	return maphash.Bytes(l.seed, buf[:n])
}

// take debits one response from the bucket of hash h at tick and says whether it was over the
// rate and, if so, whether it is the one in Slip to send truncated.
func (l *Limiter) take(h, tick uint64) (over, slip bool) {
	group := l.slots[(h&l.mask)*ways : (h&l.mask)*ways+ways]
	tag := h >> tagShift
	if tag == 0 {
		tag = 1
	}
	now := tick & timeMask
	// A bounded number of tries: under heavy contention for one word, the response is let
	// through rather than the worker held.
	for range 8 {
		w, old, found := l.find(group, tag, now)
		var credit int64
		var slips uint64
		if found {
			age := int64((now - (old >> timeShift & timeMask)) & timeMask)
			credit = int64(old&creditMask) - l.capacity // stored offset by capacity
			if age >= forgetTicks {
				credit, slips = l.capacity, 0
			} else {
				credit = min(l.capacity, credit+age*l.perTick)
				slips = old >> slipShift & slipMask
			}
		} else {
			credit = l.capacity
		}
		credit -= ticksPerSecond
		over = credit < 0
		if over {
			credit = max(credit+ticksPerSecond, -l.capacity) // no debt: a response not sent costs nothing
			if l.cfg.Slip > 0 {
				slips++
				if slips >= uint64(l.cfg.Slip) {
					slips, slip = 0, true
				}
			}
		}
		next := tag<<tagShift | now<<timeShift | slips<<slipShift | uint64(credit+l.capacity)&creditMask
		if group[w].CompareAndSwap(old, next) {
			return over, slip
		}
	}
	return false, false
}

// find returns the word of tag in group, or the one to replace: an empty word, or else the one
// least recently updated.
func (l *Limiter) find(group []atomic.Uint64, tag, now uint64) (int, uint64, bool) {
	victim, oldest := 0, int64(-1)
	var victimWord uint64
	for i := range group {
		w := group[i].Load()
		if w>>tagShift == tag {
			return i, w, true
		}
		age := int64((now - (w >> timeShift & timeMask)) & timeMask)
		if w == 0 {
			age = 1 << 62
		}
		if age > oldest {
			victim, oldest, victimWord = i, age, w
		}
	}
	return victim, victimWord, false
}

// maybeReport calls report once per window at most.
func (l *Limiter) maybeReport(tick int64) {
	if l.report == nil {
		return
	}
	window := int64(l.cfg.Window * ticksPerSecond / time.Second)
	last := l.lastLog.Load()
	if last != 0 && tick-last < window || !l.lastLog.CompareAndSwap(last, max(tick, 1)) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	total := l.counters()
	delta := Counters{total.Dropped - l.reported.Dropped, total.Slipped - l.reported.Slipped, total.WouldLimit - l.reported.WouldLimit}
	l.reported = total
	l.report(total, delta)
}
