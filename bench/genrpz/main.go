// Command genrpz writes a response policy of -n names for bench/policy.sh, in two forms: an RPZ
// zone of QNAME rules that answer NXDOMAIN ("NAME.ORIGIN CNAME .") and a hosts file listing the
// same names ("0.0.0.0 NAME"). Optionally it copies a dnsperf query file with a share of its
// queries replaced by listed names, so that that share hits the policy.
//
// The names are adN.trackerM.example. (M = N mod 997), under a top-level domain the benchmark zone
// bench.test. does not share, so a query file from genzone hits none of them. The last name
// (the last rule of the zone, the last line of the hosts file) is printed on stdout: a server
// that answers it by the policy has loaded the whole of it.
//
// Usage:
//
//	go run ./bench/genrpz -n 1000000 -rpz rpz.zone -hosts hosts.txt -queries q.txt -hit-queries q-hit.txt -hit 0.1
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
)

func name(i int) string { return fmt.Sprintf("ad%d.tracker%d.example.", i, i%997) }

func main() {
	n := flag.Int("n", 1000000, "number of names in the policy")
	origin := flag.String("origin", "rpz.bench.", "origin of the RPZ zone")
	rpzPath := flag.String("rpz", "", "RPZ zone file to write (empty: none)")
	hostsPath := flag.String("hosts", "", "hosts file to write (empty: none)")
	queriesIn := flag.String("queries", "", "dnsperf query file to copy with -hit of its lines hitting the policy")
	queriesOut := flag.String("hit-queries", "", "where to write that copy")
	hit := flag.Float64("hit", 0.10, "share of queries replaced by listed names")
	seed := flag.Uint64("seed", 1, "random seed for which queries are replaced and by which names")
	flag.Parse()
	if *n < 1 || *hit < 0 || *hit > 1 || (*queriesIn == "") != (*queriesOut == "") {
		fatalf("want -n ≥ 1, -hit in 0..1, and -queries with -hit-queries")
	}
	if *rpzPath != "" {
		write(*rpzPath, func(w *bufio.Writer) {
			fmt.Fprintf(w, "$TTL 60\n%s SOA ns.%s admin.%s 1 3600 600 86400 60\n%s NS ns.%s\n", *origin, *origin, *origin, *origin, *origin)
			for i := range *n {
				fmt.Fprintf(w, "%s%s CNAME .\n", name(i), *origin)
			}
		})
	}
	if *hostsPath != "" {
		write(*hostsPath, func(w *bufio.Writer) {
			w.WriteString("# genrpz: blocked names\n127.0.0.1 localhost\n")
			for i := range *n {
				fmt.Fprintf(w, "0.0.0.0 %s\n", strings.TrimSuffix(name(i), "."))
			}
		})
	}
	if *queriesIn != "" {
		data, err := os.ReadFile(*queriesIn)
		if err != nil {
			fatalf("%v", err)
		}
		rng := rand.New(rand.NewPCG(*seed, 2))
		lines := strings.SplitAfter(string(data), "\n")
		write(*queriesOut, func(w *bufio.Writer) {
			for _, l := range lines {
				if l == "" {
					continue
				}
				if rng.Float64() < *hit {
					l = name(rng.IntN(*n)) + " A\n"
				}
				w.WriteString(l)
			}
		})
	}
	fmt.Println(name(*n - 1))
}

func write(path string, body func(*bufio.Writer)) {
	f, err := os.Create(path)
	if err != nil {
		fatalf("%v", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	body(w)
	if err := w.Flush(); err != nil {
		fatalf("%s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		fatalf("%s: %v", path, err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "genrpz: "+format+"\n", args...)
	os.Exit(2)
}
