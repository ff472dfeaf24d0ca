// Command genzone writes the benchmark zone bench.test. and a matching dnsperf query file.
//
// The zone holds exactly -n resource records: the SOA, one NS, the name server's address, then hosts
// h0, h1, ... with an A record each; every 4th host also has an AAAA record, every 10th an MX record
// and every 20th a TXT record. Every record is written on one line with an absolute owner name, TTL
// and class, so any master-file parser reads it.
//
// The query file (dnsperf format, "NAME TYPE" per line) holds -nq queries: 90% ask for an RRset that
// exists (type mix as in the zone), 10% ask for a name that does not exist (NXDOMAIN). The order is
// shuffled with a fixed seed, so the same flags always give the same files.
//
// Usage:
//
//	go run ./bench/genzone -n 10000 -zone /tmp/bench.test.zone -queries /tmp/queries.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
)

const origin = "bench.test."

// rrset is one (owner, type) pair that exists in the generated zone.
type rrset struct {
	owner string
	qtype string
}

func main() {
	n := flag.Int("n", 10000, "number of resource records in the zone (at least 4)")
	zonePath := flag.String("zone", "bench.test.zone", "zone file to write")
	queryPath := flag.String("queries", "", "dnsperf query file to write (empty: none)")
	nq := flag.Int("nq", 100000, "number of queries in the query file")
	nxShare := flag.Float64("nx", 0.10, "share of queries for names that do not exist")
	seed := flag.Uint64("seed", 1, "random seed for the query mix and order")
	flag.Parse()

	if *n < 4 {
		fatalf("-n must be at least 4, got %d", *n)
	}
	if *nxShare < 0 || *nxShare > 1 {
		fatalf("-nx must be between 0 and 1, got %g", *nxShare)
	}

	sets, err := writeZone(*zonePath, *n)
	if err != nil {
		fatalf("writing zone: %v", err)
	}
	fmt.Fprintf(os.Stderr, "genzone: %s: %d records, %d RRsets\n", *zonePath, *n, len(sets))

	if *queryPath == "" {
		return
	}
	if err := writeQueries(*queryPath, sets, *nq, *nxShare, *seed); err != nil {
		fatalf("writing queries: %v", err)
	}
	fmt.Fprintf(os.Stderr, "genzone: %s: %d queries (%.0f%% nonexistent names)\n", *queryPath, *nq, *nxShare*100)
}

// writeZone writes a zone of exactly n records and returns the RRsets it holds.
func writeZone(path string, n int) ([]rrset, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 1<<20)

	var sets []rrset
	count := 0
	emit := func(owner, qtype, rdata string) {
		if count >= n {
			return
		}
		fmt.Fprintf(w, "%s 3600 IN %s %s\n", owner, qtype, rdata)
		count++
		sets = append(sets, rrset{owner: owner, qtype: qtype})
	}

	emit(origin, "SOA", "ns."+origin+" hostmaster."+origin+" 1 3600 900 604800 300")
	emit(origin, "NS", "ns."+origin)
	emit("ns."+origin, "A", "198.18.255.254")

	for i := 0; count < n; i++ {
		owner := fmt.Sprintf("h%d.%s", i, origin)
		// 198.18.0.0/15 and 2001:db8::/32 are reserved for benchmarks and documentation.
		v4 := 18<<16 | i%(1<<17)
		emit(owner, "A", fmt.Sprintf("198.%d.%d.%d", v4>>16&0xff, v4>>8&0xff, v4&0xff))
		if i%4 == 0 {
			emit(owner, "AAAA", fmt.Sprintf("2001:db8::%x:%x", i>>16&0xffff, i&0xffff))
		}
		if i%10 == 0 {
			emit(owner, "MX", "10 "+owner)
		}
		if i%20 == 0 {
			emit(owner, "TXT", fmt.Sprintf("\"host %d of the benchmark zone\"", i))
		}
	}

	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	return sets, f.Close()
}

// writeQueries writes nq queries: a share nx for names that do not exist, the rest drawn uniformly
// from the existing RRsets, shuffled with the given seed.
func writeQueries(path string, sets []rrset, nq int, nx float64, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x6265_6e63_6874_6573))

	nNX := int(float64(nq)*nx + 0.5)
	lines := make([]string, 0, nq)
	for i := 0; i < nq-nNX; i++ {
		s := sets[rng.IntN(len(sets))]
		lines = append(lines, s.owner+" "+s.qtype)
	}
	// "nx" labels never occur in the zone, so each of these names is NXDOMAIN.
	types := [...]string{"A", "A", "A", "AAAA", "MX", "TXT"}
	for i := 0; i < nNX; i++ {
		lines = append(lines, fmt.Sprintf("nx%d.%s %s", rng.IntN(1<<30), origin, types[rng.IntN(len(types))]))
	}
	rng.Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "genzone: "+format+"\n", args...)
	os.Exit(1)
}
