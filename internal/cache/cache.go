// Package cache is the resolver's answer cache, stage 5 of the query path: the resolver stores the
// responses it obtained upstream (Put), and the pipeline answers a client query from them before
// resolving (Get). An entry holds one response for (name, type, class, DO bit) as wire bytes laid out
// for that question, with the offset of every TTL, so a hit is a copy plus patching the ID, flags,
// the question's letter case and the remaining TTLs, without allocating.
//
// Memory is bounded: the cache is split into shards, each with its own byte budget. Writers take the
// shard's lock; readers take none: they walk hash chains of atomic pointers to immutable entries, so
// lookups scale with cores even when they all want one hot name. Eviction is second chance (CLOCK),
// an approximation of LRU whose only write on a hit is setting one flag.
package cache

import (
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
	"warden/internal/wire"
)

// Config bounds the cache. The zero value of each field selects its default.
type Config struct {
	// MaxBytes bounds the memory of all entries, estimated overhead included; 32 MiB when 0.
	MaxBytes int64
	// Shards is the number of independently locked parts, rounded up to a power of two; twice
	// GOMAXPROCS when 0.
	Shards int
	// MinTTL and MaxTTL clamp how long a positive answer is kept: 0 and 1 day when 0.
	MinTTL, MaxTTL time.Duration
	// NegativeMaxTTL caps how long NXDOMAIN and NODATA answers are kept (RFC 2308 §5): 3 hours
	// when 0.
	NegativeMaxTTL time.Duration
	// StaleTTL is how long past its expiry an entry may still be served stale (RFC 8767) through
	// GetStale: 1 day when 0; a negative value turns serving stale off.
	StaleTTL time.Duration
	// Limits are the server's rendering limits: a hit advertises and fits its EDNS payload as
	// every other answer does. A UDPPayload below 512 selects 1232.
	Limits wire.Limits
	// Now is the clock; time.Now when nil. Tests pass a fake one. A hit takes the time from the
	// request's Received stamp instead only when Now is nil: the listeners read the stamp from
	// time.Now, and a stamp is worth nothing beside times read from another clock.
	Now func() time.Time
}

// Defaults applied by New.
const (
	DefaultMaxBytes       = 32 << 20
	DefaultMaxTTL         = 24 * time.Hour
	DefaultNegativeMaxTTL = 3 * time.Hour
	DefaultStaleTTL       = 24 * time.Hour
	// StaleAnswerTTL is the TTL of records served stale (RFC 8767 §4 recommends 30 seconds).
	StaleAnswerTTL = 30
	// DefaultUDPPayload is the EDNS payload of Config.Limits when none is set (the DNS flag day
	// 2020 value).
	DefaultUDPPayload = 1232
)

// Rank is how trustworthy the data of a response is (RFC 2181 §5.4.1), lowest first. A Put never
// replaces an unexpired entry of higher rank.
type Rank uint8

const (
	// RankAdditional: data taken from the additional section of some response.
	RankAdditional Rank = iota + 1
	// RankAuthority: data from the authority section of a non-authoritative answer.
	RankAuthority
	// RankAnswer: the answer section of a non-authoritative answer.
	RankAnswer
	// RankAuthAnswer: the answer section of an authoritative answer (AA=1).
	RankAuthAnswer
)

// Status says what Get found.
type Status uint8

const (
	// Miss: nothing usable; resolve.
	Miss Status = iota
	// Hit: a fresh answer was rendered.
	Hit
	// Prefetch: a fresh answer was rendered, but under a tenth of its lifetime is left. Only one
	// caller per entry sees Prefetch; it should refresh the entry in the background, so popular
	// names never expire (as Unbound's prefetch does).
	Prefetch
	// Stale: the entry has expired, but is within StaleTTL and the caller asked for stale data
	// (RFC 8767); records carry a TTL of StaleAnswerTTL.
	Stale
)

// Found says whether a response was rendered.
func (s Status) Found() bool { return s != Miss }

func (s Status) String() string {
	switch s {
	case Hit:
		return "hit"
	case Prefetch:
		return "prefetch"
	case Stale:
		return "stale"
	}
	return "miss"
}

// Key identifies an entry: the lower-case wire question name, type, class and the DO bit, since a
// response for a DO query carries DNSSEC records the others must not get.
type Key struct {
	Name  []byte
	Type  uint16
	Class uint16
	DO    bool
}

