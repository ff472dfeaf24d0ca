package policy

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
)

// This file is what the circuit breaker needs to act on single rules instead of whole sets: a
// record of which rules matched lately, written on the query path without a lock or an
// allocation, and a suspended state per rule that lookups honour.

// matchLog counts a set's matches and remembers the rules of the most recent ones. The count is
// spread over shards as a counter's is, so that cores do not fight over one cache line, and each
// shard's count is also the write position in that shard's ring of rule indexes: recording the
// rule costs one more atomic store on a line the core already holds.
type matchLog struct {
	shards [counterShards]matchShard
}

// logPerShard is how many matches each shard remembers: the last 1,024 matches of the set in all,
// enough to tell a rule that makes most of a window's matches from one that makes a few percent.
const logPerShard = 128

type matchShard struct {
	n atomic.Uint64
	// rules holds 1 + the index of the rule of this shard's match number k at k % logPerShard;
	// 0 where nothing was written yet.
	rules [logPerShard]atomic.Int32
	_     [56]byte // to a whole number of cache lines
}

// add counts a match of rule i. The slot is read before it is written: an atomic store is a
// locked instruction on amd64, and when a few rules make most matches (a blocklist's one rule, a
// wildcard gone wrong) the slot often holds the rule already.
func (l *matchLog) add(i int32) {
	sh := &l.shards[rand.Uint32()&(counterShards-1)]
	n := sh.n.Add(1)
	if slot := &sh.rules[n&(logPerShard-1)]; slot.Load() != i+1 {
		slot.Store(i + 1)
	}
}

func (l *matchLog) load() uint64 { return l.mark().total() }

// matchMark is a position in a set's matchLog: how many matches each shard had counted.
type matchMark [counterShards]uint64

func (m matchMark) total() uint64 {
	var t uint64
	for _, n := range m {
		t += n
	}
	return t
}

func (l *matchLog) mark() matchMark {
	var m matchMark
	for i := range l.shards {
		m[i] = l.shards[i].n.Load()
	}
	return m
}

// since counts, by rule index, the matches logged after m that the rings still hold (the last
// logPerShard of each shard), and returns how many it counted. A match counted but whose rule is
// not stored yet is read as the rule of an older match: the result is a sample, not an account.
func (l *matchLog) since(m matchMark) (map[int32]int, int) {
	counts := map[int32]int{}
	total := 0
	for s := range l.shards {
		sh := &l.shards[s]
		to := sh.n.Load()
		from := m[s]
		if from > to {
			from = to // a mark of another log
		}
		if to-from > logPerShard {
			from = to - logPerShard
		}
		for k := from + 1; k <= to; k++ {
			if v := sh.rules[k&(logPerShard-1)].Load(); v > 0 {
				counts[v-1]++
				total++
			}
		}
	}
	return counts, total
}

// ruleMask is a set's suspended rules, by index. A set holds a pointer to one, nil while no rule
// is suspended, and replaces it whole on a change, so that a lookup reads it with one atomic load.
type ruleMask struct {
	rules []int32 // sorted; a handful at most
}

// has says whether rule i is in m; a nil m has none, at the cost of one comparison.
func (m *ruleMask) has(i int32) bool { return m != nil && m.contains(i) }

func (m *ruleMask) contains(i int32) bool {
	_, found := slices.BinarySearch(m.rules, i)
	return found
}

// Name is the rule's trigger as its source wrote it, without the policy zone's origin: the name
// matched for QNAME rules ("*.", "*.example.", "malware.example."), the owner's labels for the
// others ("32.2.0.0.10.rpz-ip"), the list line for a rule from a Builder, the set's name for the
// rule that stands for a whole blocklist index. It names the rule in alarms, status and metrics,
// and finds it again after a reload.
func (r *Rule) Name() string {
	rel, dot := r.relName()
	if dot {
		return rel + "."
	}
	return rel
}

// hasName says whether Name would return name, without building it.
func (r *Rule) hasName(name string) bool {
	rel, dot := r.relName()
	if !dot {
		return rel == name
	}
	return len(name) == len(rel)+1 && name[len(rel)] == '.' && name[:len(rel)] == rel
}

// relName returns the rule's owner without the origin and whether Name adds a final dot.
func (r *Rule) relName() (string, bool) {
	if r.Set == nil || r.Set.origin == "" || r.Set.origin == "." {
		return r.Owner, false
	}
	rel, ok := strings.CutSuffix(r.Owner, r.Set.origin)
	if !ok || !strings.HasSuffix(rel, ".") {
		return r.Owner, false
	}
	rel = rel[:len(rel)-1]
	if r.Trigger == QName {
		return rel, true
	}
	return rel, false
}

// SuspendRules takes the set's rules of these names (as Rule.Name gives them) out of service: a
// suspended rule is passed over as if absent, and the rest of the set stays in force. Queries see
// the change at once. It returns how many of the names the set has.
func (s *RuleSet) SuspendRules(names ...string) int {
	if len(names) == 0 {
		return 0
	}
	var found []int32
	for i := range s.rules {
		for _, n := range names {
			if s.rules[i].hasName(n) {
				found = append(found, int32(i))
				break
			}
		}
	}
	s.suspendIndexes(found)
	return len(found)
}

// suspendIndexes adds the rules of these indexes to the suspended ones.
func (s *RuleSet) suspendIndexes(idx []int32) {
	if len(idx) == 0 {
		return
	}
	for {
		old := s.suspendedRules.Load()
		m := &ruleMask{}
		if old != nil {
			m.rules = append(m.rules, old.rules...)
		}
		for _, i := range idx {
			if i >= 0 && int(i) < len(s.rules) && !m.contains(i) {
				m.rules = append(m.rules, i)
				slices.Sort(m.rules)
			}
		}
		if s.suspendedRules.CompareAndSwap(old, m) {
			return
		}
	}
}

// ResumeRules puts every suspended rule of the set back in service.
func (s *RuleSet) ResumeRules() { s.suspendedRules.Store(nil) }

// SuspendedRules returns the names of the suspended rules, in the order of the source.
func (s *RuleSet) SuspendedRules() []string {
	m := s.suspendedRules.Load()
	if m == nil {
		return nil
	}
	out := make([]string, len(m.rules))
	for k, i := range m.rules {
		out[k] = s.rules[i].Name()
	}
	return out
}

// ruleCount is the number of Rules (a blocklist index counting as the one rule standing for it).
func (s *RuleSet) ruleCount() int { return len(s.rules) }

func (s *RuleSet) matchMark() matchMark { return s.hits.mark() }

func (s *RuleSet) matchedSince(m matchMark) (map[int32]int, int) { return s.hits.since(m) }

func (s *RuleSet) ruleName(i int32) string { return s.rules[i].Name() }

// ruleCounts sorts counts by rule, most matched first (the lower index first among equals).
func ruleCounts(counts map[int32]int) []ruleCount {
	out := make([]ruleCount, 0, len(counts))
	for r, n := range counts {
		out = append(out, ruleCount{rule: r, n: n})
	}
	slices.SortFunc(out, func(a, b ruleCount) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return cmp.Compare(a.rule, b.rule)
	})
	return out
}

type ruleCount struct {
	rule int32
	n    int
}
