package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
	"golang.org/x/sys/unix"

	"warden/internal/lab"
	"warden/internal/lab/labtest"
	"warden/internal/pipeline"
	"warden/internal/resolver"
)

// What forged packets claim. The addresses are from the documentation ranges (RFC 5737) and the
// name is under .test: any of them in an answer means a forgery got through.
const (
	forgedA    = "198.51.100.66"
	forgedGlue = "198.51.100.53"
	attackerNS = "ns.attacker.test."
)

var (
	slowServer = netip.MustParseAddr("127.0.4.4") // slow.example.: 400 ms to answer, the race window
	rootServer = netip.MustParseAddr("127.0.1.1")
	tldServer  = netip.MustParseAddr("127.0.2.2") // example.
)

// The attacks, one per subtest, each against a fresh Recursor (empty cache, zeroed counters).
type spoofMode int

const (
	// (a) blind: the attacker knows the names (it asked them) and, from /proc/net/udp, the
	// resolver's ports; it guesses IDs, with the names in lower and in random case.
	blindIDs spoofMode = iota
	// (b) replies to the wrong port, or from the wrong source port or server: blind ones sprayed
	// around the resolver's ports, and sniffed ones with the right ID and question.
	wrongPorts
	// (c) replies carrying records out of the server's bailiwick: blind ones, and one per
	// sniffed query that is right in every other way (so it is accepted) and must be scrubbed.
	outOfBailiwick
	// (d) sniffed queries answered with the right ID and port but the wrong question, letter case,
	// type or QR bit, and every wrong ID with the exact question.
	sniffed
)

var modeNames = [...]string{"blind IDs", "wrong ports", "out of bailiwick", "sniffed"}

// TestSpoofedRepliesRejected is an attacker on loopback that forges the source address of the lab's
// servers and races forged replies at the resolver's outgoing queries while clients ask names
// under slow.example. (whose server answers after 400 ms) and www.bank.example. No forged record
// may reach a client, then or later from the cache; the forgeries must show as mismatches in the
// upstream counters.
func TestSpoofedRepliesRejected(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("forging source addresses needs a raw socket: run as root")
	}
	l := labtest.Start(t)
	raw, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		t.Skipf("no raw socket: %v", err)
	}
	defer unix.Close(raw)
	if err := unix.SetsockoptInt(raw, unix.IPPROTO_IP, unix.IP_HDRINCL, 1); err != nil {
		t.Fatal(err)
	}
	hints, err := resolver.ParseHints([]byte(l.RootHints()), "lab hints")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var mismatches uint64
	// The phase whose forgeries are accepted goes last: it ends exchanges early, and the slow
	// server, which answers one query at a time, still works off their real replies afterwards.
	for _, mode := range []spoofMode{blindIDs, wrongPorts, sniffed, outOfBailiwick} {
		t.Run(modeNames[mode], func(t *testing.T) {
			mismatches += spoofPhase(t, hints, raw, mode)
		})
	}
	if mismatches == 0 {
		t.Error("no forged reply was counted as a mismatch: the attack never reached the resolver")
	}
	if d := time.Since(start); d > 25*time.Second {
		t.Errorf("took %v", d)
	}
	t.Logf("%d mismatches in all, %v", mismatches, time.Since(start).Round(time.Millisecond))
}

