package daemon

import (
	"runtime/debug"
	"testing"
)

func TestPaceGCForStartLoad(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	debug.SetGCPercent(150)
	restore := paceGCForStartLoad()
	if got := debug.SetGCPercent(-1); got != 150*startLoadGCFactor {
		t.Fatalf("during the load GOGC = %d, want %d", got, 150*startLoadGCFactor)
	}
	debug.SetGCPercent(150 * startLoadGCFactor)
	restore()
	if got := debug.SetGCPercent(100); got != 150 {
		t.Fatalf("after the load GOGC = %d, want 150 back", got)
	}

	debug.SetGCPercent(-1) // GOGC=off
	restore = paceGCForStartLoad()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("GOGC off became %d during the load", got)
	}
	restore()
	if got := debug.SetGCPercent(100); got != -1 {
		t.Fatalf("GOGC off became %d after the load", got)
	}
}
