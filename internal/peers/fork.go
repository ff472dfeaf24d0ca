package peers

import (
	"os/exec"
	"runtime"
	"sync"
)

// A peer must not outlive this process: a test that panics or times out never reaches its
// cleanup, and a leftover knotd keeps its address, failing the next run. So peers ask for a
// parent-death signal (see procAttr). Linux sends it when the thread that forked the child exits,
// though, not the process; and the Go runtime ends a thread whenever a goroutine locked to it
// returns without unlocking, as Warden's UDP workers do when a listener closes. A peer forked on
// such a thread died in the middle of a test. Hence every peer is forked by one goroutine locked
// to its thread, which lives while any peer it forked still runs: the signal then comes when the
// process ends, and only then.

// forkers is the one forking goroutine of this process.
var forkers forker

// forker owns the forking goroutine: it starts it for the first peer and lets it (and its thread)
// end once the last peer it forked has been reaped.
type forker struct {
	mu   sync.Mutex
	reqs chan forkReq // nil while no forked peer runs
	live int          // peers forked (or being forked) and not yet reaped
}

type forkReq struct {
	cmd  *exec.Cmd
	done chan<- error
}

// start starts cmd on the forking thread. Unless it fails, the caller calls release once cmd's
// process has been reaped.
func (f *forker) start(cmd *exec.Cmd) error {
	f.mu.Lock()
	if f.reqs == nil {
		f.reqs = make(chan forkReq)
		go forkLoop(f.reqs)
	}
	reqs := f.reqs
	f.live++ // keeps reqs open until this peer is released
	f.mu.Unlock()
	done := make(chan error, 1)
	reqs <- forkReq{cmd: cmd, done: done}
	if err := <-done; err != nil {
		f.release()
		return err
	}
	return nil
}

// release says that a peer has been reaped; after the last, the forking goroutine ends.
func (f *forker) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.live--
	if f.live == 0 {
		close(f.reqs)
		f.reqs = nil
	}
}

func forkLoop(reqs <-chan forkReq) {
	// Never unlocked: when the loop ends no child of this thread runs, and the runtime may end
	// the thread with the goroutine.
	runtime.LockOSThread()
	for r := range reqs {
		r.done <- r.cmd.Start()
	}
}
