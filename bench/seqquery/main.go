// Command seqquery sends the queries of a dnsperf query file ("NAME TYPE" per line) to one server,
// strictly one at a time over one UDP socket, and prints every answer's rcode and latency in the
// form of dnsperf -v ("> NOERROR www.example. A 0.000123"), then a summary on stderr. Queries carry
// RD and no EDNS, as dnsperf's do.
//
// It stands in for dnsperf -c 1 -q 1 -v, which on this machine often misses the wake-up between its
// receiving and sending threads after it prints a line, and then waits up to 100 ms before it sends
// the next query: the latencies it reports are right, but 2,000 queries take a minute.
//
// Usage:
//
//	seqquery -s 127.0.0.1 -p 5300 -d queries.txt [-t 2s] >latencies.txt
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

var qtypes = map[string]uint16{
	"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33,
	"DS": 43, "DNSKEY": 48, "HTTPS": 65, "ANY": 255,
}

var rcodes = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"}

type query struct {
	name, qtype string
	wire        []byte // question section
}

func main() {
	server := flag.String("s", "127.0.0.1", "server address")
	port := flag.Int("p", 53, "server port")
	file := flag.String("d", "", "query file (dnsperf format: NAME TYPE per line)")
	timeout := flag.Duration("t", 2*time.Second, "time to wait for each answer")
	flag.Parse()
	if *file == "" {
		fatalf("-d is required")
	}
	queries, err := readQueries(*file)
	if err != nil {
		fatalf("%v", err)
	}
	conn, err := net.Dial("udp", net.JoinHostPort(*server, strconv.Itoa(*port)))
	if err != nil {
		fatalf("%v", err)
	}
	defer conn.Close()

	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	defer out.Flush()
	id := uint16(rand.Uint32())
	msg := make([]byte, 0, 512)
	buf := make([]byte, 65535)
	var answered, lost int
	start := time.Now()
	for _, q := range queries {
		id++
		msg = binary.BigEndian.AppendUint16(msg[:0], id)
		msg = append(msg, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // RD; one question
		msg = append(msg, q.wire...)
		t0 := time.Now()
		if _, err := conn.Write(msg); err != nil {
			fatalf("send %s %s: %v", q.name, q.qtype, err)
		}
		if err := conn.SetReadDeadline(t0.Add(*timeout)); err != nil {
			fatalf("%v", err)
		}
		rcode := -1
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					break
				}
				fatalf("receive %s %s: %v", q.name, q.qtype, err)
			}
			// Skip late answers to earlier queries and anything that is not this answer.
			if n < 12+len(q.wire) || binary.BigEndian.Uint16(buf) != id || buf[2]&0x80 == 0 ||
				string(buf[12:12+len(q.wire)]) != string(q.wire) {
				continue
			}
			rcode = int(buf[3] & 0x0f)
			break
		}
		if rcode < 0 {
			lost++
			fmt.Fprintf(out, "! timeout %s %s\n", q.name, q.qtype)
			continue
		}
		answered++
		name := "RCODE" + strconv.Itoa(rcode)
		if rcode < len(rcodes) {
			name = rcodes[rcode]
		}
		fmt.Fprintf(out, "> %s %s %s %.6f\n", name, q.name, q.qtype, time.Since(t0).Seconds())
	}
	fmt.Fprintf(os.Stderr, "seqquery: %d queries, %d answered, %d timed out, %.2f s\n",
		len(queries), answered, lost, time.Since(start).Seconds())
}

// readQueries parses the query file into question sections (class IN).
func readQueries(path string) ([]query, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var qs []query
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], ";") {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want NAME TYPE", path, line)
		}
		t, ok := qtypes[strings.ToUpper(fields[1])]
		if !ok {
			return nil, fmt.Errorf("%s:%d: unknown type %q", path, line, fields[1])
		}
		wire, err := packName(fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		wire = binary.BigEndian.AppendUint16(wire, t)
		wire = binary.BigEndian.AppendUint16(wire, 1)
		qs = append(qs, query{name: fields[0], qtype: strings.ToUpper(fields[1]), wire: wire})
	}
	return qs, sc.Err()
}

// packName returns name in wire format (no compression, no escapes).
func packName(name string) ([]byte, error) {
	var b []byte
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if label == "" {
			if name == "." {
				break
			}
			return nil, fmt.Errorf("empty label in %q", name)
		}
		if len(label) > 63 {
			return nil, fmt.Errorf("label longer than 63 octets in %q", name)
		}
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	b = append(b, 0)
	if len(b) > 255 {
		return nil, fmt.Errorf("name longer than 255 octets: %q", name)
	}
	return b, nil
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "seqquery: "+format+"\n", args...)
	os.Exit(1)
}
