package peers

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"codeberg.org/miekg/dns"
)

// Unbound is the configuration of an Unbound resolver that may query servers on loopback and
// validates nothing. It answers plain DNS on Port, DNS over TLS on DoTPort and DNS over HTTPS on
// DoHPort; a zero port is not listened on, and at least one must be set.
type Unbound struct {
	IP               string // the address to listen on; 127.0.0.1 when empty
	Port             int
	DoTPort, DoHPort int
	// CertFile and KeyFile are the PEM certificate and key for DoT and DoH.
	CertFile, KeyFile string
	Dir               string // working directory: configuration and PID file
	// RootHints is a root hints file to start resolving from instead of the real root; empty
	// keeps Unbound's built-in hints.
	RootHints string
	// Server is more lines for the server: clause; it may go on with clauses of its own
	// (forward-zone:, say).
	Server string
}

// Config is the text of unbound.conf: listening on IP and the given ports only, in the
// foreground, one thread, as the current user, logging to stderr, the iterator alone (no DNSSEC
// validation), loopback allowed both as client and as server queried, and no remote control.
func (u Unbound) Config() (string, error) {
	if u.Dir == "" {
		return "", errors.New("unbound: no directory")
	}
	if u.Port == 0 && u.DoTPort == 0 && u.DoHPort == 0 {
		return "", errors.New("unbound: no port to listen on")
	}
	if (u.DoTPort != 0 || u.DoHPort != 0) && (u.CertFile == "" || u.KeyFile == "") {
		return "", errors.New("unbound: DoT and DoH need a certificate and a key")
	}
	ip := defaultIP(u.IP)
	var b strings.Builder
	fmt.Fprintf(&b, "remote-control:\n    control-enable: no\n")
	fmt.Fprintf(&b, "server:\n")
	for _, p := range []int{u.Port, u.DoTPort, u.DoHPort} {
		if p != 0 {
			fmt.Fprintf(&b, "    interface: %s@%d\n", ip, p)
		}
	}
	// port: is the one for interfaces without @port and must be one of ours.
	switch {
	case u.Port != 0:
		fmt.Fprintf(&b, "    port: %d\n", u.Port)
	case u.DoTPort != 0:
		fmt.Fprintf(&b, "    port: %d\n    do-udp: no\n", u.DoTPort)
	default:
		fmt.Fprintf(&b, "    port: %d\n    do-udp: no\n", u.DoHPort)
	}
	if u.DoTPort != 0 {
		fmt.Fprintf(&b, "    tls-port: %d\n", u.DoTPort)
	}
	if u.DoHPort != 0 {
		fmt.Fprintf(&b, "    https-port: %d\n", u.DoHPort)
	}
	if u.CertFile != "" {
		fmt.Fprintf(&b, "    tls-service-pem: %q\n    tls-service-key: %q\n", u.CertFile, u.KeyFile)
	}
	fmt.Fprintf(&b, "    do-daemonize: no\n    username: \"\"\n    chroot: \"\"\n")
	fmt.Fprintf(&b, "    directory: %q\n    pidfile: %q\n", u.Dir, filepath.Join(u.Dir, "unbound.pid"))
	fmt.Fprintf(&b, "    use-syslog: no\n    logfile: \"\"\n    verbosity: 1\n")
	// Without SO_REUSEPORT a taken port is an error rather than shared.
	fmt.Fprintf(&b, "    num-threads: 1\n    do-ip6: no\n    so-reuseport: no\n")
	if u.RootHints != "" {
		fmt.Fprintf(&b, "    root-hints: %q\n", u.RootHints)
	}
	fmt.Fprintf(&b, "    do-not-query-localhost: no\n    access-control: 127.0.0.0/8 allow\n")
	fmt.Fprintf(&b, "    module-config: \"iterator\"\n")
	b.WriteString(u.Server)
	return b.String(), nil
}

// StartUnbound writes u's configuration into u.Dir/unbound.conf and starts Unbound in the
// foreground with it. It does not wait for it to answer: see Proc.Ready, which asks localhost.
// (answered by Unbound itself) over plain DNS, or shakes hands over DoT when there is no plain
// DNS. Proc.Addr is the plain DNS address, or else the DoT one.
func StartUnbound(u Unbound) (*Proc, error) {
	bin, err := Bin("unbound")
	if err != nil {
		return nil, err
	}
	text, err := u.Config()
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, p := range []int{u.Port, u.DoTPort, u.DoHPort} {
		if p != 0 {
			addrs = append(addrs, listenAddr(u.IP, p))
		}
	}
	conf, err := prepare(u.Dir, "unbound.conf", text, addrs...)
	if err != nil {
		return nil, fmt.Errorf("unbound on %s: %w", strings.Join(addrs, " "), err)
	}
	var ready func(ctx context.Context) bool
	switch {
	case u.Port != 0:
		ready = answers(addrs[0], dns.NewMsg("localhost.", dns.TypeA))
	case u.DoTPort != 0:
		ready = handshakes(addrs[0])
	default:
		return nil, errors.New("unbound: DoH alone cannot be waited for; give a DoT port too")
	}
	return start("unbound", bin, []string{"-d", "-c", conf}, u.Dir, addrs[0], text, ready)
}
