// Command axfrget pulls one zone by AXFR with Warden's own transfer client and prints what the
// transfer took, so a benchmark can time different primaries with the same client.
//
// Output, one line: seconds bytes messages records serial. Bytes are the DNS messages received
// (without the two-byte TCP length prefixes); records count the zone once (the closing SOA is not
// counted). The client checks the whole transfer before it reports it, as a secondary would.
//
// Usage:
//
//	go run ./bench/axfrget -server 127.0.0.1:15530 -zone bench.test.
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
	server := flag.String("server", "", "primary to transfer from, IP:port")
	zone := flag.String("zone", "bench.test.", "zone to transfer")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound on the whole transfer")
	flag.Parse()

	addr, err := netip.ParseAddrPort(*server)
	if err != nil {
		fatalf("-server %q: %v", *server, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	start := time.Now()
	res, err := transfer.AXFR(ctx, transfer.Peer{Addr: addr, Timeout: *timeout}, *zone, transfer.Limits{})
	if err != nil {
		fatalf("%v", err)
	}
	took := time.Since(start)
	fmt.Printf("%.4f %d %d %d %d\n", took.Seconds(), res.Bytes, res.Messages, len(res.Full), res.SOA.Serial)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "axfrget: "+format+"\n", args...)
	os.Exit(1)
}
