package wire

import (
	"testing"

	"warden/internal/query"
)

// TestMaxSize: only UDP answers are bounded by 512 bytes or the EDNS payload; TCP and the
// encrypted transports, all streams, carry up to 65535 bytes whatever the query's EDNS says.
func TestMaxSize(t *testing.T) {
	l := Limits{UDPPayload: 1232}
	tests := []struct {
		tr      query.Transport
		edns    bool
		udpSize uint16
		want    int
	}{
		{query.UDP, false, 0, 512},
		{query.UDP, true, 4096, 1232},
		{query.UDP, true, 100, 512},
		{query.TCP, false, 0, 65535},
		{query.DoT, false, 0, 65535},
		{query.DoT, true, 512, 65535},
		{query.DoH, false, 0, 65535},
		{query.DoQ, true, 1232, 65535},
	}
	for _, tt := range tests {
		req := &query.Request{Transport: tt.tr, HasEDNS: tt.edns, UDPSize: tt.udpSize}
		if got := l.MaxSize(req); got != tt.want {
			t.Errorf("%v edns=%v size=%d: MaxSize %d, want %d", tt.tr, tt.edns, tt.udpSize, got, tt.want)
		}
	}
}

func TestTransportString(t *testing.T) {
	for tr, want := range map[query.Transport]string{query.UDP: "udp", query.TCP: "tcp", query.DoT: "dot", query.DoH: "doh", query.DoQ: "doq", 99: "unknown"} {
		if tr.String() != want {
			t.Errorf("%d: %q, want %q", tr, tr.String(), want)
		}
	}
}
