//go:build !linux

package daemon

// checkThreads has nothing to check where credentials belong to the process, not to each thread.
func checkThreads(account) error { return nil }