// KeyOf returns the key of a parsed request. The name aliases req; nothing is allocated.
func KeyOf(req *query.Request) Key {
	return Key{Name: req.Lower(), Type: req.QType, Class: req.QClass, DO: req.DO}
}

// Cache is safe for concurrent use.
type Cache struct {
	seed     maphash.Seed // keyed per cache: clients choose names and must not choose collisions
	shards   []shard
	shift    uint
	now      func() time.Time
	stamps   bool // hits use query.Request.Received: now is the clock the listeners read
	minTTL   uint32
	maxTTL   uint32
	negTTL   uint32
	stale    int64 // nanoseconds; 0 when off
	limits   wire.Limits
	maxEntry int64
}

type shard struct {
	mu sync.Mutex // writers only
	// buckets heads the hash chains. Its size is fixed when the shard is made, from the byte
	// budget, so readers never see it change; chains stay short because entries are large.
	buckets []atomic.Pointer[entry]
	mask    uint64
	n       int
	head    *entry // most recently inserted or given a second chance; head.prev is the oldest
	bytes   int64
	max     int64
	_       [64]byte // keep shards on separate cache lines
}

// entry is immutable once published in a chain, except for its flags, its chain link and its list
// links (the last two written only under the shard lock). A reader that holds an entry removed
// meanwhile still renders a consistent response and still finds the rest of the chain from it.
type entry struct {
	// t is the answer as every renderer takes it, built for exactly this question name (so
	// without Fixups), RA set. A hit hands it to wire.Limits.RenderAged as it is: putting a
	// template together from its parts cost about 10 ns a hit. Its Tail's backing array holds the
	// lower-case question name right after the sections (see name), so the name needs no slice
	// of its own.
	t wire.Template

	hash   uint64
	stored int64 // unix nanoseconds; the lifetime is expire - stored
	expire int64

	chain      atomic.Pointer[entry] // next in the hash chain
	prev, next *entry

	qtype, qclass uint16
	do            bool
	rank          Rank
	linked        bool        // in the shard; guarded by the shard lock
	secure        bool        // DNSSEC-validated: AD=1 for clients that ask for it
	used          atomic.Bool // second chance: set by hits, cleared by the eviction sweep
	prefetched    atomic.Bool // Prefetch was reported once
}

// entryOverhead estimates what an entry costs beyond its byte slices: the struct and the allocator's
// rounding of its allocations. The struct is 192 bytes, an allocation class of its own; a field
// more puts it in the next one, 16 bytes up.
const entryOverhead = int64(unsafe.Sizeof(entry{})) + 4*16

// bytesPerBucket sizes the hash table: about one bucket per smallest likely entry.
const bytesPerBucket = 256

// New returns an empty cache.
func New(cfg Config) *Cache {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 2 * runtime.GOMAXPROCS(0)
	}
	n, shift := 1, uint(64)
	for n < cfg.Shards && n < 1<<16 {
		n <<= 1
		shift--
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.NegativeMaxTTL <= 0 {
		cfg.NegativeMaxTTL = DefaultNegativeMaxTTL
	}
	if cfg.StaleTTL == 0 {
		cfg.StaleTTL = DefaultStaleTTL
	}
	stamps := cfg.Now == nil
	if stamps {
		cfg.Now = time.Now
	}
	if cfg.Limits.UDPPayload < 512 {
		cfg.Limits.UDPPayload = DefaultUDPPayload
	}
	c := &Cache{
		seed:   maphash.MakeSeed(),
		shards: make([]shard, n),
		shift:  shift,
		now:    cfg.Now,
		stamps: stamps,
		minTTL: seconds(cfg.MinTTL),
		maxTTL: seconds(cfg.MaxTTL),
		negTTL: seconds(cfg.NegativeMaxTTL),
		limits: cfg.Limits,
	}
	if cfg.StaleTTL > 0 {
		c.stale = int64(cfg.StaleTTL)
	}
	per := cfg.MaxBytes / int64(n)
	nb := int64(16)
	for nb*bytesPerBucket < per && nb < 1<<24 {
		nb <<= 1
	}
	// The bucket array is part of the bound.
	per -= nb * int64(unsafe.Sizeof(atomic.Pointer[entry]{}))
	c.maxEntry = per
	for i := range c.shards {
		c.shards[i].buckets = make([]atomic.Pointer[entry], nb)
		c.shards[i].mask = uint64(nb - 1)
		c.shards[i].max = per
	}
	return c
}

