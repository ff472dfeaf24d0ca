// Command soawait asks a server for a zone's SOA over UDP every few milliseconds until it answers
// with authority and a serial at least -serial, then prints the Unix time (seconds, nanosecond
// precision) of that answer. A benchmark starts it before the event it times (a server's start, a
// change on a primary) and subtracts its own start time, so the figure does not depend on how
// fast a process like dig starts.
//
// Usage:
//
//	go run ./bench/soawait -server 127.0.0.1:15532 -zone bench.test. -serial 2 -timeout 60s
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"warden/internal/transfer"
)

func main() {
	server := flag.String("server", "", "server to ask, IP:port")
	zone := flag.String("zone", "bench.test.", "zone whose SOA to ask for")
	serial := flag.Uint("serial", 1, "the serial to wait for (or a later one)")
	every := flag.Duration("every", 2*time.Millisecond, "pause between questions")
	timeout := flag.Duration("timeout", time.Minute, "give up after this long")
	flag.Parse()

	addr, err := netip.ParseAddrPort(*server)
	if err != nil {
		fatalf("-server %q: %v", *server, err)
	}
	want := uint32(*serial)
	deadline := time.Now().Add(*timeout)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		soa, err := transfer.QuerySOA(ctx, transfer.Peer{Addr: addr}, *zone)
		cancel()
		now := time.Now()
		switch {
		case err != nil:
			last = err.Error()
		case serialAtLeast(soa.Serial, want):
			fmt.Printf("%d.%09d %d\n", now.Unix(), now.Nanosecond(), soa.Serial)
			return
		default:
			last = fmt.Sprintf("serial %d", soa.Serial)
		}
		time.Sleep(*every)
	}
	fatalf("%s did not serve %s at serial %d within %s (last: %s)", addr, *zone, want, *timeout, last)
}

// serialAtLeast compares serials in sequence-space arithmetic (RFC 1982).
func serialAtLeast(have, want uint32) bool { return have == want || int32(have-want) > 0 }

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "soawait: "+format+"\n", args...)
	os.Exit(1)
}
