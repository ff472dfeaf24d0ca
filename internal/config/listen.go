package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Listeners are the addresses the server listens on. In YAML each is "IP:port" (UDP and TCP), or
// one of the encrypted forms "tls://IP:port" (DNS over TLS, port 853 when left out),
// "https://IP:port/path" (DNS over HTTPS, port 443 and path /dns-query when left out) or
// "quic://IP:port" (DNS over QUIC, port 853). An IPv6 address must be quoted, as "[::1]:53",
// because YAML reads a bare [ as the start of a list.
type Listeners []ListenAddr

// ListenAddr is one listener address.
type ListenAddr struct {
	// Scheme is "" for plain UDP and TCP, or "tls", "https" or "quic".
	Scheme   string
	AddrPort netip.AddrPort
	// Path is the URL path DoH is served on; empty for the other schemes.
	Path string
}

// Encrypted says whether the listener needs a certificate.
func (a ListenAddr) Encrypted() bool { return a.Scheme != "" }

// String is the address in the form ParseListenAddr reads, with defaults filled in.
func (a ListenAddr) String() string {
	if a.Scheme == "" {
		return a.AddrPort.String()
	}
	return a.Scheme + "://" + a.AddrPort.String() + a.Path
}

// UnmarshalText reads a listener address from YAML.
func (a *ListenAddr) UnmarshalText(b []byte) error {
	v, err := ParseListenAddr(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// defaultPorts are the ports of the encrypted schemes when an address leaves it out (RFC 7858,
// RFC 8484 by way of HTTPS, RFC 9250).
var defaultPorts = map[string]uint16{"tls": 853, "https": 443, "quic": 853}

// ParseListenAddr reads "IP:port", "tls://IP[:port]", "https://IP[:port][/path]" or
// "quic://IP[:port]".
func ParseListenAddr(s string) (ListenAddr, error) {
	s = strings.TrimSpace(s)
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return ListenAddr{}, errors.New("is not an IP address and port, as 127.0.0.1:53 or \"[::1]:53\"")
		}
		return ListenAddr{AddrPort: ap}, nil
	}
	scheme = strings.ToLower(scheme)
	port, known := defaultPorts[scheme]
	if !known {
		return ListenAddr{}, fmt.Errorf("has scheme %q; want tls://, https:// or quic://", scheme)
	}
	a := ListenAddr{Scheme: scheme}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		if scheme != "https" {
			return ListenAddr{}, fmt.Errorf("has a path; %s:// takes none", scheme)
		}
		rest, a.Path = rest[:i], rest[i:]
		if strings.ContainsAny(a.Path, "?#") {
			return ListenAddr{}, errors.New("has a query or fragment in its path")
		}
	}
	if scheme == "https" && a.Path == "" {
		a.Path = "/dns-query" // RFC 8484 §4.1.1's example, what clients try first
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil {
		addr, aerr := netip.ParseAddr(strings.Trim(rest, "[]"))
		if aerr != nil || addr.Zone() != "" {
			return ListenAddr{}, errors.New("is not an IP address with an optional port after the scheme")
		}
		ap = netip.AddrPortFrom(addr, port)
	}
	a.AddrPort = ap
	return a, nil
}

// Validate checks that there is at least one listener and that none is listed twice on the same
// protocol (DoQ is UDP beside TCP's DoT on the same port; plain listeners take both).
func (l Listeners) Validate() error {
	var p problems
	if len(l) == 0 {
		p.add("", "at least one address is required")
	}
	type key struct {
		proto string
		ap    netip.AddrPort
	}
	first := make(map[key]int, len(l))
	for i, a := range l {
		k := fmt.Sprintf("[%d]", i)
		if !a.AddrPort.IsValid() {
			p.add(k, "not a valid IP address and port")
			continue
		}
		// Port 0 asks the kernel for a free port each time, so two of them do not collide.
		if a.AddrPort.Port() == 0 {
			continue
		}
		var protos []string
		switch a.Scheme {
		case "":
			protos = []string{"udp", "tcp"}
		case "quic":
			protos = []string{"udp"}
		default:
			protos = []string{"tcp"}
		}
		for _, proto := range protos {
			if j, dup := first[key{proto, a.AddrPort}]; dup {
				p.add(k, "%s is already listen[%d]", a, j)
				break
			}
			first[key{proto, a.AddrPort}] = i
		}
	}
	return p.err()
}

// TLSConfig is the certificate of the encrypted listeners (tls://, https://, quic://). The server
// looks at both files again at most once a second while clients connect, and takes a new pair as
// soon as both files have changed and match, also when they are replaced by rename.
type TLSConfig struct {
	Cert string `yaml:"cert"` // PEM certificate chain, the server's first
	Key  string `yaml:"key"`  // PEM private key of that certificate
}

// validate checks the pair against the listeners that need it: both or neither, required when
// there is an encrypted listener, and readable. Whether they make a pair is checked when they are
// loaded (serve, and `warden check`). Keys are from the top of the config (the listener that needs
// a certificate is the line to point at when there is no tls section).
func (t TLSConfig) validate(l Listeners) error {
	var p problems
	need := -1
	for i, a := range l {
		if a.Encrypted() {
			need = i
			break
		}
	}
	switch {
	case t.Cert == "" && t.Key == "":
		if need >= 0 {
			p.add(fmt.Sprintf("listen[%d]", need), "%s needs tls.cert and tls.key (or --tls-cert and --tls-key)", l[need])
		}
		return p.err()
	case t.Cert == "":
		p.add("tls.cert", "required with key")
	case t.Key == "":
		p.add("tls.key", "required with cert")
	}
	for _, f := range []struct{ key, path string }{{"tls.cert", t.Cert}, {"tls.key", t.Key}} {
		if f.path == "" {
			continue
		}
		if err := readable(f.path); err != nil {
			p.add(f.key, "%v", err)
		}
	}
	return p.err()
}