func seconds(d time.Duration) uint32 {
	s := d / time.Second
	if s < 0 {
		return 0
	}
	if s > 1<<31-1 {
		return 1<<31 - 1
	}
	return uint32(s)
}

// Hash returns the 64-bit hash of k under this cache's seed.
func (c *Cache) Hash(k Key) uint64 {
	h := maphash.Bytes(c.seed, k.Name)
	x := uint64(k.Type)<<32 | uint64(k.Class)<<1
	if k.DO {
		x |= 1
	}
	h ^= x * 0x9E3779B97F4A7C15
	h ^= h >> 31
	return h * 0xBF58476D1CE4E5B9
}

func (c *Cache) shard(h uint64) *shard {
	if c.shift == 64 {
		return &c.shards[0]
	}
	return &c.shards[h>>c.shift]
}

func (e *entry) matches(k Key) bool {
	return e.qtype == k.Type && e.qclass == k.Class && e.do == k.DO && string(e.name()) == string(k.Name)
}

// name returns the lower-case question name, stored past the end of the sections in the same array.
func (e *entry) name() []byte {
	n := len(e.t.Tail)
	return e.t.Tail[n : n+int(e.t.QNameLen)]
}

// size is what the entry counts against its shard's budget.
func (e *entry) size() int64 {
	return int64(cap(e.t.Tail)) + int64(cap(e.t.TTLs))*int64(unsafe.Sizeof(wire.TTL{})) +
		int64(cap(e.t.Cuts))*int64(unsafe.Sizeof(wire.Cut{})) + entryOverhead
}

// ErrTooLarge is returned by Put for a response bigger than one shard's budget.
var ErrTooLarge = errors.New("response is larger than a cache shard")

// Put validates the upstream response msg and stores it under its question. The DO bit of the key
// is the DO bit of the response's OPT record: a server echoes the DO bit of the query (RFC 3225 §3),
// so a response to a DO query is stored for DO queries only. msg is not retained.
//
// Put returns an error wrapping ErrUncacheable for well-formed responses that must not be cached:
// rcodes other than NOERROR and NXDOMAIN, TC=1, negative answers without SOA. SERVFAIL is among
// them so that a failure never displaces data that could still be served stale. Malformed responses
// get other errors, naming what is wrong and its byte offset. A response with a lifetime of zero, or one that
// meets an unexpired entry of higher rank, is dropped without error.
func (c *Cache) Put(msg []byte, rank Rank) error {
	b := builders.Get().(*wire.Builder)
	defer builders.Put(b)
	p, err := parse(msg, b)
	if err != nil {
		return err
	}
	return c.store(p, rank)
}

// builders keeps the builders of entries between Puts: an entry copies what it keeps.
var builders = sync.Pool{New: func() any { return wire.NewStoredBuilder(nil) }}

// Answer is a resolved answer to store with PutAnswer: the question, the DO bit of the query it was
// resolved for, and the records a resolver gives.
type Answer struct {
	Name              []byte // wire form; not retained
	Type, Class       uint16
	DO                bool
	Rcode             uint16
	Answer, Ns, Extra []dns.RR
	// Secure says the answer was validated with DNSSEC: hits for clients that set DO or AD get
	// AD=1 (RFC 6840 §5.8), and it is never validated again.
	Secure bool
}

// PutAnswer stores a resolver's answer under its question, as Put stores a response: the same
// rules, but the entry is built straight from the records, without packing a message to read back.
func (c *Cache) PutAnswer(a Answer, rank Rank) error {
	if a.Rcode != rcodeNoError && a.Rcode != rcodeNXDomain {
		return fmt.Errorf("%w: rcode %d", ErrUncacheable, a.Rcode)
	}
	if meta(a.Type) {
		return fmt.Errorf("%w: meta query type %d", ErrUncacheable, a.Type)
	}
	if len(a.Name) > wire.MaxNameLen {
		return fmt.Errorf("question name of %d bytes", len(a.Name))
	}
	p := &packed{name: wire.Lower(make([]byte, 0, len(a.Name)), a.Name), qtype: a.Type, qclass: a.Class,
		do: a.DO, rcode: uint8(a.Rcode), secure: a.Secure}
	p.negative = a.Rcode == rcodeNXDomain || len(a.Answer) == 0
	life := newLifetime(p.negative)
	for i, rr := range slices.Concat(a.Answer, a.Ns) {
		var minimum uint32
		soa, ok := rr.(*dns.SOA)
		if ok {
			minimum = soa.Minttl
		}
		life.add(i >= len(a.Answer), dns.RRToType(rr), rr.Header().TTL, minimum)
	}
	var err error
	if p.ttl, err = life.result(); err != nil {
		return err
	}
	b := builders.Get().(*wire.Builder)
	defer builders.Put(b)
	b.ResetStored(p.name)
	b.SetRcode(p.rcode, false)
	b.SetRA()
	for _, s := range [...]struct {
		s   wire.Section
		rrs []dns.RR
	}{{wire.Answer, a.Answer}, {wire.Authority, a.Ns}, {wire.Additional, a.Extra}} {
		if err := b.AddSection(s.s, s.rrs); err != nil {
			return err
		}
	}
	p.t = b.Finish()
	return c.store(p, rank)
}

