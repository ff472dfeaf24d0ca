package upstream

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A socket set up by recvTTL hands over the TTL each datagram came with: 64 for loopback's
// default, and whatever the sender set otherwise.
func TestRecvTTL(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("127.0.36.7")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	d := net.Dialer{Control: recvTTL}
	c, err := d.Dial("udp", srv.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uc := c.(*net.UDPConn)
	raw, err := srv.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, ttl := range []int{64, 7, 255} {
		if err := raw.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl) }); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.WriteToUDP([]byte("x"), c.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
		uc.SetReadDeadline(time.Now().Add(slow))
		buf, oob := make([]byte, 16), make([]byte, oobSize)
		_, oobn, _, _, err := uc.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			t.Fatal(err)
		}
		if got := ipTTL(oob[:oobn]); got != ttl {
			t.Errorf("sent with TTL %d, read %d", ttl, got)
		}
	}
}

// The same over IPv6, where the kernel hands over the hop limit.
func TestRecvHopLimit(t *testing.T) {
	srv, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer srv.Close()
	d := net.Dialer{Control: recvTTL}
	c, err := d.Dial("udp", srv.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := srv.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 9) }); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WriteToUDP([]byte("x"), c.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	uc := c.(*net.UDPConn)
	uc.SetReadDeadline(time.Now().Add(slow))
	buf, oob := make([]byte, 16), make([]byte, oobSize)
	_, oobn, _, _, err := uc.ReadMsgUDPAddrPort(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if got := ipTTL(oob[:oobn]); got != 9 {
		t.Errorf("sent with hop limit 9, read %d", got)
	}
}

func TestIPTTLMalformed(t *testing.T) {
	// A header whose length runs past the buffer, and one of another kind.
	long := make([]byte, unix.CmsgSpace(4))
	binary.NativeEndian.PutUint64(long, 1000)
	for _, oob := range [][]byte{nil, {1, 2, 3}, long, make([]byte, unix.CmsgSpace(4))} {
		if got := ipTTL(oob); got != -1 {
			t.Errorf("ipTTL(%x) = %d, want -1", oob, got)
		}
	}
}

// FuzzIPTTL: control messages are the kernel's, but the parser must not trust their lengths.
func FuzzIPTTL(f *testing.F) {
	good := make([]byte, unix.CmsgSpace(4))
	binary.NativeEndian.PutUint64(good, uint64(unix.CmsgLen(4)))
	binary.NativeEndian.PutUint32(good[8:], unix.IPPROTO_IP)
	binary.NativeEndian.PutUint32(good[12:], unix.IP_TTL)
	binary.NativeEndian.PutUint32(good[unix.CmsgLen(0):], 57)
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, oob []byte) {
		if ttl := ipTTL(oob); ttl < -1 || ttl > 255 {
			t.Fatalf("ipTTL = %d", ttl)
		}
	})
}
