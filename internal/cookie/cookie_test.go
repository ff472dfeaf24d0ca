package cookie

import (
	"encoding/hex"
	"net/netip"
	"testing"
)

// The reference vector of the SipHash paper (appendix A): key 00..0f, message 00..0e.
func TestSipHashVector(t *testing.T) {
	msg := make([]byte, 15)
	for i := range msg {
		msg[i] = byte(i)
	}
	if got := sipHash24(0x0706050403020100, 0x0f0e0d0c0b0a0908, msg); got != 0xa129ca6149be45e5 {
		t.Fatalf("siphash = %#x, want 0xa129ca6149be45e5", got)
	}
}

// A cookie BIND 9.18 and Knot 3.2 both gave for this client cookie, address and secret (their
// cookie-secret and mod-cookies secret): Warden makes the same and accepts it.
func TestCookieAsPeersMakeIt(t *testing.T) {
	s, err := ParseSecret("e5e973e5a6b2a43f48e7dc849e37bfcf")
	if err != nil {
		t.Fatal(err)
	}
	client, _ := hex.DecodeString("418efd46b43a4beb")
	want, _ := hex.DecodeString("010000006b16ffbbf8cd66dd696ef7ec")
	addr := netip.MustParseAddr("127.0.0.1")
	var got [Len]byte
	s.Make(&got, client, addr, 0x6b16ffbb)
	if hex.EncodeToString(got[:]) != hex.EncodeToString(want) {
		t.Fatalf("cookie %x, want %x", got, want)
	}
	if v, r := s.Check(client, want, addr, 0x6b16ffbb+10); !v || !r {
		t.Fatalf("own cookie: valid %t reuse %t", v, r)
	}
	if v, _ := s.Check(client, want, netip.MustParseAddr("::ffff:127.0.0.1"), 0x6b16ffbb); !v {
		t.Fatal("IPv4-mapped address not taken as IPv4")
	}
	for _, c := range []struct {
		name   string
		addr   string
		now    uint32
		valid  bool
		reused bool
	}{
		{"another client address", "127.0.0.2", 0x6b16ffbb, false, false},
		{"older than half an hour", "127.0.0.1", 0x6b16ffbb + 1800, true, false},
		{"older than an hour", "127.0.0.1", 0x6b16ffbb + 3601, false, false},
		{"within the allowed skew", "127.0.0.1", 0x6b16ffbb - 300, true, true},
		{"too far in the future", "127.0.0.1", 0x6b16ffbb - 301, false, false},
	} {
		v, r := s.Check(client, want, netip.MustParseAddr(c.addr), c.now)
		if v != c.valid || r != c.reused {
			t.Errorf("%s: valid %t reuse %t, want %t %t", c.name, v, r, c.valid, c.reused)
		}
	}
	bad := append([]byte(nil), want...)
	bad[15] ^= 1
	if v, _ := s.Check(client, bad, addr, 0x6b16ffbb); v {
		t.Error("a changed hash is valid")
	}
}

func TestParseSecret(t *testing.T) {
	for _, s := range []string{"", "0x00", "zz0973e5a6b2a43f48e7dc849e37bfcf", "e5e973e5a6b2a43f48e7dc849e37bfcf00"} {
		if _, err := ParseSecret(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
	if _, err := ParseSecret("0xe5e973e5a6b2a43f48e7dc849e37bfcf\n"); err != nil {
		t.Error(err)
	}
}

func BenchmarkMake(b *testing.B) {
	s, _ := NewSecret()
	client := []byte("12345678")
	addr := netip.MustParseAddr("192.0.2.1")
	var c [Len]byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Make(&c, client, addr, uint32(i))
	}
}