// spoofPhase resolves a set of names through a fresh Recursor while the spoofer attacks in mode,
// checks every answer and the cache, and returns the mismatches counted.
func spoofPhase(t *testing.T, hints []resolver.NameServer, raw int, mode spoofMode) uint64 {
	phaseStart := time.Now()
	// As labRecursor, but keeping the exchanger to read its counters, and with a longer wait for
	// each reply: the lab's slow server answers one query at a time, 400 ms each, so a query
	// behind others waits for theirs too.
	x := resolver.NewUpstreams(53, 3*time.Second)
	t.Cleanup(x.Close)
	_, addr := serveRecursion(t, pipeline.NewRecursor(pipeline.RecursorConfig{
		Hints: hints, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Exchanger: x, Timeout: 8 * time.Second, MaxConcurrent: 100,
	}))
	// Names under slow.example. (one exists, the others do not), new to this resolver, and the
	// bank's name, whose resolution goes through the same root and TLD servers. The blind
	// attacks take four at once (the slow server queues them); the sniffing attacker's sweeps
	// take the window of one query each, so its eight come one after another.
	nSlow, gap := 4, 40*time.Millisecond
	if mode == sniffed {
		nSlow, gap = sweepBlocks, lab.SlowDelay+50*time.Millisecond
	}
	slow := []string{"www.slow.example."}
	for i := range nSlow - 1 {
		slow = append(slow, fmt.Sprintf("%c%d.slow.example.", 'a'+rune(mode), i))
	}
	names := append(slices.Clone(slow), "www.bank.example.")

	sp, err := newSpoofer(raw, mode, slow, netip.MustParseAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	sp.start(ctx)

	answers := make([]*dns.Msg, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			if i < len(slow) {
				time.Sleep(time.Duration(i) * gap)
			} else {
				time.Sleep(20 * time.Millisecond) // the bank's name while the first slow one is pending
			}
			answers[i] = askSpoofed(t, addr, name, dns.TypeA, true)
		})
	}
	wg.Wait()
	cancel()
	sp.wait()
	for i, name := range names {
		checkSpoofed(t, "while attacked", name, answers[i])
	}

	// The same names again, without recursion: the answers come from the cache.
	for _, name := range names {
		checkSpoofed(t, "from the cache", name, askSpoofed(t, addr, name, dns.TypeA, false))
	}
	// Nothing the forgeries claimed is in the cache under its own name either.
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"bank.example.", dns.TypeNS}, {attackerNS, dns.TypeA}, {"slow.example.", dns.TypeNS}} {
		if r := askSpoofed(t, addr, q.name, q.qtype, false); r != nil && (len(r.Answer) > 0 || forgedRecord(r) != "") {
			t.Errorf("%s %s in the cache: %v", q.name, dns.TypeToString[q.qtype], r)
		}
	}
	// Resolved again, the bank's name is its own address.
	checkSpoofed(t, "resolved again", "www.bank.example.", askSpoofed(t, addr, "www.bank.example.", dns.TypeA, true))

	st := x.Stats()
	srtt := x.SRTT(slowServer)
	sent := sp.counts()
	t.Logf("sent %v; upstream: %d queries, %d mismatches, %d timeouts, %d errors; slow server SRTT %v; %v",
		sent, st.Queries, st.Mismatches, st.Timeouts, st.Errors, srtt.Round(time.Millisecond), time.Since(phaseStart).Round(time.Millisecond))
	if mode == sniffed {
		t.Logf("the ID sweep went through %d of the 65536 IDs before the real replies were due", sp.swept)
	}
	if sp.sendErrs > 0 {
		t.Errorf("%d forged packets could not be sent: %v", sp.sendErrs, sp.firstErr)
	}

	total := 0
	for _, n := range sent {
		total += n
	}
	if total < 300 {
		t.Errorf("only %d forgeries sent", total)
	}
	switch mode {
	case blindIDs, outOfBailiwick:
		if st.Mismatches == 0 {
			t.Error("no blind forgery reached the resolver's sockets")
		}
	case sniffed:
		// The wrong question, case, type or QR bit go out within milliseconds of each query,
		// ahead of its ID sweep, and the real reply takes 400 ms: they all arrive while the
		// exchange waits, so at least as many mismatches must be counted.
		var precise uint64
		for k, n := range sent {
			if !strings.HasPrefix(k, "d every wrong ID") {
				precise += uint64(n)
			}
		}
		if precise == 0 {
			t.Error("no query was sniffed")
		}
		if st.Mismatches < precise {
			t.Errorf("%d mismatches counted, fewer than the %d right-ID forgeries sent", st.Mismatches, precise)
		}
	}
	if mode == outOfBailiwick && sent["c right ID, poison added"] > 0 && srtt >= lab.SlowDelay {
		// The forgery was answered before the real reply; if it had been rejected the SRTT would
		// be the slow server's 400 ms.
		t.Errorf("the sniffed forgeries with the right ID were not accepted (SRTT %v): the scrubber went untested", srtt)
	}
	return st.Mismatches
}

// askSpoofed asks the resolver at addr; an error is reported and gives nil.
func askSpoofed(t *testing.T, addr, name string, qtype uint16, rd bool) *dns.Msg {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	m := dns.NewMsg(name, qtype)
	m.RecursionDesired = rd
	c := &dns.Client{Transport: dns.NewTransport()}
	c.ReadTimeout = 6 * time.Second // queued behind other queries at the slow server
	r, _, err := c.Exchange(ctx, m, "udp", addr)
	if err != nil {
		t.Errorf("%s (rd=%v): %v", name, rd, err)
		return nil
	}
	return r
}

