// Command xfrprof profiles the primary's side of AXFR without a network: it loads a zone file as
// Warden does, then packs the whole zone -n times with the transfer Writer, framing each message
// as the TCP listener does, and writes a CPU profile for `go tool pprof`.
//
// Usage:
//
//	go run ./bench/xfrprof -zone bench.test.zone -n 5 -cpuprofile axfr.pprof
//	go tool pprof -top axfr.pprof
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/transfer"
	"warden/internal/zone"
)

func main() {
	path := flag.String("zone", "", "zone file of bench.test. (bench/genzone)")
	origin := flag.String("origin", "bench.test.", "the zone's origin")
	n := flag.Int("n", 5, "transfers to pack")
	out := flag.String("cpuprofile", "axfr.pprof", "CPU profile to write")
	flag.Parse()

	z, problems, err := zone.LoadFile(*origin, *path)
	if err != nil {
		fatalf("%v", err)
	}
	if len(problems) > 0 {
		fatalf("%s: %d problems, the first: %v", *path, len(problems), problems[0])
	}
	f, err := os.Create(*out)
	if err != nil {
		fatalf("%v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fatalf("%v", err)
	}
	start := time.Now()
	var bytes, messages int
	// send frames each message as internal/server's TCP connection does, and drops it.
	send := func(msg []byte) error {
		frame := make([]byte, 2, 2+len(msg))
		binary.BigEndian.PutUint16(frame, uint16(len(msg)))
		frame = append(frame, msg...)
		bytes += len(frame)
		messages++
		return nil
	}
	for range *n {
		w := transfer.NewWriter(&transfer.Request{
			ID:       1,
			Question: transfer.Question{Name: wireName(*origin), Type: dns.TypeAXFR, Class: dns.ClassINET},
		}, send)
		if err := transfer.WriteAXFR(w, z.All()); err != nil {
			fatalf("%v", err)
		}
	}
	took := time.Since(start)
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		fatalf("%v", err)
	}
	fmt.Printf("%d transfers of %d records: %.3f s each, %d bytes and %d messages each\n",
		*n, z.Records, took.Seconds()/float64(*n), bytes / *n, messages / *n)
}

// wireName is a fully qualified name without escapes in uncompressed wire form, as the question
// of a request arrives.
func wireName(name string) []byte {
	var b []byte
	for label := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	return append(b, 0)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "xfrprof: "+format+"\n", args...)
	os.Exit(1)
}
