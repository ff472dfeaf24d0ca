package upstream

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"warden/internal/wire"
)

// Detections is a snapshot of what HoldOn has seen.
type Detections struct {
	Total uint64 `json:"total"`
	// Servers and Names are the detections by server address and by query name (lower case),
	// most first, at most topDetections of each.
	Servers []DetectionCount `json:"servers,omitempty"`
	Names   []DetectionCount `json:"names,omitempty"`
	// Unlisted are the detections counted in Total whose server or name found its table full.
	Unlisted uint64 `json:"unlisted,omitempty"`
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
	return Detections{Total: h.total.Load(), Servers: top(h.byServer), Names: top(h.byName), Unlisted: h.unlisted}
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
