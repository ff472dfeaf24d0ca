package probe

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"warden/internal/dnstest"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
)

// handler answers one query by sending any number of replies through send, possibly after delays.
type handler func(q *dns.Msg, send func(*dns.Msg))

// serveUDP runs h for every query to a UDP socket on ip, until the test ends.
func serveUDP(t testing.TB, ip string, h handler) netip.AddrPort {
	t.Helper()
	return dnstest.ServeUDP(t, ip, h)
}

// zone is a set of records written as zone-file text; a name absent from it does not exist.
type zone []dns.RR

func parseZone(t testing.TB, text string) zone {
	t.Helper()
	var z zone
	for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		rr, err := dns.New(line)
		if err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		z = append(z, rr)
	}
	return z
}

// reply answers q from z: records of the asked name and type, NODATA when the name has others,
// NXDOMAIN when it has none.
func (z zone) reply(q *dns.Msg) *dns.Msg {
	m := dnsutil.SetReply(new(dns.Msg), q)
	m.RecursionAvailable = true
	name, qtype := dnsutil.Question(q)
	exists := false
	for _, rr := range z {
		if !strings.EqualFold(rr.Header().Name, name) {
			continue
		}
		exists = true
		if dns.RRToType(rr) == qtype {
			m.Answer = append(m.Answer, rr.Clone())
		}
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	return m
}

// honest answers from z once.
func honest(z zone) handler {
	return func(q *dns.Msg, send func(*dns.Msg)) { send(z.reply(q)) }
}

// racing stands in for an on-path injector in front of a resolver: for the names in forged it
// sends the forged reply at once and the real one from real 50 ms later; other names get only the
// real reply.
func racing(real, forged zone) handler {
	return func(q *dns.Msg, send func(*dns.Msg)) {
		name, _ := dnsutil.Question(q)
		if forged.has(name) {
			send(forged.reply(q))
			time.Sleep(50 * time.Millisecond)
		}
		send(real.reply(q))
	}
}

func (z zone) has(name string) bool {
	for _, rr := range z {
		if strings.EqualFold(rr.Header().Name, name) {
			return true
		}
	}
	return false
}

// rcode answers every query with an empty reply carrying rc.
func rcode(rc uint16) handler {
	return func(q *dns.Msg, send func(*dns.Msg)) {
		m := dnsutil.SetReply(new(dns.Msg), q)
		m.Rcode = rc
		send(m)
	}
}

// silent never answers.
func silent(*dns.Msg, func(*dns.Msg)) {}

// darkAddr returns a loopback address and port where nothing listens: a port the kernel handed
// out and that was closed again.
func darkAddr(t testing.TB, ip string) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	return ap
}

func parseAddrs(t testing.TB, s ...string) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}
