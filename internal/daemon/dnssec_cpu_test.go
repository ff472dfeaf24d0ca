package daemon

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
)

// TestValidationCPUAgainstUnbound measures the CPU each resolver spends per new validated name
// on the signed bed: names under a signed wildcard, each asked once, so each is a cache miss
// whose answer needs its RRSIG and the NSEC proof that the name does not exist checked (the
// chain of trust above is known after the first). Warden's stage is called in this process and
// its CPU read from getrusage; Unbound's from /proc. It runs only with WARDEN_BENCH_VALIDATION=1
// and reports; it fails only when an answer is not secure.
func TestValidationCPUAgainstUnbound(t *testing.T) {
	if os.Getenv("WARDEN_BENCH_VALIDATION") != "1" {
		t.Skip("set WARDEN_BENCH_VALIDATION=1 to measure")
	}
	bed := startBed(t)
	rec, err := NewRecursor(parseConfig(t, "resolver:\n  root_hints: "+bed.hints+"\n  trust_anchor: "+bed.anchor+"\n  timeout: 10s\n"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewRecursor(parseConfig(t, "resolver:\n  root_hints: "+bed.hints+"\n  timeout: 10s\n"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	ub, ubDir := startValidatingUnboundDir(t, bed)
	pidText, err := os.ReadFile(filepath.Join(ubDir, "unbound.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		t.Fatal(err)
	}
	const names, rounds = 2000, 3
	// Warm both: the chain of trust and the delegations.
	serveRecursive(t, rec, "warm.wild.secure.sec.", dns.TypeTXT, true, false)
	serveRecursive(t, plain, "warm.wild.secure.sec.", dns.TypeTXT, true, false)
	askServer(t, ub, "warm.wild.secure.sec.", dns.TypeTXT, true)
	var wardenUS, plainUS, unboundUS []float64
	// The client's side of Warden's questions is this process's work, as the client's side of
	// Unbound's is: one answer buffer for all, and only the header of each answer read.
	client := newCPUClient(t)
	for r := range rounds {
		pstart := selfCPU(t)
		for i := range names {
			if rcode, _ := client.ask(plain, fmt.Sprintf("p%d-%d.wild.secure.sec.", r, i)); rcode != dns.RcodeSuccess {
				t.Fatalf("warden without validation: rcode %d:\n%s", rcode, serveRecursive(t, plain, fmt.Sprintf("p%d-%d.wild.secure.sec.", r, i), dns.TypeTXT, true, false))
			}
		}
		plainUS = append(plainUS, float64(selfCPU(t)-pstart)/float64(time.Microsecond)/names)
		start := selfCPU(t)
		for i := range names {
			if _, ad := client.ask(rec, fmt.Sprintf("w%d-%d.wild.secure.sec.", r, i)); !ad {
				t.Fatalf("warden: not secure:\n%s", serveRecursive(t, rec, fmt.Sprintf("w%d-%d.wild.secure.sec.", r, i), dns.TypeTXT, true, false))
			}
		}
		wardenUS = append(wardenUS, float64(selfCPU(t)-start)/float64(time.Microsecond)/names)
		ustart := procCPU(t, pid)
		for i := range names {
			m := askServer(t, ub, fmt.Sprintf("u%d-%d.wild.secure.sec.", r, i), dns.TypeTXT, true)
			if !m.AuthenticatedData {
				t.Fatalf("unbound: not secure:\n%s", m)
			}
		}
		unboundUS = append(unboundUS, float64(procCPU(t, pid)-ustart)/float64(time.Microsecond)/names)
	}
	slices.Sort(wardenUS)
	slices.Sort(plainUS)
	slices.Sort(unboundUS)
	t.Logf("CPU-µs per new name, %d names a round, %d rounds: warden validating %.0f (%v), warden not validating %.0f (%v), unbound validating %.0f (%v); warden/unbound %.2f",
		names, rounds, wardenUS[rounds/2], wardenUS, plainUS[rounds/2], plainUS, unboundUS[rounds/2], unboundUS, wardenUS[rounds/2]/unboundUS[rounds/2])
}

// cpuClient asks Warden's resolution stage TXT questions with DO=1, reusing its buffers, so that
// what the measurement charges to Warden is the stage's work and not the client's allocations.
type cpuClient struct {
	t   *testing.T
	out []byte
}

func newCPUClient(t *testing.T) *cpuClient {
	return &cpuClient{t: t, out: make([]byte, 0, 65535)}
}

// ask returns the rcode and the AD bit of the answer to name TXT.
func (c *cpuClient) ask(rec interface {
	Serve(*query.Request, []byte) []byte
}, name string) (int, bool) {
	m := dns.NewMsg(name, dns.TypeTXT)
	m.RecursionDesired = true
	m.UDPSize = 1232
	m.Security = true
	if err := m.Pack(); err != nil {
		c.t.Fatal(err)
	}
	req := &query.Request{Wire: m.Data, Transport: query.TCP, Client: netip.MustParseAddrPort("127.0.0.1:5353")}
	if v := req.Parse(); v != query.Accept {
		c.t.Fatalf("parse: %v", v)
	}
	out := rec.Serve(req, c.out[:0])
	if len(out) < 12 {
		c.t.Fatalf("%s: answer of %d bytes", name, len(out))
	}
	const flagAD = 1 << 5
	flags := binary.BigEndian.Uint16(out[2:])
	return int(flags & 0xf), flags&flagAD != 0
}

func selfCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads utime+stime of a process from /proc/PID/stat.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name is in parentheses and may hold spaces; the fields after it are fixed.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks
}
