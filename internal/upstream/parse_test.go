package upstream

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in         string
		kind       string // Go type name of the Upstream
		addr       string
		serverName string
	}{
		{"127.0.0.1:53", "*upstream.Plain", "127.0.0.1:53", ""},
		{"127.0.0.1", "*upstream.Plain", "127.0.0.1:53", ""},
		{"[::1]:5353", "*upstream.Plain", "[::1]:5353", ""},
		{"::1", "*upstream.Plain", "[::1]:53", ""},
		{"udp://127.0.0.2:5300", "*upstream.Plain", "127.0.0.2:5300", ""},
		{"tcp://127.0.0.1:53", "*upstream.TCP", "127.0.0.1:53", ""},
		{"tcp://127.0.0.1", "*upstream.TCP", "127.0.0.1:53", ""},
		{"tls://127.0.0.1:853#dns.example", "*upstream.DoT", "127.0.0.1:853", "dns.example"},
		{"tls://127.0.0.1", "*upstream.DoT", "127.0.0.1:853", "127.0.0.1"},
		{"tls://[::1]#dns.example", "*upstream.DoT", "[::1]:853", "dns.example"},
		{"https://127.0.0.1:8443/dns-query", "*upstream.DoH", "https://127.0.0.1:8443/dns-query", ""},
		{"https://127.0.0.1/dns-query#dns.example", "*upstream.DoH", "https://127.0.0.1:443/dns-query", "dns.example"},
		{"https://[::1]:8443/q", "*upstream.DoH", "https://[::1]:8443/q", ""},
	}
	for _, tt := range tests {
		up, err := ParseAddr(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if got := fmt.Sprintf("%T", up); got != tt.kind || up.Addr() != tt.addr {
			t.Errorf("%q: %s %q, want %s %q", tt.in, got, up.Addr(), tt.kind, tt.addr)
		}
		var name string
		switch u := up.(type) {
		case *DoT:
			name = u.tls.ServerName
		case *DoH:
			if cfg := u.client.Transport.(*http.Transport).TLSClientConfig; cfg != nil {
				name = cfg.ServerName
			}
		}
		if name != tt.serverName {
			t.Errorf("%q: server name %q, want %q", tt.in, name, tt.serverName)
		}
	}
}

func TestParseAddrErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "missing address"},
		{"dns.example:53", `host "dns.example" is not an IP address`},
		{"127.0.0.1:http", "bad port"},
		{"127.0.0.1:0", "port 0"},
		{"127.0.0.1:99999", "bad port"},
		{"quic://127.0.0.1", `unknown scheme "quic"`},
		{"127.0.0.1:53#dns.example", "needs tls:// or https://"},
		{"tls://dns.example#dns.example", `host "dns.example" is not an IP address`},
		{"https://dns.example/dns-query", `host "dns.example" is not an IP address`},
		{"https://127.0.0.1", "missing path"},
		{"https://127.0.0.1/dns-query?dns=x", "query"},
		{"https://u:p@127.0.0.1/dns-query", "user info"},
	}
	for _, tt := range tests {
		_, err := ParseAddr(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.in) {
			t.Errorf("%q: err %v, want one naming the input and containing %q", tt.in, err, tt.want)
		}
	}
}

// FuzzParseAddr: any configured string either parses to an Upstream with an address or gives an
// error naming the input; it never panics.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:53", "tcp://[::1]", "tls://127.0.0.1:853#dns.example",
		"https://127.0.0.1:8443/dns-query#x", "https://[::1/x", "udp://", "#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		up, err := ParseAddr(s)
		if err != nil {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		if up.Addr() == "" {
			t.Fatal("upstream without an address")
		}
		if c, ok := up.(interface{ Close() error }); ok {
			c.Close()
		}
	})
}
