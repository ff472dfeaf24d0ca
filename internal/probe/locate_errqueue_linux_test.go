//go:build amd64 || arm64

// The captured control messages are those of a little-endian 64-bit Linux.

package probe

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Control messages read with recvmsg(MSG_ERRQUEUE) on Linux 6.1, amd64, from the test bed and
// from loopback.
var capturedErrQueue = []struct {
	name, hex string
	want      icmpReport
}{
	{
		"time exceeded from r1 at TTL 1",
		"3000000000000000000000000b00000071000000020b0000000000000000000002000000c61201010000000000000000",
		icmpReport{Origin: unix.SO_EE_ORIGIN_ICMP, Type: 11, Offender: netip.MustParseAddr("198.18.1.1")},
	},
	{
		"time exceeded from r2 at TTL 2",
		"3000000000000000000000000b00000071000000020b0000000000000000000002000000c61202020000000000000000",
		icmpReport{Origin: unix.SO_EE_ORIGIN_ICMP, Type: 11, Offender: netip.MustParseAddr("198.18.2.2")},
	},
	{
		"port unreachable from 127.0.0.1",
		"3000000000000000000000000b0000006f000000020303000000000000000000020000007f0000010000000000000000",
		icmpReport{Origin: unix.SO_EE_ORIGIN_ICMP, Type: 3, Code: 3, Offender: netip.MustParseAddr("127.0.0.1")},
	},
	{
		"port unreachable from ::1",
		"3c0000000000000029000000190000006f0000000301040000000000000000000a00000000000000000000000000000000000000000000010000000000000000",
		icmpReport{Origin: unix.SO_EE_ORIGIN_ICMP6, Type: 1, Code: 4, Offender: netip.MustParseAddr("::1")},
	},
}

func TestParseErrQueueCaptured(t *testing.T) {
	for _, c := range capturedErrQueue {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseErrQueue(mustHex(t, c.hex))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != c.want {
				t.Fatalf("parseErrQueue = %+v, want [%+v]", got, c.want)
			}
		})
	}
}

func TestIcmpReportRecord(t *testing.T) {
	target := netip.MustParseAddr("198.18.3.2")
	router := netip.MustParseAddr("198.18.2.2")
	tests := []struct {
		name string
		r    icmpReport
		want HopReport
	}{
		{"time exceeded", icmpReport{Origin: unix.SO_EE_ORIGIN_ICMP, Type: 11, Offender: router}, HopReport{Router: router, Expired: true}},
		{"hop limit exceeded", icmpReport{Origin: unix.SO_EE_ORIGIN_ICMP6, Type: 3, Offender: router}, HopReport{Router: router, Expired: true}},
		{"reassembly time exceeded", icmpReport{Origin: unix.SO_EE_ORIGIN_ICMP, Type: 11, Code: 1, Offender: router}, HopReport{}},
		{"port unreachable", icmpReport{Origin: unix.SO_EE_ORIGIN_ICMP, Type: 3, Code: 3, Offender: target}, HopReport{Router: target, Unreachable: true}},
		{"host unreachable", icmpReport{Origin: unix.SO_EE_ORIGIN_ICMP, Type: 3, Code: 1, Offender: router}, HopReport{Router: router, Unreachable: true}},
		{"local error", icmpReport{Origin: unix.SO_EE_ORIGIN_LOCAL, Type: 3}, HopReport{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h HopReport
			tt.r.record(&h, target)
			if h != tt.want {
				t.Errorf("record gives %+v, want %+v", h, tt.want)
			}
		})
	}
}

func TestParseErrQueueBad(t *testing.T) {
	good := mustHex(t, capturedErrQueue[0].hex)
	// withLen cuts the control message to n bytes and says so in its cmsg_len (little endian).
	withLen := func(b []byte, n int) []byte {
		b = append([]byte(nil), b[:n]...)
		b[0] = byte(n)
		return b
	}
	withFamily := func(family byte) []byte {
		b := append([]byte(nil), good...)
		b[32] = family // the offender's sa_family, after the 16-byte cmsghdr and sock_extended_err
		return b
	}
	tests := []struct {
		name string
		oob  []byte
		want string
	}{
		{"cut in the offender", withLen(good, 40), "sockaddr_in at byte 16 is 8 bytes"},
		{"cut in sock_extended_err", withLen(good, 28), "sock_extended_err is 12 bytes"},
		{"length past the end", good[:len(good)-1], "control messages (47 bytes)"},
		{"no offender", withFamily(unix.AF_UNSPEC), "without the sender's address"},
		{"unknown family", withFamily(unix.AF_UNIX), "address family 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseErrQueue(tt.oob)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parseErrQueue = %+v, %v; want an error containing %q", got, err, tt.want)
			}
		})
	}
	if got, err := parseErrQueue(nil); err != nil || len(got) != 0 {
		t.Errorf("parseErrQueue(nil) = %+v, %v; want nothing", got, err)
	}
}

func FuzzParseErrQueue(f *testing.F) {
	for _, c := range capturedErrQueue {
		b, err := hex.DecodeString(c.hex)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, oob []byte) {
		reports, err := parseErrQueue(oob)
		if err != nil {
			return
		}
		for _, r := range reports {
			if !r.Offender.IsValid() {
				t.Fatalf("report %+v without an offender", r)
			}
			var h HopReport
			r.record(&h, netip.IPv4Unspecified())
		}
	})
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
