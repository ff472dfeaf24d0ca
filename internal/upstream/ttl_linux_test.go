package upstream

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A socket opened for an exchange with Hold-On on hands over the TTL each datagram came with: 64
// for loopback's default, and whatever the sender set otherwise.
func TestRecvTTL(t *testing.T) {
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP("127.0.46.7")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, ttl := range []int{64, 7, 255} {
		if got := readTTL(t, srv, func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl) }); got != ttl {
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
	if got := readTTL(t, srv, func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 9) }); got != 9 {
		t.Errorf("sent with hop limit 9, read %d", got)
	}
}

// readTTL has srv, its socket set up by set, send one datagram to a fresh exchange socket and
// returns the TTL that socket read.
func readTTL(t *testing.T, srv *net.UDPConn, set func(fd uintptr)) int {
	t.Helper()
	d, err := openDgram(srv.LocalAddr().(*net.UDPAddr).AddrPort(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	raw, err := srv.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Control(set); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WriteToUDPAddrPort([]byte("x"), d.local()); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 16), make([]byte, oobSize)
	n, oobn, _, err := d.read(context.Background(), time.Now().Add(slow), buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || buf[0] != 'x' {
		t.Fatalf("read %q", buf[:n])
	}
	return ipTTL(oob[:oobn])
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
