package daemon

import "runtime/debug"

// startLoadGCFactor is how much looser the collector is paced while the zones load at start.
const startLoadGCFactor = 4

// paceGCForStartLoad loosens the collector's pacing for the zones' first load and returns the
// function that puts it back. At start the heap grows from nothing to the zones' size, and at
// the default pacing the collector marks the growing heap again at every doubling: a quarter to
// a third of a large zone's load went to marking. The zone reader leaves little garbage (about a
// tenth of what it keeps), so the looser pacing costs little memory; the collection that follows
// the start (FreeOSMemory in run) frees it. A GOGC the operator set to off is left alone.
func paceGCForStartLoad() (restore func()) {
	old := debug.SetGCPercent(100)
	if old <= 0 {
		debug.SetGCPercent(old)
		return func() {}
	}
	debug.SetGCPercent(old * startLoadGCFactor)
	return func() { debug.SetGCPercent(old) }
}
