//go:build linux

package netbed

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"codeberg.org/miekg/dns"
	"golang.org/x/sys/unix"
)

// Answer answers a DNS query from answers (lower-case owner name to address), with NXDOMAIN for
// other names when nxdomain is set and with nothing (nil) otherwise.
func Answer(query []byte, answers map[string]netip.Addr, nxdomain bool) []byte {
	q := &dns.Msg{Data: append([]byte(nil), query...)}
	if q.Unpack() != nil || q.Response || len(q.Question) != 1 {
		return nil
	}
	name := strings.ToLower(q.Question[0].Header().Name)
	addr, known := answers[name]
	if !known && !nxdomain {
		return nil
	}
	r := &dns.Msg{
		MsgHeader: dns.MsgHeader{ID: q.ID, Response: true, Authoritative: true, RecursionDesired: q.RecursionDesired},
		Question:  q.Question,
	}
	switch {
	case !known:
		r.Rcode = dns.RcodeNameError
	case dns.RRToType(q.Question[0]) == dns.TypeA:
		rr, err := dns.New(name + " 300 IN A " + addr.String())
		if err != nil {
			return nil
		}
		r.Answer = []dns.RR{rr}
	}
	if r.Pack() != nil {
		return nil
	}
	return r.Data
}

// StartServer runs a DNS server on ap inside ns until the test ends, answering from answers and
// NXDOMAIN for the rest.
func StartServer(t testing.TB, ns NS, ap netip.AddrPort, answers map[string]netip.Addr) {
	t.Helper()
	var conn *net.UDPConn
	err := ns.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
		return err
	})
	if err != nil {
		t.Fatalf("bed server on %s: %v", ap, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed by the cleanup below
			}
			if reply := Answer(buf[:n], answers, true); reply != nil {
				_, _ = conn.WriteToUDPAddrPort(reply, from)
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
}

// Injector sniffs the UDP packets to port 53 that arrive on one interface of a router, whatever
// their TTL, and answers the queries for its names at once with a forged reply whose source is the
// queried server, the way an on-path censor does.
type Injector struct {
	Forged atomic.Int32 // forged replies sent
}

// StartInjector runs an injector on dev inside ns until the test ends. It answers the names in
// forged (lower-case) with their addresses.
func StartInjector(t testing.TB, ns NS, dev string, forged map[string]netip.Addr) *Injector {
	t.Helper()
	sniff, send := -1, -1
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		proto := htons(unix.ETH_P_IP)
		if sniff, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(proto)); err != nil {
			return err
		}
		if err := unix.Bind(sniff, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			return err
		}
		send, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	})
	if err != nil {
		for _, fd := range []int{sniff, send} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
		t.Fatalf("injector on %s in %s: %v", dev, ns, err)
	}
	// A non-blocking descriptor gives a pollable file, whose Close ends a Read in progress.
	f := os.NewFile(uintptr(sniff), "injector")
	inj := &Injector{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return // closed by the cleanup below
			}
			pkt, to := forgeReply(buf[:n], forged)
			if pkt == nil {
				continue
			}
			if unix.Sendto(send, pkt, 0, &unix.SockaddrInet4{Addr: to.As4()}) == nil {
				inj.Forged.Add(1)
			}
		}
	}()
	t.Cleanup(func() {
		f.Close()
		<-done
		unix.Close(send)
	})
	return inj
}

// forgeReply turns a sniffed IPv4 UDP query to port 53 for a forged name into the IP packet of a
// reply from the queried address, and says where to send it. Anything else gives nil.
func forgeReply(pkt []byte, forged map[string]netip.Addr) ([]byte, netip.Addr) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 || pkt[9] != unix.IPPROTO_UDP {
		return nil, netip.Addr{}
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < 20 || len(pkt) < ihl+8 {
		return nil, netip.Addr{}
	}
	udp := pkt[ihl:]
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if binary.BigEndian.Uint16(udp[2:]) != 53 || ulen < 8 || ulen > len(udp) {
		return nil, netip.Addr{}
	}
	answer := Answer(udp[8:ulen], forged, false)
	if answer == nil {
		return nil, netip.Addr{}
	}
	client, server := [4]byte(pkt[12:16]), [4]byte(pkt[16:20])
	out := make([]byte, 28+len(answer))
	out[0] = 0x45
	binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
	out[8] = 64 // TTL
	out[9] = unix.IPPROTO_UDP
	copy(out[12:16], server[:])
	copy(out[16:20], client[:])
	// The kernel fills in the IP header checksum and ID of an IPPROTO_RAW packet; the UDP
	// checksum is this code's to make.
	u := out[20:]
	binary.BigEndian.PutUint16(u[0:], 53)
	copy(u[2:4], udp[0:2])
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], answer)
	binary.BigEndian.PutUint16(u[6:], udpChecksum(server, client, u))
	return out, netip.AddrFrom4(client)
}

// udpChecksum is the RFC 768 checksum of segment (its checksum field zero) over the IPv4
// pseudo-header.
func udpChecksum(src, dst [4]byte, segment []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	sum += unix.IPPROTO_UDP + uint32(len(segment))
	add(segment)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	if c := ^uint16(sum); c != 0 {
		return c
	}
	return 0xffff
}

// htons puts a 16-bit value in network byte order as the host reads it, which is how AF_PACKET
// takes its protocol number.
func htons(v uint16) uint16 {
	return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v))
}