// checkSpoofed checks an answer to an A query for name: nothing forged, and the lab's data.
func checkSpoofed(t *testing.T, when, name string, r *dns.Msg) {
	if r == nil {
		return
	}
	if f := forgedRecord(r); f != "" {
		t.Errorf("%s: %s: forged record reached the client: %s", when, name, f)
		return
	}
	var addrs []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addrs = append(addrs, a.A.Addr.String())
		}
	}
	want, rcode := []string(nil), uint16(dns.RcodeNameError)
	switch name {
	case "www.slow.example.":
		want, rcode = []string{"127.0.9.70"}, dns.RcodeSuccess
	case "www.bank.example.":
		want, rcode = []string{"127.0.9.90"}, dns.RcodeSuccess
	}
	if r.Rcode != rcode || !slices.Equal(addrs, want) || len(r.Answer) != len(want) {
		t.Errorf("%s: %s: rcode %d answer %v, want rcode %d %v", when, name, r.Rcode, r.Answer, rcode, want)
	}
}

// forgedRecord returns the first record of m that only a forgery carries, "" if none.
func forgedRecord(m *dns.Msg) string {
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			s := strings.ToLower(rr.String())
			if strings.Contains(s, "198.51.100.") || strings.Contains(s, "attacker") {
				return rr.String()
			}
		}
	}
	return ""
}

// spoofer forges replies from the lab's servers to the resolver with a raw socket.
type spoofer struct {
	raw      int
	mode     spoofMode
	names    []string       // the names under slow.example. being asked, lower case
	listener netip.AddrPort // the resolver's service address
	sniffFD  int            // -1 in the blind mode
	sweeps   int            // blocks of the ID sweep handed out (sniffer goroutine only)
	swept    int            // IDs the sweep went through, the right ones included (not sent)

	wg       sync.WaitGroup
	mu       sync.Mutex
	sent     map[string]int
	sendErrs int
	firstErr error
	attacks  int              // goroutines started, bounded
	own      map[uint64]bool  // inodes of this process's sockets
	seen     map[uint64]bool  // resolver sockets already attacked
	ownPorts []netip.AddrPort // local addresses of this process's UDP sockets above port 1023
	foreign  map[uint16]bool  // ports held by other processes: never sprayed
}

const (
	maxAttacks  = 64                     // goroutines per phase
	sweepBlocks = 8                      // the 65,536 IDs split into this many blocks, one per sniffed query
	sweepWindow = 300 * time.Millisecond // the real reply comes after 400 ms
)

func newSpoofer(raw int, mode spoofMode, names []string, listener netip.AddrPort) (*spoofer, error) {
	s := &spoofer{raw: raw, mode: mode, names: names, listener: listener, sniffFD: -1,
		sent: map[string]int{}, own: map[uint64]bool{}, seen: map[uint64]bool{}, foreign: map[uint16]bool{}}
	if mode == blindIDs {
		return s, nil
	}
	// A raw UDP socket gets a copy of every UDP datagram delivered on the host, the resolver's
	// queries to port 53 among them; the filter keeps only those (destination port 53, source
	// port not 53) so that the forgeries themselves do not crowd them out.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_UDP)
	if err != nil {
		return nil, err
	}
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 22},         // UDP destination port (IP header of 20 bytes)
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 53, Jf: 3}, // not 53: drop
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 20},         // UDP source port
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 53, Jt: 1}, // 53: a server's reply or a forgery
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffff},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	}
	err = errors.Join(
		unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 20000}),
	)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	s.sniffFD = fd
	return s, nil
}

func (s *spoofer) start(ctx context.Context) {
	s.wg.Go(func() { s.scan(ctx) })
	if s.sniffFD >= 0 {
		s.wg.Go(func() { s.sniff(ctx) })
	}
}

func (s *spoofer) wait() {
	s.wg.Wait()
	if s.sniffFD >= 0 {
		unix.Close(s.sniffFD)
	}
}

func (s *spoofer) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.sent)
}

// goAttack runs f in a goroutine unless the phase's bound is reached.
func (s *spoofer) goAttack(f func()) {
	s.mu.Lock()
	ok := s.attacks < maxAttacks
	s.attacks++
	s.mu.Unlock()
	if ok {
		s.wg.Go(f)
	}
}

