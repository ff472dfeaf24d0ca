package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// closedPort returns a loopback address and port with nothing listening, where the kernel answers
// port unreachable.
func closedPort(t *testing.T, network, host string) netip.AddrPort {
	t.Helper()
	c, err := net.ListenPacket(network, net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	c.Close()
	return ap
}

// silentServer listens on loopback and never answers, until the test ends.
func silentServer(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// TestTraceClosedPort shows the error queue at work on loopback: the target itself reports port
// unreachable at TTL 1, which counts as reaching it, and the trace stops after confirming that.
func TestTraceClosedPort(t *testing.T) {
	for _, tt := range []struct{ network, host string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		t.Run(tt.network, func(t *testing.T) {
			target := closedPort(t, tt.network, tt.host)
			l := TTLLocator{MaxHops: 5, Wait: 500 * time.Millisecond}
			hops, err := l.Trace(context.Background(), target, "example.test", 0)
			if err != nil {
				t.Fatal(err)
			}
			want := []HopReport{
				{TTL: 1, Router: target.Addr(), Unreachable: true},
				{TTL: 2, Router: target.Addr(), Unreachable: true},
			}
			if len(hops) != len(want) || hops[0] != want[0] || hops[1] != want[1] {
				t.Fatalf("trace %+v, want %+v", hops, want)
			}
			if hop, addr, err := l.Locate(context.Background(), target, "example.test", 0); hop != 0 || addr.IsValid() || err != nil {
				t.Errorf("Locate = %d, %v, %v; want nothing located", hop, addr, err)
			}
		})
	}
}

// TestTraceBounded: a target that never answers costs exactly MaxHops × Tries × Wait.
func TestTraceBounded(t *testing.T) {
	l := TTLLocator{MaxHops: 3, Tries: 2, Wait: 50 * time.Millisecond}
	start := time.Now()
	hops, err := l.Trace(context.Background(), silentServer(t), "example.test", 0)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if len(hops) != 3 {
		t.Errorf("trace has %d hops, want 3: %+v", len(hops), hops)
	}
	for _, h := range hops {
		if h.sawAnything() {
			t.Errorf("hop %+v saw something from a silent server", h)
		}
	}
	if bound := 300 * time.Millisecond; took < bound || took > bound+500*time.Millisecond {
		t.Errorf("trace took %v, want about %v", took, bound)
	}
}

func TestLocateCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	l := TTLLocator{Wait: 10 * time.Second}
	start := time.Now()
	_, _, err := l.Locate(ctx, silentServer(t), "example.test", 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Locate = %v, want the context's deadline", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Locate took %v after its context ended", took)
	}
}

func TestLocateSilentPath(t *testing.T) {
	l := TTLLocator{MaxHops: 2, Tries: 1, Wait: 50 * time.Millisecond}
	if _, _, err := l.Locate(context.Background(), silentServer(t), "example.test", 0); !errors.Is(err, ErrSilentPath) {
		t.Errorf("Locate = %v, want ErrSilentPath", err)
	}
}

func TestLocateBadInput(t *testing.T) {
	tests := []struct {
		name   string
		target netip.AddrPort
		qname  string
		qtype  uint16
	}{
		{"no target", netip.AddrPort{}, "example.test", 0},
		{"port 0", netip.MustParseAddrPort("127.0.0.1:0"), "example.test", 0},
		{"unknown type", netip.MustParseAddrPort("127.0.0.1:53"), "example.test", 65280},
		{"bad name", netip.MustParseAddrPort("127.0.0.1:53"), "a..test", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hop, _, err := TTLLocator{Wait: time.Millisecond}.Locate(context.Background(), tt.target, tt.qname, tt.qtype)
			if err == nil {
				t.Errorf("Locate = hop %d, want an error", hop)
			}
			t.Log(err)
		})
	}
}
