package pipeline

import "testing"

// BenchmarkForwardResultOK is the bookkeeping after each answer a forwarder gives, from every
// core at once: the health of the target it shares with the other forwarding goroutines.
func BenchmarkForwardResultOK(b *testing.B) {
	target := &forwardTarget{}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			target.result(true, nil)
		}
	})
}
