package peers

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// NSD is the configuration of an NSD serving zones from their files.
type NSD struct {
	IP    string // the address to listen on; 127.0.0.1 when empty
	Port  int
	Dir   string // configuration, PID file and transfer state
	Zones []Zone
}

// Config is the text of nsd.conf: listening on IP and Port only, one server process, every file
// inside Dir, running as the current user, and no version or identity in answers.
func (n NSD) Config() (string, error) {
	if n.Dir == "" {
		return "", errors.New("nsd: no directory")
	}
	if len(n.Zones) == 0 {
		return "", errors.New("nsd: no zones")
	}
	var b strings.Builder
	// An empty username keeps the current user, an empty database keeps the zones in memory
	// only, and an empty chroot leaves the file system as it is.
	fmt.Fprintf(&b, "server:\n")
	fmt.Fprintf(&b, "    ip-address: %s@%d\n    port: %d\n", defaultIP(n.IP), n.Port, n.Port)
	fmt.Fprintf(&b, "    server-count: 1\n")
	fmt.Fprintf(&b, "    zonesdir: %q\n", n.Dir)
	fmt.Fprintf(&b, "    pidfile: %q\n", filepath.Join(n.Dir, "nsd.pid"))
	fmt.Fprintf(&b, "    username: \"\"\n    database: \"\"\n    chroot: \"\"\n")
	fmt.Fprintf(&b, "    xfrdfile: %q\n", filepath.Join(n.Dir, "xfrd.state"))
	fmt.Fprintf(&b, "    xfrdir: %q\n", n.Dir)
	fmt.Fprintf(&b, "    zonelistfile: %q\n", filepath.Join(n.Dir, "zone.list"))
	fmt.Fprintf(&b, "    verbosity: 1\n    hide-version: yes\n    hide-identity: yes\n")
	// NSD limits responses per class of answer (200 a second by default), and every name of a
	// wildcard zone falls in one class: a resolver asking new names one after another would see
	// every few hundredth answer dropped. A peer must answer every query.
	fmt.Fprintf(&b, "    rrl-ratelimit: 0\n    rrl-whitelist-ratelimit: 0\n")
	fmt.Fprintf(&b, "remote-control:\n    control-enable: no\n")
	for _, z := range n.Zones {
		file, err := filepath.Abs(z.File)
		if err != nil {
			return "", fmt.Errorf("nsd: zone %s: %w", z.Origin, err)
		}
		fmt.Fprintf(&b, "zone:\n    name: %q\n    zonefile: %q\n", z.Origin, file)
	}
	return b.String(), nil
}

// StartNSD writes n's configuration into n.Dir/nsd.conf and starts NSD in the foreground with
// it. It does not wait for the zones: see Proc.Ready.
func StartNSD(n NSD) (*Proc, error) {
	bin, err := Bin("nsd")
	if err != nil {
		return nil, err
	}
	text, err := n.Config()
	if err != nil {
		return nil, err
	}
	origins := make([]string, len(n.Zones))
	for i, z := range n.Zones {
		origins[i] = z.Origin
	}
	addr := listenAddr(n.IP, n.Port)
	conf, err := prepare(n.Dir, "nsd.conf", text, addr)
	if err != nil {
		return nil, fmt.Errorf("nsd on %s: %w", addr, err)
	}
	return start("nsd", bin, []string{"-d", "-c", conf}, n.Dir, addr, text, soaReady(addr, origins))
}
