package peers

import (
	"errors"
	"fmt"
	"strings"

	"codeberg.org/miekg/dns"
)

// Named is the configuration of BIND's named.
type Named struct {
	IP   string // the address to listen on (IPv4 only); 127.0.0.1 when empty
	Port int
	Dir  string // working directory: configuration, PID file, session key; relative file names start here
	// Options are more statements inside options { }.
	Options string
	// Body holds the statements after options (zones, keys, say).
	Body string
}

// Config is the text of named.conf: listening on IP and Port only, no IPv6, no control channel,
// every file inside Dir.
func (n Named) Config() (string, error) {
	if n.Dir == "" {
		return "", errors.New("named: no directory")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "options {\n")
	fmt.Fprintf(&b, "\tdirectory %q;\n\tpid-file %q;\n\tsession-keyfile %q;\n", n.Dir, n.Dir+"/named.pid", n.Dir+"/session.key")
	fmt.Fprintf(&b, "\tlisten-on port %d { %s; };\n\tlisten-on-v6 { none; };\n", n.Port, defaultIP(n.IP))
	b.WriteString(n.Options)
	fmt.Fprintf(&b, "\n};\ncontrols { };\n")
	b.WriteString(n.Body)
	b.WriteString("\n")
	return b.String(), nil
}

// StartNamed writes n's configuration into n.Dir/named.conf and starts named in the foreground
// with it, IPv4 only, one worker. It does not wait for it to answer: see Proc.Ready, which asks
// CH TXT version.bind (answered by named itself).
func StartNamed(n Named) (*Proc, error) {
	bin, err := Bin("named")
	if err != nil {
		return nil, err
	}
	text, err := n.Config()
	if err != nil {
		return nil, err
	}
	addr := listenAddr(n.IP, n.Port)
	conf, err := prepare(n.Dir, "named.conf", text, addr)
	if err != nil {
		return nil, fmt.Errorf("named on %s: %w", addr, err)
	}
	probe := dns.NewMsg("version.bind.", dns.TypeTXT)
	probe.Question[0].Header().Class = dns.ClassCHAOS
	return start("named", bin, []string{"-g", "-4", "-n", "1", "-c", conf}, n.Dir, addr, text, answers(addr, probe))
}