// send forges one datagram from src to dst.
func (s *spoofer) send(kind string, src, dst netip.AddrPort, payload []byte) {
	err := s.sendRaw(ipv4UDP(src, dst, payload), dst)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.sendErrs++
		s.firstErr = keepFirst(s.firstErr, err)
		return
	}
	s.sent[kind]++
}

func keepFirst(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func (s *spoofer) sendRaw(pkt []byte, dst netip.AddrPort) error {
	for range 100 {
		err := unix.Sendto(s.raw, pkt, 0, &unix.SockaddrInet4{Addr: dst.Addr().As4()})
		if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) {
			return err
		}
		time.Sleep(100 * time.Microsecond)
	}
	return unix.ENOBUFS
}

// ipv4UDP builds an IPv4 packet carrying a UDP datagram. The kernel fills in the IP checksum and
// ID; a UDP checksum of zero means none (RFC 768).
func ipv4UDP(src, dst netip.AddrPort, payload []byte) []byte {
	b := make([]byte, 28+len(payload))
	b[0] = 0x45 // version 4, header of 5 words
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8] = 64 // TTL
	b[9] = unix.IPPROTO_UDP
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[20:], src.Port())
	binary.BigEndian.PutUint16(b[22:], dst.Port())
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	copy(b[28:], payload)
	return b
}

// udpSocket is a line of /proc/net/udp or udp6.
type udpSocket struct {
	local, remote netip.AddrPort // IPv4 sockets only
	port          uint16
	inode         uint64
}

func readUDPTable(path string) []udpSocket {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []udpSocket
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 || fs[0] == "sl" {
			continue
		}
		l, lport, ok1 := procAddr(fs[1])
		r, rport, ok2 := procAddr(fs[2])
		inode, err := strconv.ParseUint(fs[9], 10, 64)
		if !ok1 || !ok2 || err != nil {
			continue
		}
		so := udpSocket{port: lport, inode: inode}
		if l.IsValid() && r.IsValid() {
			so.local, so.remote = netip.AddrPortFrom(l, lport), netip.AddrPortFrom(r, rport)
		}
		out = append(out, so)
	}
	return out
}

// procAddr parses "0100007F:0035": an IPv4 address as the kernel's u32 in host byte order (an
// IPv6 one gives an invalid Addr) and the port in hex.
func procAddr(s string) (netip.Addr, uint16, bool) {
	a, p, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(p, 16, 16)
	if !ok || err != nil {
		return netip.Addr{}, 0, false
	}
	if len(a) != 8 {
		return netip.Addr{}, uint16(port), true
	}
	v, err := strconv.ParseUint(a, 16, 32)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), uint16(port), true
}

// ownInodes lists the socket inodes of this process.
func ownInodes() map[uint64]bool {
	out := map[uint64]bool{}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if n, ok := strings.CutPrefix(link, "socket:["); ok && err == nil {
			if v, err := strconv.ParseUint(strings.TrimSuffix(n, "]"), 10, 64); err == nil {
				out[v] = true
			}
		}
	}
	return out
}

// scan reads /proc/net/udp every millisecond for the resolver's sockets (this process's, connected
// to the slow server's port 53) and attacks each new one blind.
func (s *spoofer) scan(ctx context.Context) {
	for i := 0; i < 20000 && ctx.Err() == nil; i++ {
		socks := append(readUDPTable("/proc/net/udp"), readUDPTable("/proc/net/udp6")...)
		s.mu.Lock()
		if slices.ContainsFunc(socks, func(so udpSocket) bool { return !s.own[so.inode] }) {
			s.own = ownInodes()
		}
		s.ownPorts = s.ownPorts[:0]
		clear(s.foreign)
		var fresh []udpSocket
		for _, so := range socks {
			if !s.own[so.inode] {
				s.foreign[so.port] = true
				continue
			}
			if so.local.IsValid() && so.port >= 1024 { // not the lab's servers on port 53
				s.ownPorts = append(s.ownPorts, so.local)
			}
			if so.remote == netip.AddrPortFrom(slowServer, 53) && !s.seen[so.inode] {
				s.seen[so.inode] = true
				fresh = append(fresh, so)
			}
		}
		s.mu.Unlock()
		for _, so := range fresh {
			s.goAttack(func() { s.blind(ctx, so) })
		}
		time.Sleep(time.Millisecond)
	}
}

