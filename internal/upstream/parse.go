package upstream

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ParseAddr returns the Upstream for an address in one of these forms:
//
//	127.0.0.1:53, [::1]:53, 127.0.0.1     UDP with TCP fallback (port 53 by default)
//	udp://127.0.0.1:53                    the same, spelled out
//	tcp://127.0.0.1:53                    TCP only
//	tls://127.0.0.1:853#dns.example       DNS over TLS (port 853 by default)
//	https://127.0.0.1:8443/dns-query#dns.example   DNS over HTTPS (port 443 by default)
//
// The host must be an IP address: resolving a name would need a resolver before this one works.
// The fragment after # is the name the server's certificate must carry (as in the addr#name
// notation other resolvers use for forwarders); without it, the certificate must name the IP.
// ParseAddr uses the default Options; ParseAddrOptions takes them.
func ParseAddr(s string) (Upstream, error) { return ParseAddrOptions(s, Options{}) }

// ParseAddrOptions is ParseAddr with options. A server name in the address overrides
// opts.TLS.ServerName; opts.TLS itself is not modified.
func ParseAddrOptions(s string, opts Options) (Upstream, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "", s
	}
	switch scheme {
	case "", "udp", "tcp":
		if strings.Contains(rest, "#") {
			return nil, fmt.Errorf("upstream %q: a server name (#...) needs tls:// or https://", s)
		}
		addr, err := hostPort(rest, "53")
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", s, err)
		}
		if scheme == "tcp" {
			return NewTCP(addr, opts), nil
		}
		return NewPlain(addr, opts), nil
	case "tls":
		hp, name, _ := strings.Cut(rest, "#")
		addr, err := hostPort(hp, "853")
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", s, err)
		}
		return NewDoT(addr, withServerName(opts, name)), nil
	case "https":
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", s, err)
		}
		if u.User != nil {
			return nil, fmt.Errorf("upstream %q: user info is not allowed", s)
		}
		if u.RawQuery != "" {
			return nil, fmt.Errorf("upstream %q: query %q not allowed (the dns= parameter is added per query)", s, u.RawQuery)
		}
		addr, err := hostPort(u.Host, "443")
		if err != nil {
			return nil, fmt.Errorf("upstream %q: %w", s, err)
		}
		name := u.Fragment
		u.Fragment, u.RawFragment, u.Host = "", "", addr
		if u.Path == "" {
			return nil, fmt.Errorf("upstream %q: missing path (usually /dns-query)", s)
		}
		return NewDoH(u.String(), withServerName(opts, name)), nil
	default:
		return nil, fmt.Errorf("upstream %q: unknown scheme %q (want udp, tcp, tls or https)", s, scheme)
	}
}

// hostPort checks that s is an IP address with an optional port and returns it as host:port.
func hostPort(s, defPort string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("missing address")
	}
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return net.JoinHostPort(ip.String(), defPort), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		host, _, herr := net.SplitHostPort(s)
		if herr != nil {
			host = s
		}
		if _, ierr := netip.ParseAddr(strings.Trim(host, "[]")); ierr != nil {
			return "", fmt.Errorf("host %q is not an IP address", host)
		}
		return "", fmt.Errorf("bad port in %q", s)
	}
	if ap.Port() == 0 {
		return "", fmt.Errorf("port 0 in %q", s)
	}
	return ap.String(), nil
}

func withServerName(opts Options, name string) Options {
	if name == "" {
		return opts
	}
	var cfg *tls.Config
	if opts.TLS != nil {
		cfg = opts.TLS.Clone()
	} else {
		cfg = &tls.Config{}
	}
	cfg.ServerName = name
	opts.TLS = cfg
	return opts
}
