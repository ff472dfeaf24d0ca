package pipeline

import (
	"sync"

	"warden/internal/wire"
)

// RecentNames keeps a sample of the names recently asked for recursively, as the corpus a policy
// change is checked against before it goes live ("how many of the names people actually ask
// would change answer"). One question in sampleEvery is kept, chosen by its ID, which clients
// pick at random: the decision needs no shared counter, and the ring's lock is taken for the
// sampled questions only.
type RecentNames struct {
	mu    sync.Mutex
	next  int
	full  bool
	names [recentSize]recentName
}

const (
	recentSize  = 8192
	sampleEvery = 64 // a power of two
)

type recentName struct {
	n    uint8
	wire [255]byte
}

// wants says whether the question with this ID falls in the sample.
func (r *RecentNames) wants(id uint16) bool { return r != nil && id&(sampleEvery-1) == 0 }

// add keeps a lower-case wire name.
func (r *RecentNames) add(lower []byte) {
	if len(lower) > 255 {
		return
	}
	r.mu.Lock()
	e := &r.names[r.next]
	e.n = uint8(copy(e.wire[:], lower))
	r.next++
	if r.next == recentSize {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// Names returns the distinct names sampled, fully qualified, in no particular order.
func (r *RecentNames) Names() []string {
	r.mu.Lock()
	n := r.next
	if r.full {
		n = recentSize
	}
	wires := make([][]byte, n)
	for i := range n {
		wires[i] = append([]byte(nil), r.names[i].wire[:r.names[i].n]...)
	}
	r.mu.Unlock()
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for _, w := range wires {
		name := wire.NameString(w)
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}
