// Command xfrprof profiles the primary's side of AXFR without a network: it loads a zone file as
// Warden does, then packs the whole zone -n times with the transfer Writer, framing each message
// as the TCP listener does, and writes a CPU profile for `go tool pprof`. With -ixfr it also times
// a secondary's side of a 10-record IXFR: applying the diff and writing the copy.
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
	"path/filepath"
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
	ixfr := flag.Bool("ixfr", false, "also time a secondary's IXFR of 10 added records (Apply, WriteFile)")
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
	// write takes the framed messages as internal/server's TCP connection does, counts them and
	// drops them.
	write := func(frames []byte) error {
		for off := 0; off+2 <= len(frames); off += 2 + int(binary.BigEndian.Uint16(frames[off:])) {
			messages++
		}
		bytes += len(frames)
		return nil
	}
	for range *n {
		w := transfer.NewFramedWriter(&transfer.Request{
			ID:       1,
			Question: transfer.Question{Name: wireName(*origin), Type: dns.TypeAXFR, Class: dns.ClassINET},
		}, write)
		if err := transfer.WriteAXFR(w, z.All()); err != nil {
			fatalf("%v", err)
		}
	}
	took := time.Since(start)
	fmt.Printf("%d transfers of %d records: %.3f s each, %d bytes and %d messages each\n",
		*n, z.Records, took.Seconds()/float64(*n), bytes / *n, messages / *n)
	if *ixfr {
		secondarySide(z)
	}
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		fatalf("%v", err)
	}
}

// secondarySide times what a Warden secondary does with an IXFR of 10 added records: apply the
// diff to the zone in force, and write the new version's copy to disk.
func secondarySide(z *zone.Zone) {
	to := *z.SOA
	to.Serial++
	d := zone.Diff{From: z.SOA, To: &to}
	for i := range 10 {
		rr, err := dns.New(fmt.Sprintf("ixfr-%d.%s 3600 IN A 198.19.255.%d", i, z.Origin, i))
		if err != nil {
			fatalf("%v", err)
		}
		d.Added = append(d.Added, rr)
	}
	start := time.Now()
	next, err := z.Apply(d)
	if err != nil {
		fatalf("%v", err)
	}
	applied := time.Since(start)
	dir, err := os.MkdirTemp("", "xfrprof")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(dir)
	start = time.Now()
	if err := zone.WriteFile(next, filepath.Join(dir, "copy.zone")); err != nil {
		fatalf("%v", err)
	}
	fmt.Printf("IXFR of 10 added records: Apply %.3f s, WriteFile of the copy %.3f s\n", applied.Seconds(), time.Since(start).Seconds())
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