// blind attacks a resolver socket knowing only its address, the server's and the names asked.
func (s *spoofer) blind(ctx context.Context, so udpSocket) {
	from := so.remote
	switch s.mode {
	case blindIDs:
		for k := range 25 {
			for _, name := range s.names {
				q := wireName(name)
				kind := "a random ID, lower case"
				if k%2 == 1 {
					randomCase(q)
					kind = "a random ID, random case"
				}
				s.send(kind, from, so.local, forgedReply(uint16(rand.Uint32()), q, dns.TypeA, 0, forgedAnswer(q), nil, nil))
			}
			if ctx.Err() != nil {
				return
			}
			time.Sleep(500 * time.Microsecond)
		}
	case wrongPorts:
		// Ports around the resolver's, and every other socket of this process (the resolver's
		// other queries, its service port, the clients'); never another process's.
		s.mu.Lock()
		targets := slices.Clone(s.ownPorts)
		for d := -32; d <= 32; d++ {
			p := int(so.local.Port()) + d
			if d != 0 && p >= 1024 && p < 65536 && !s.foreign[uint16(p)] {
				targets = append(targets, netip.AddrPortFrom(so.local.Addr(), uint16(p)))
			}
		}
		s.mu.Unlock()
		for i, to := range targets {
			if to == so.local {
				continue
			}
			q := wireName(s.names[i%len(s.names)])
			s.send("b random ID, wrong port", from, to, forgedReply(uint16(rand.Uint32()), q, dns.TypeA, 0, forgedAnswer(q), nil, nil))
			if i%32 == 31 {
				time.Sleep(500 * time.Microsecond)
			}
		}
	case outOfBailiwick:
		for k := range 20 {
			for _, name := range s.names {
				q := wireName(name)
				if k%2 == 1 {
					randomCase(q)
				}
				an, ns, ar := poison()
				an = append(forgedAnswer(q), an...)
				ns = append(ns, rec{wireName("slow.example."), dns.TypeNS, wireName(attackerNS)})
				s.send("c random ID, poison", from, so.local, forgedReply(uint16(rand.Uint32()), q, dns.TypeA, 0, an, ns, ar))
			}
			if ctx.Err() != nil {
				return
			}
			time.Sleep(500 * time.Microsecond)
		}
	}
}

// sniffed is one query the resolver sent to the slow server.
type sniffedQuery struct {
	from   netip.AddrPort // the resolver's socket
	to     netip.AddrPort // the server
	id     uint16
	qname  []byte // wire form, in the letter case sent
	qtype  uint16
	seenAt time.Time
}

// sniff reads the resolver's queries off loopback and answers those to the slow server.
func (s *spoofer) sniff(ctx context.Context) {
	buf := make([]byte, 65536)
	for i := 0; i < 100000 && ctx.Err() == nil; i++ {
		n, _, err := unix.Recvfrom(s.sniffFD, buf, 0)
		if err != nil {
			continue // the receive timeout: look at ctx again
		}
		q, ok := parseSniffed(buf[:n])
		if !ok || q.to != netip.AddrPortFrom(slowServer, 53) {
			continue
		}
		block := -1
		if s.mode == sniffed && s.sweeps < sweepBlocks {
			block = s.sweeps
			s.sweeps++
		}
		s.goAttack(func() { s.answerSniffed(q, block) })
	}
}

func parseSniffed(p []byte) (sniffedQuery, bool) {
	if len(p) < 20 || p[0]>>4 != 4 {
		return sniffedQuery{}, false
	}
	ihl := int(p[0]&0xf) * 4
	if p[9] != unix.IPPROTO_UDP || len(p) < ihl+8+12 {
		return sniffedQuery{}, false
	}
	src := netip.AddrFrom4([4]byte(p[12:16]))
	dst := netip.AddrFrom4([4]byte(p[16:20]))
	u := p[ihl:]
	m := u[8:]
	q := sniffedQuery{
		from: netip.AddrPortFrom(src, binary.BigEndian.Uint16(u)), to: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(u[2:])),
		id: binary.BigEndian.Uint16(m), seenAt: time.Now(),
	}
	if m[2]&0x80 != 0 || binary.BigEndian.Uint16(m[4:]) != 1 {
		return sniffedQuery{}, false
	}
	off := 12
	for off < len(m) && m[off] != 0 {
		off += int(m[off]) + 1
	}
	if off+5 > len(m) {
		return sniffedQuery{}, false
	}
	q.qname = bytes.Clone(m[12 : off+1])
	q.qtype = binary.BigEndian.Uint16(m[off+1:])
	return q, true
}

