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
// With -tld the zone is shaped like a top-level domain (.de, .com) instead: tld. with its SOA, two
// name servers and their glue, then -n delegations dN.tld., each with two NS records. Nine in
// ten name their servers under a few hundred hosting providers outside the zone
// (nsK.providerM.net.), as most of a real TLD's delegations do; one in ten have their own servers
// inside the delegation (ns1.dN.tld., ns2.dN.tld.) with glue A records, and half of those glue
// AAAA too. Three in ten delegations have a DS record. The query file then asks for referrals
// (A, AAAA and NS of names at or below a delegation) and, one in four, for DS records (NODATA
// for a delegation without one).
//
// Usage:
//
//	go run ./bench/genzone -n 10000 -zone /tmp/bench.test.zone -queries /tmp/queries.txt
//	go run ./bench/genzone -tld -n 1000000 -zone /tmp/tld.zone -queries /tmp/tld-queries.txt
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
	tld := flag.Bool("tld", false, "write a TLD-shaped zone tld. of -n delegations instead")
	flag.Parse()

	if *tld {
		if *n < 1 {
			fatalf("-n must be at least 1, got %d", *n)
		}
		if err := writeTLD(*zonePath, *queryPath, *n, *nq, *seed); err != nil {
			fatalf("%v", err)
		}
		return
	}

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

// tldProviders is how many hosting providers the delegations of a TLD zone share (each with
// two name servers).
const tldProviders = 300

// writeTLD writes the TLD-shaped zone of n delegations and, when queryPath is set, nq queries.
func writeTLD(zonePath, queryPath string, n, nq int, seed uint64) error {
	f, err := os.Create(zonePath)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	const tld = "tld."
	fmt.Fprintf(w, "%s 86400 IN SOA a.nic.%s hostmaster.nic.%s 1 1800 900 604800 3600\n", tld, tld, tld)
	fmt.Fprintf(w, "%s 86400 IN NS a.nic.%s\n%s 86400 IN NS b.nic.%s\n", tld, tld, tld, tld)
	fmt.Fprintf(w, "a.nic.%s 86400 IN A 198.18.255.1\nb.nic.%s 86400 IN A 198.18.255.2\n", tld, tld)
	records := 5
	for i := range n {
		d := fmt.Sprintf("d%d.%s", i, tld)
		if i%10 == 9 {
			fmt.Fprintf(w, "%s 86400 IN NS ns1.%s\n%s 86400 IN NS ns2.%s\n", d, d, d, d)
			fmt.Fprintf(w, "ns1.%s 86400 IN A 198.%d.%d.%d\n", d, 18+i>>16&1, i>>8&255, i&255)
			fmt.Fprintf(w, "ns2.%s 86400 IN A 198.%d.%d.%d\n", d, 18+i>>16&1, i>>8&255, (i+1)&255)
			records += 4
			if i%20 == 19 {
				fmt.Fprintf(w, "ns1.%s 86400 IN AAAA 2001:db8:%x:%x::1\n", d, i>>16, i&0xffff)
				records++
			}
		} else {
			p := (i * 7919) % tldProviders
			fmt.Fprintf(w, "%s 86400 IN NS ns1.provider%d.net.\n%s 86400 IN NS ns2.provider%d.net.\n", d, p, d, p)
			records += 2
		}
		if i%10 < 3 {
			h := uint64(i+1) * 0x9e3779b97f4a7c15
			fmt.Fprintf(w, "%s 86400 IN DS %d 13 2 %016x%016x%016x%016x\n", d, i&0xffff, h, h^0xa5a5a5a5a5a5a5a5, h*31, h*131)
			records++
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "genzone: %s: %d delegations, %d records\n", zonePath, n, records)
	if queryPath == "" {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x746c_6400))
	q, err := os.Create(queryPath)
	if err != nil {
		return err
	}
	qw := bufio.NewWriterSize(q, 1<<20)
	for range nq {
		i := rng.IntN(n)
		switch r := rng.IntN(8); {
		case r < 2:
			fmt.Fprintf(qw, "d%d.%s DS\n", i, tld)
		case r < 5:
			fmt.Fprintf(qw, "www.d%d.%s A\n", i, tld)
		case r < 6:
			fmt.Fprintf(qw, "d%d.%s AAAA\n", i, tld)
		case r < 7:
			fmt.Fprintf(qw, "d%d.%s NS\n", i, tld)
		default:
			fmt.Fprintf(qw, "mail.d%d.%s MX\n", i, tld)
		}
	}
	if err := qw.Flush(); err != nil {
		q.Close()
		return err
	}
	fmt.Fprintf(os.Stderr, "genzone: %s: %d queries (referrals, one in four DS)\n", queryPath, nq)
	return q.Close()
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "genzone: "+format+"\n", args...)
	os.Exit(1)
}
