package zone

import "maps"

// index holds a zone's nodes by lower-case wire owner name, split into shards. A version made by
// Apply copies the list of shards and only the shards its change touches; the others are shared
// with the version it came from, which never writes to them again. That is what makes a change of
// ten records to a million-record zone cost ten records and not a million.
//
// The shard of a name is picked by the label just below the origin, so that a name and every name
// under it lie in one shard: a delegation and its glue, a wildcard's owner and its parent's other
// children. A change to a zone cut finds the nodes below it by reading one shard. The cost is a
// zone whose names all sit under one label (everything below "www"): its shards are uneven, and a
// change to it copies a larger shard.
type index struct {
	shards []map[string]*Node
	// origin is the length of the origin's wire name: the labels before it pick the shard.
	origin int
	count  int
}

// shardTarget is about how many names a shard holds: small enough that copying one for a change
// is cheap, large enough that the list of shards a version copies stays short.
const shardTarget = 128

// maxShards bounds the list of shards (128 KiB of map pointers) for the largest zones.
const maxShards = 1 << 14

// shardsFor returns the number of shards for a zone of about names nodes: a power of two.
func shardsFor(names int) int {
	n := 1
	for n < maxShards && n*shardTarget < names {
		n <<= 1
	}
	return n
}

func newIndex(originLen, names int) index {
	x := index{shards: make([]map[string]*Node, shardsFor(names)), origin: originLen}
	// A map made for a hint of h names gets room for the power of two at or above h·8/7 (its
	// slots are at most 7/8 full). A hint just past 7/8 of a power of two doubles the room for a
	// few names; the estimate of names is rough (larger than the count, most often), so it is
	// trimmed to fit the smaller room instead, and a shard that does fill up grows.
	per := names/len(x.shards) + 1
	if room := nextPow2(per); per > room*7/8 && room >= 16 {
		per = room * 7 / 8
	}
	for i := range x.shards {
		x.shards[i] = make(map[string]*Node, per)
	}
	return x
}

// shardOf returns the shard of a wire name: the FNV-1a hash of the label just below the origin.
// Names that are not below the origin (the apex, or names of another zone) go to shard 0, where a
// look-up for a name outside the zone finds nothing, as it should.
func shardOf[T string | []byte](key T, origin, shards int) int {
	if shards == 1 {
		return 0
	}
	off := 0
	for {
		if off >= len(key) || key[off] == 0 {
			return 0
		}
		next := off + 1 + int(key[off])
		if next > len(key) {
			return 0
		}
		if len(key)-next == origin {
			h := uint32(2166136261)
			for i := off + 1; i < next; i++ {
				h = (h ^ uint32(key[i])) * 16777619
			}
			return int(h & uint32(shards-1))
		}
		if len(key)-next < origin {
			return 0
		}
		off = next
	}
}

func (x *index) get(key string) *Node {
	return x.shards[shardOf(key, x.origin, len(x.shards))][key]
}

// getBytes is get for a name in a buffer; it does not allocate. It is on every query's path, and
// a zone of one shard (most zones are small) skips picking one.
func (x *index) getBytes(key []byte) *Node {
	if len(x.shards) == 1 {
		return x.shards[0][string(key)]
	}
	return x.shards[shardOf(key, x.origin, len(x.shards))][string(key)]
}

// put adds or replaces a node; only the loader of a zone not yet published calls it.
func (x *index) put(n *Node) {
	s := x.shards[shardOf(n.Key, x.origin, len(x.shards))]
	if _, had := s[n.Key]; !had {
		x.count++
	}
	s[n.Key] = n
}

// indexWriter changes a copy of an index made for the next version, copying each shard the first
// time it is written to, so that the version it came from keeps its own.
type indexWriter struct {
	index
	copied []bool
}

func (x *index) writer() *indexWriter {
	w := &indexWriter{index: *x, copied: make([]bool, len(x.shards))}
	w.shards = append([]map[string]*Node(nil), x.shards...)
	return w
}

func (w *indexWriter) shard(key string) map[string]*Node {
	i := shardOf(key, w.origin, len(w.shards))
	if !w.copied[i] {
		w.shards[i] = maps.Clone(w.shards[i])
		if w.shards[i] == nil {
			w.shards[i] = make(map[string]*Node)
		}
		w.copied[i] = true
	}
	return w.shards[i]
}

func (w *indexWriter) put(n *Node) {
	s := w.shard(n.Key)
	if _, had := s[n.Key]; !had {
		w.count++
	}
	s[n.Key] = n
}

func (w *indexWriter) del(key string) {
	s := w.shard(key)
	if _, had := s[key]; had {
		w.count--
		delete(s, key)
	}
}

// below calls f for every node strictly below key (which is below the origin): they are all in
// key's shard.
func (w *indexWriter) below(key string, f func(*Node)) {
	for k, n := range w.shards[shardOf(key, w.origin, len(w.shards))] {
		if len(k) > len(key) && k[len(k)-len(key):] == key && isLabelStart(k, len(k)-len(key)) {
			f(n)
		}
	}
}

// isLabelStart says whether offset at is where a label of the wire name key begins.
func isLabelStart(key string, at int) bool {
	off := 0
	for off < at && off < len(key) && key[off] != 0 {
		off += 1 + int(key[off])
	}
	return off == at
}

// nextPow2 returns the least power of two at or above n (n > 0).
func nextPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}
