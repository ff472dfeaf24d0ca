package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"codeberg.org/miekg/dns"
)

// Locator finds the hop on the path to target where a forged DNS reply for name is injected.
// hop is the IP TTL (hop count) of that device, counted from the prober; hop 0 with a nil error
// means that no reply came back from closer than the target itself, so nothing was located.
type Locator interface {
	Locate(ctx context.Context, target netip.AddrPort, name string, qtype uint16) (hop int, addr netip.Addr, err error)
}

var _ Locator = TTLLocator{}

// Defaults for the zero fields of a TTLLocator.
const (
	DefaultMaxHops = 30
	DefaultWait    = time.Second
	DefaultTries   = 2
)

// TTLLocator locates injection the way traceroute finds routers: it sends the DNS query with IP TTL
// (IPv6 hop limit) 1, 2, … on an ordinary UDP socket and reads the routers' ICMP time-exceeded
// messages from the socket's error queue (IP_RECVERR), so it needs no raw socket and no privilege.
// A device that forges replies answers a query that never reached the server; the first TTL that
// draws a reply while the target is farther away is the injector's hop.
//
// The sockets are opened on the calling goroutine's thread, so a caller locked into a network
// namespace probes from that namespace.
type TTLLocator struct {
	MaxHops int           // highest TTL tried; 0 means DefaultMaxHops
	Wait    time.Duration // how long one try at one TTL waits for replies and ICMP; 0 means DefaultWait
	Tries   int           // queries sent at one TTL when nothing at all comes back; 0 means DefaultTries
}

// HopReport is what one TTL of a trace saw.
type HopReport struct {
	TTL int
	// Router sent an ICMP error about the query at this TTL (time exceeded, or unreachable); zero
	// when no ICMP error came back.
	Router netip.Addr
	// Expired is set when Router reported the query's TTL exceeded: proof that the query died
	// before the target.
	Expired bool
	// Unreachable is set when Router reported the target unreachable (by route, filter or a closed
	// port on the target itself).
	Unreachable bool
	// Replied is set when a DNS reply with the query's ID and question came back.
	Replied bool
}

// reachedTarget says whether the query at this TTL got to the target: the target answered, or
// said it has no DNS server on the port, and no router between claims to have dropped the query.
func (h HopReport) reachedTarget(target netip.Addr) bool {
	if h.Expired {
		return false
	}
	return h.Replied || h.Unreachable && h.Router == target
}

func (l TTLLocator) maxHops() int {
	if l.MaxHops <= 0 {
		return DefaultMaxHops
	}
	return min(l.MaxHops, 255)
}

func (l TTLLocator) wait() time.Duration {
	if l.Wait <= 0 {
		return DefaultWait
	}
	return l.Wait
}

func (l TTLLocator) tries() int {
	if l.Tries <= 0 {
		return DefaultTries
	}
	return l.Tries
}

// ErrSilentPath says that no hop of a trace sent anything back, neither ICMP nor a reply: the path
// (or a local firewall) drops ICMP, and injection cannot be located with TTLs.
var ErrSilentPath = errors.New("no ICMP error and no reply from any hop")

// Locate traces the path to target with a query for name and type qtype (A when qtype is 0) and
// returns the injector's hop, as defined by InjectionHop, or ErrSilentPath.
func (l TTLLocator) Locate(ctx context.Context, target netip.AddrPort, name string, qtype uint16) (int, netip.Addr, error) {
	hops, err := l.Trace(ctx, target, name, qtype)
	if err != nil {
		return 0, netip.Addr{}, err
	}
	if !slices.ContainsFunc(hops, HopReport.sawAnything) {
		return 0, netip.Addr{}, fmt.Errorf("locate %s via %s, %d hops: %w", name, target, len(hops), ErrSilentPath)
	}
	hop, addr := InjectionHop(hops, target.Addr().Unmap())
	return hop, addr, nil
}