// answerSniffed forges replies to a query seen on the wire; the ID sweep takes block (-1: none).
func (s *spoofer) answerSniffed(q sniffedQuery, block int) {
	lower := bytes.ToLower(q.qname)
	switch s.mode {
	case wrongPorts:
		// Right ID and question: only where it comes from or goes to is wrong.
		good := forgedReply(q.id, q.qname, q.qtype, 0, forgedAnswer(q.qname), nil, nil)
		s.send("b right ID, wrong source port", netip.AddrPortFrom(slowServer, 5353), q.from, good)
		for _, a := range []netip.Addr{rootServer, tldServer} {
			s.send("b right ID, wrong source address", netip.AddrPortFrom(a, 53), q.from, good)
		}
		s.mu.Lock()
		targets := slices.Clone(s.ownPorts)
		for d := -16; d <= 16; d++ {
			p := int(q.from.Port()) + d
			if d != 0 && p >= 1024 && p < 65536 && !s.foreign[uint16(p)] {
				targets = append(targets, netip.AddrPortFrom(q.from.Addr(), uint16(p)))
			}
		}
		s.mu.Unlock()
		for _, to := range targets {
			if to != q.from {
				s.send("b right ID, wrong port", q.to, to, good)
			}
		}
	case outOfBailiwick:
		// Right in every way, with the lab's own data for the name, plus records about a zone
		// the slow server has no authority for: accepted by the transport, it is the scrubber's
		// to clean. It waits for the blind forgeries to land first, since it ends the exchange.
		var an, ns []rec
		var rcode uint16
		switch {
		case q.qtype != dns.TypeA || !slices.Contains(s.names, string(wireToName(lower))):
			return
		case string(lower) == string(wireName("www.slow.example.")):
			an = []rec{{q.qname, dns.TypeA, netip.MustParseAddr("127.0.9.70").AsSlice()}}
		default:
			rcode = dns.RcodeNameError
			ns = []rec{{wireName("slow.example."), dns.TypeSOA, soaRdata("slow.hosting.org.", "hostmaster.lab.", 1, 3600, 600, 86400, 300)}}
		}
		pan, pns, par := poison()
		time.Sleep(150 * time.Millisecond)
		s.send("c right ID, poison added", q.to, q.from, forgedReply(q.id, q.qname, q.qtype, rcode, append(an, pan...), append(ns, pns...), par))
	case sniffed:
		from, to := q.to, q.from
		// The wrong question: another name, with the forged address for it.
		bank := wireName("www.bank.example.")
		s.send("d right ID, wrong name", from, to, forgedReply(q.id, bank, dns.TypeA, 0, forgedAnswer(bank), nil, nil))
		other := wireName(s.names[0])
		if bytes.Equal(lower, other) {
			other = wireName(s.names[1])
		}
		randomCase(other)
		s.send("d right ID, wrong name", from, to, forgedReply(q.id, other, dns.TypeA, 0, forgedAnswer(other), nil, nil))
		// The right name in another letter case than the one sent (0x20).
		for _, c := range [][]byte{lower, bytes.ToUpper(q.qname), flipOne(q.qname)} {
			if !bytes.Equal(c, q.qname) {
				s.send("d right ID, wrong case", from, to, forgedReply(q.id, c, q.qtype, 0, forgedAnswer(c), nil, nil))
			}
		}
		// The right name and case with another type, and a copy of the query (QR clear).
		s.send("d right ID, wrong type", from, to, forgedReply(q.id, q.qname, dns.TypeAAAA, 0, forgedAnswer(q.qname), nil, nil))
		notResponse := forgedReply(q.id, q.qname, q.qtype, 0, forgedAnswer(q.qname), nil, nil)
		notResponse[2] &^= 0x80
		s.send("d right ID, QR clear", from, to, notResponse)
		if block >= 0 {
			s.sweep(q, block)
		}
	}
}