// store keeps a validated answer, unless its lifetime is zero or an unexpired entry of higher rank
// holds its key.
func (c *Cache) store(p *packed, rank Rank) error {
	ttl := p.ttl
	if p.negative {
		ttl = min(ttl, c.negTTL)
	}
	ttl = min(max(ttl, c.minTTL), c.maxTTL)
	if ttl == 0 {
		return nil // RFC 1035 §3.2.1: use once, do not cache
	}
	now := c.now().UnixNano()
	// The builder's slices go back to the pool: keep copies of exact size. The sections and the
	// name share one array, the name last.
	data := slices.Concat(p.t.Tail, p.name)
	e := &entry{
		t: wire.Template{
			Tail:     data[:len(p.t.Tail)],
			TTLs:     slices.Clip(slices.Clone(p.t.TTLs)),
			Cuts:     slices.Clip(slices.Clone(p.t.Cuts)),
			Whole:    p.t.Whole,
			QNameLen: uint16(len(p.name)),
			MustFit:  p.t.MustFit,
			Rcode:    p.t.Rcode,
			RA:       true,
		},
		qtype:  p.qtype,
		qclass: p.qclass,
		do:     p.do,
		secure: p.secure,
		rank:   rank,
		stored: now,
		expire: now + int64(ttl)*int64(time.Second),
	}
	size := e.size()
	if size > c.maxEntry {
		return ErrTooLarge
	}
	k := Key{Name: e.name(), Type: e.qtype, Class: e.qclass, DO: e.do}
	e.hash = c.Hash(k)
	sh := c.shard(e.hash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old := sh.lookup(e.hash, k); old != nil {
		if old.expire > now && old.rank > rank {
			return nil
		}
		sh.remove(old)
	}
	b := &sh.buckets[e.hash&sh.mask]
	e.chain.Store(b.Load())
	b.Store(e) // publishes e, complete, to readers
	e.linked = true
	sh.n++
	sh.pushFront(e)
	sh.bytes += size
	sh.evict(now, c.stale)
	return nil
}

// lookup finds the entry for k. It takes no lock: chains are read with atomic loads.
func (sh *shard) lookup(h uint64, k Key) *entry {
	for e := sh.buckets[h&sh.mask].Load(); e != nil; e = e.chain.Load() {
		if e.hash == h && e.matches(k) {
			return e
		}
	}
	return nil
}

// pushFront links e as the newest entry.
func (sh *shard) pushFront(e *entry) {
	if sh.head == nil {
		e.prev, e.next = e, e
	} else {
		e.next, e.prev = sh.head, sh.head.prev
		e.prev.next, e.next.prev = e, e
	}
	sh.head = e
}

// remove unlinks e from its chain and the eviction ring. e keeps its own chain link, so a reader
// standing on it walks on to the rest of the chain.
func (sh *shard) remove(e *entry) {
	b := &sh.buckets[e.hash&sh.mask]
	if b.Load() == e {
		b.Store(e.chain.Load())
	} else {
		for p := b.Load(); p != nil; p = p.chain.Load() {
			if p.chain.Load() == e {
				p.chain.Store(e.chain.Load())
				break
			}
		}
	}
	e.linked = false
	sh.n--
	if e.next == e {
		sh.head = nil
	} else {
		e.prev.next, e.next.prev = e.next, e.prev
		if sh.head == e {
			sh.head = e.next
		}
	}
	e.prev, e.next = nil, nil
	sh.bytes -= e.size()
}

// evict removes entries from the oldest end until the shard is within budget. An entry that was hit
// since the sweep last passed it gets a second chance at the newest end. Entries beyond their stale
// window are removed whatever their flag. Each entry is given at most one second chance per call,
// so the loop ends.
func (sh *shard) evict(now, stale int64) {
	chances := sh.n
	for sh.bytes > sh.max && sh.head != nil {
		e := sh.head.prev
		if chances > 0 && e.expire+stale > now && e.used.Load() {
			chances--
			e.used.Store(false)
			sh.head = e // the ring turns: e becomes newest, its prev the oldest
			continue
		}
		sh.remove(e)
	}
}

// Get renders the cached response for req into out (its capacity should be the size limit of the
// response, 65535 covers all) and returns it with Hit or Prefetch; Miss when there is no fresh
// entry. A hit allocates nothing when out is large enough. Time is counted from req.Received when
// the listener set it (see Config.Now), else from a reading of the clock.
func (c *Cache) Get(req *query.Request, out []byte) ([]byte, Status) {
	return c.get(req, out, false, true)
}

// GetStored is Get for the query whose own resolution has just stored the entry. It does not count
// as a use: a name asked once must reach the old end of the eviction ring unmarked, or every name a
// random-subdomain flood stores would carry the same second chance as the names clients ask again
// and again, and the first sweep of a full shard would clear every mark and then evict the oldest
// entries, the popular ones among them.
func (c *Cache) GetStored(req *query.Request, out []byte) ([]byte, Status) {
	return c.get(req, out, false, false)
}

// GetStale is Get, but an expired entry within StaleTTL is rendered too, with Status Stale. The
// caller uses it once resolution has failed or cannot be started (RFC 8767 §4).
func (c *Cache) GetStale(req *query.Request, out []byte) ([]byte, Status) {
	return c.get(req, out, true, true)
}

func (c *Cache) get(req *query.Request, out []byte, allowStale, use bool) ([]byte, Status) {
	if req.QuestionEnd == 0 {
		return out, Miss
	}
	k := KeyOf(req)
	h := c.Hash(k)
	sh := c.shard(h)
	e := sh.lookup(h, k)
	if e == nil || len(req.QName) != int(e.t.QNameLen) {
		return out, Miss
	}
	var now int64
	if !c.stamps || req.Received.IsZero() {
		now = c.now().UnixNano()
	} else {
		// An entry stored after the query arrived (the answer to its own resolution) is as
		// young as it gets: count from its storing, not from before it.
		now = max(req.Received.UnixNano(), e.stored)
	}
	status := Hit
	if now >= e.expire {
		if now >= e.expire+c.stale {
			c.drop(sh, e)
			return out, Miss
		}
		if !allowStale {
			return out, Miss
		}
		status = Stale
	} else if (e.expire-now)*10 < e.expire-e.stored && !e.prefetched.Load() && e.prefetched.CompareAndSwap(false, true) {
		status = Prefetch
	}
	if use && !e.used.Load() {
		e.used.Store(true)
	}
	return c.render(out, req, e, now, status == Stale), status
}

// drop removes an entry that is beyond use, unless a Put replaced it meanwhile.
func (c *Cache) drop(sh *shard, e *entry) {
	sh.mu.Lock()
	if e.linked {
		sh.remove(e)
	}
	sh.mu.Unlock()
}

// render writes the response through wire.Limits.RenderAged, as every answer is written. The
// sections were packed for a question of exactly this length, so the client's question (its letter
// case included) goes in front unchanged and every compression pointer stays valid.
func (c *Cache) render(out []byte, req *query.Request, e *entry, now int64, stale bool) []byte {
	age := wire.Age{TTL: StaleAnswerTTL}
	if !stale {
		age.TTL = uint32((e.expire - now + int64(time.Second) - 1) / int64(time.Second))
		age.Elapsed = uint32(min((now-e.stored)/int64(time.Second), 1<<32-1))
	}
	out = c.limits.RenderAged(out, req, &e.t, age)
	if e.secure && len(out) > 3 && (req.DO || req.Flags&query.FlagAD != 0) {
		out[3] |= byte(query.FlagAD)
	}
	return out
}

// Len returns the number of entries.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += sh.n
		sh.mu.Unlock()
	}
	return n
}

// Bytes returns the estimated memory held by the entries.
func (c *Cache) Bytes() int64 {
	var n int64
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += sh.bytes
		sh.mu.Unlock()
	}
	return n
}

// Flush removes every entry.
func (c *Cache) Flush() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for j := range sh.buckets {
			sh.buckets[j].Store(nil)
		}
		for sh.head != nil {
			sh.remove(sh.head)
		}
		sh.mu.Unlock()
	}
}
