package daemon

import (
	"context"
	"runtime/debug"
	"time"
)

// trimInterval is how often the server hands memory it no longer uses back to the system.
const trimInterval = time.Minute

// trimMemory returns freed heap to the system once per trimInterval until ctx ends. The Go runtime
// keeps the heap's peak resident until a later collection decides otherwise, and a resolver's heap
// peaks in bursts (a flood of new names, a reload): without this, a burst of garbage stays in RSS
// indefinitely on an idle or steady server. The cost is one forced collection a minute.
func trimMemory(ctx context.Context) {
	t := time.NewTicker(trimInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			debug.FreeOSMemory()
		}
	}
}