// sweep sends the exact question with every ID of one block but the right one, for as long as the
// real reply is still far off.
func (s *spoofer) sweep(q sniffedQuery, block int) {
	const size = 65536 / sweepBlocks
	msg := forgedReply(0, q.qname, q.qtype, 0, forgedAnswer(q.qname), nil, nil)
	pkt := ipv4UDP(q.to, q.from, msg)
	n, covered := 0, 0
	var err error
	for i := range size {
		id := uint16(block*size + i)
		if id == q.id {
			continue
		}
		if time.Since(q.seenAt) > sweepWindow {
			break
		}
		binary.BigEndian.PutUint16(pkt[28:], id)
		if err = s.sendRaw(pkt, q.from); err != nil {
			break
		}
		n++
		covered = i + 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent["d every wrong ID, exact question"] += n
	s.swept += covered
	if err != nil {
		s.sendErrs++
		s.firstErr = keepFirst(s.firstErr, err)
	}
}

// rec is a resource record to forge: owner name in wire form, type, RDATA.
type rec struct {
	name  []byte
	rtype uint16
	rdata []byte
}

// forgedAnswer is the forged address for the name q.
func forgedAnswer(q []byte) []rec {
	return []rec{{q, dns.TypeA, netip.MustParseAddr(forgedA).AsSlice()}}
}

// poison is what an attacker adds about a zone it does not serve: an address for www.bank.example.
// in the answer and additional sections, and a delegation of bank.example. to its own server.
func poison() (an, ns, ar []rec) {
	bank := rec{wireName("www.bank.example."), dns.TypeA, netip.MustParseAddr(forgedA).AsSlice()}
	return []rec{bank},
		[]rec{{wireName("bank.example."), dns.TypeNS, wireName(attackerNS)}},
		[]rec{{wireName(attackerNS), dns.TypeA, netip.MustParseAddr(forgedGlue).AsSlice()}, bank}
}

// forgedReply builds an authoritative response (QR, AA) with the question (qname, qtype IN).
func forgedReply(id uint16, qname []byte, qtype, rcode uint16, an, ns, ar []rec) []byte {
	b := make([]byte, 12, 512)
	binary.BigEndian.PutUint16(b, id)
	binary.BigEndian.PutUint16(b[2:], 0x8400|rcode)
	binary.BigEndian.PutUint16(b[4:], 1)
	binary.BigEndian.PutUint16(b[6:], uint16(len(an)))
	binary.BigEndian.PutUint16(b[8:], uint16(len(ns)))
	binary.BigEndian.PutUint16(b[10:], uint16(len(ar)))
	b = append(b, qname...)
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, dns.ClassINET)
	for _, sec := range [][]rec{an, ns, ar} {
		for _, r := range sec {
			b = append(b, r.name...)
			b = binary.BigEndian.AppendUint16(b, r.rtype)
			b = binary.BigEndian.AppendUint16(b, dns.ClassINET)
			b = binary.BigEndian.AppendUint32(b, 86400)
			b = binary.BigEndian.AppendUint16(b, uint16(len(r.rdata)))
			b = append(b, r.rdata...)
		}
	}
	return b
}

func soaRdata(mname, rname string, serial, refresh, retry, expire, minimum uint32) []byte {
	b := append(wireName(mname), wireName(rname)...)
	for _, v := range []uint32{serial, refresh, retry, expire, minimum} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// wireName converts a fully qualified name without escapes to wire form.
func wireName(name string) []byte {
	var b []byte
	for label := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		if label != "" {
			b = append(b, byte(len(label)))
			b = append(b, label...)
		}
	}
	return append(b, 0)
}

func wireToName(w []byte) []byte {
	var out []byte
	for off := 0; off < len(w) && w[off] != 0; off += int(w[off]) + 1 {
		out = append(out, w[off+1:off+1+int(w[off])]...)
		out = append(out, '.')
	}
	return out
}

// randomCase gives each letter of the wire name n a random case.
func randomCase(n []byte) {
	for off := 0; off < len(n) && n[off] != 0; off += int(n[off]) + 1 {
		for i := off + 1; i <= off+int(n[off]); i++ {
			if c := n[i] | 0x20; c >= 'a' && c <= 'z' && rand.IntN(2) == 0 {
				n[i] ^= 0x20
			}
		}
	}
}

// flipOne returns n with the case of its first letter flipped.
func flipOne(n []byte) []byte {
	out := bytes.Clone(n)
	for off := 0; off < len(out) && out[off] != 0; off += int(out[off]) + 1 {
		for i := off + 1; i <= off+int(out[off]); i++ {
			if c := out[i] | 0x20; c >= 'a' && c <= 'z' {
				out[i] ^= 0x20
				return out
			}
		}
	}
	return out
}