// Trace sends the query at TTL 1, 2, … and reports what each TTL saw. It stops at MaxHops, when a
// router reports the target unreachable, or once two TTLs in a row reached the target: the second
// one guards against a silent router (one that sends no ICMP) being taken for the target. It lasts
// at most MaxHops × Tries × Wait; within one try it stops waiting a quarter of Wait after the
// first reply or time-exceeded, since a router and an injector on it answer within one round trip
// of each other.
func (l TTLLocator) Trace(ctx context.Context, target netip.AddrPort, name string, qtype uint16) ([]HopReport, error) {
	target = netip.AddrPortFrom(target.Addr().Unmap(), target.Port())
	if !target.IsValid() || target.Port() == 0 {
		return nil, fmt.Errorf("locate: target %q is not an address and port", target)
	}
	if qtype == 0 {
		qtype = dns.TypeA
	}
	query, err := packQuery(name, qtype)
	if err != nil {
		return nil, fmt.Errorf("locate %s: %w", name, err)
	}
	var hops []HopReport
	reachedInRow := 0
	for ttl := 1; ttl <= l.maxHops(); ttl++ {
		h := HopReport{TTL: ttl}
		for try := 0; try < l.tries() && !h.sawAnything(); try++ {
			binary.BigEndian.PutUint16(query, uint16(rand.Uint32()))
			if h, err = probeTTL(ctx, target, query, ttl, l.wait()); err != nil {
				return hops, fmt.Errorf("locate %s via %s, ttl %d: %w", name, target, ttl, err)
			}
		}
		hops = append(hops, h)
		if h.Unreachable && h.Router != target.Addr() {
			break
		}
		if h.reachedTarget(target.Addr()) {
			reachedInRow++
		} else {
			reachedInRow = 0
		}
		if reachedInRow == 2 {
			break
		}
	}
	return hops, nil
}

func (h HopReport) sawAnything() bool { return h.Replied || h.Router.IsValid() }

// InjectionHop reads a trace. The target's distance is the smallest TTL that reached the target
// (see HopReport) with no time-exceeded at any higher TTL; without one, the target lies beyond
// the trace. A reply at a TTL below that distance cannot have come from the target, so the
// smallest such TTL is the injector's hop. Its address is the router that reported time exceeded
// at that TTL, the device that both let the query die and answered it; when none did (a silent
// router), it is the last router seen at a lower TTL, the nearest known point before the injector,
// and the zero address when none was seen at all. Without such a reply InjectionHop returns 0.
func InjectionHop(hops []HopReport, target netip.Addr) (int, netip.Addr) {
	distance := 0
	for i := len(hops) - 1; i >= 0 && !hops[i].Expired; i-- {
		if hops[i].reachedTarget(target) {
			distance = hops[i].TTL
		}
	}
	var lastRouter netip.Addr
	for _, h := range hops {
		if distance != 0 && h.TTL >= distance {
			break
		}
		if h.Replied {
			if h.Expired {
				return h.TTL, h.Router
			}
			return h.TTL, lastRouter
		}
		if h.Router.IsValid() {
			lastRouter = h.Router
		}
	}
	return 0, netip.Addr{}
}

// packQuery builds the query without EDNS, so that everything after the header is the question
// and a reply can be checked against it byte for byte. The ID is set per try.
func packQuery(name string, qtype uint16) ([]byte, error) {
	m := dns.NewMsg(name, qtype)
	if m == nil {
		return nil, fmt.Errorf("query type %d is not known", qtype)
	}
	if err := m.Pack(); err != nil {
		return nil, fmt.Errorf("pack query: %w", err)
	}
	if len(m.Data) <= headerLen+4 {
		return nil, errors.New("pack query: no question")
	}
	return m.Data, nil
}

const headerLen = 12

// answersQuery says whether reply is a response to query: same ID, the QR bit, one question, and
// that question equal to the query's, the name compared without regard to ASCII case (a server
// may change it, RFC 4343). A reply that compresses its question name does not match; servers
// write the first name in full.
func answersQuery(reply, query []byte) bool {
	if len(reply) < len(query) || len(query) <= headerLen+4 {
		return false
	}
	if reply[0] != query[0] || reply[1] != query[1] || reply[2]&0x80 == 0 {
		return false
	}
	if binary.BigEndian.Uint16(reply[4:]) != 1 {
		return false
	}
	nameEnd := len(query) - 4
	for i := headerLen; i < nameEnd; i++ {
		if lowerASCII(reply[i]) != lowerASCII(query[i]) {
			return false
		}
	}
	return string(reply[nameEnd:len(query)]) == string(query[nameEnd:])
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}
