//go:build pprof

package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // the handlers under /debug/pprof/ on http.DefaultServeMux
	"os"
)

// A binary built with `-tags pprof` serves the Go profiler's handlers on WARDEN_PPROF (an address
// such as 127.0.5.9:6060) when that variable is set, so that a benchmark can take CPU and heap
// profiles, a trace and the runtime's memory statistics from a loaded server. The handlers are
// never part of the released binary: they answer anyone who can reach the address.
func init() {
	addr := os.Getenv("WARDEN_PPROF")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warden: WARDEN_PPROF %s: %v\n", addr, err)
		os.Exit(2)
	}
	go func() { _ = http.Serve(ln, nil) }()
}
