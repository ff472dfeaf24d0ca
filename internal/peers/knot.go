package peers

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Knot is the configuration of a knotd: either Zones, served from their files under a fixed
// template, or Sections written by the caller.
type Knot struct {
	IP   string // the address to listen on; 127.0.0.1 when empty
	Port int
	// Dir is the server's rundir and storage: its configuration, control socket (knot.sock),
	// databases and journals live there. A socket's path holds at most 107 bytes.
	Dir string
	// Zones are served from their files, which are read once and never written back or
	// journaled, so every start serves exactly the text given.
	Zones []Zone
	// Allow lists what 127.0.0.0/8 may do with Zones ("transfer", "update"); nothing when empty.
	Allow []string
	// Sections is knot.conf text after the server, log and database sections (key:, acl:,
	// remote:, template:, zone:), for a set-up Zones cannot express; set Zones or Sections.
	Sections string
	// Ready lists the zones whose SOA must be answered with AA before the server counts as up;
	// the origins of Zones when empty.
	Ready []string
}

// Config is the text of knot.conf: listening on IP and Port only, one worker of each kind
// (answers do not depend on threading, and it keeps the process small), everything on disk
// inside Dir, logging to stderr.
func (k Knot) Config() (string, error) {
	if k.Dir == "" {
		return "", errors.New("knotd: no directory")
	}
	if (len(k.Zones) == 0) == (k.Sections == "") {
		return "", errors.New("knotd: give either zones or configuration sections")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n")
	fmt.Fprintf(&b, "    rundir: %q\n", k.Dir)
	fmt.Fprintf(&b, "    listen: %s@%d\n", defaultIP(k.IP), k.Port)
	fmt.Fprintf(&b, "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n")
	// By default the server answers CH TXT version.bind/version.server with its version and
	// id.server/hostname.bind and EDNS NSID with the machine's host name. Those answers differ
	// between machines and releases, so they are switched off (the server then REFUSES the CH
	// queries and sends no NSID option) to keep the peer's answers the same everywhere.
	fmt.Fprintf(&b, "    identity: \"\"\n    version: \"\"\n    nsid: \"\"\n")
	fmt.Fprintf(&b, "log:\n  - target: stderr\n    any: info\n")
	fmt.Fprintf(&b, "database:\n    storage: %q\n", k.Dir)
	if k.Sections != "" {
		b.WriteString(k.Sections)
		return b.String(), nil
	}
	if len(k.Allow) > 0 {
		fmt.Fprintf(&b, "acl:\n  - id: local\n    address: 127.0.0.0/8\n    action: [%s]\n", strings.Join(k.Allow, ", "))
	}
	// Semantic checks stay at their default (off: only the mandatory ones), and otherwise the
	// server answers as it does by default.
	fmt.Fprintf(&b, "template:\n  - id: default\n    storage: %q\n", k.Dir)
	fmt.Fprintf(&b, "    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n")
	fmt.Fprintf(&b, "    semantic-checks: off\n")
	if len(k.Allow) > 0 {
		fmt.Fprintf(&b, "    acl: local\n")
	}
	fmt.Fprintf(&b, "zone:\n")
	for _, z := range k.Zones {
		file, err := filepath.Abs(z.File)
		if err != nil {
			return "", fmt.Errorf("knotd: zone %s: %w", z.Origin, err)
		}
		if _, err := os.Stat(file); err != nil {
			return "", fmt.Errorf("knotd: zone %s: %w", z.Origin, err)
		}
		fmt.Fprintf(&b, "  - domain: %q\n    file: %q\n", z.Origin, file)
	}
	return b.String(), nil
}

// StartKnot writes k's configuration into k.Dir/knot.conf and starts knotd with it. It does not
// wait for the zones: see Proc.Ready.
func StartKnot(k Knot) (*Proc, error) {
	bin, err := Bin("knotd")
	if err != nil {
		return nil, err
	}
	text, err := k.Config()
	if err != nil {
		return nil, err
	}
	ready := k.Ready
	if len(ready) == 0 {
		for _, z := range k.Zones {
			ready = append(ready, z.Origin)
		}
	}
	if len(ready) == 0 {
		return nil, errors.New("knotd: no zone to wait for")
	}
	addr := listenAddr(k.IP, k.Port)
	conf, err := prepare(k.Dir, "knot.conf", text, addr)
	if err != nil {
		return nil, fmt.Errorf("knotd on %s: %w", addr, err)
	}
	return start("knotd", bin, []string{"-c", conf}, k.Dir, addr, text, soaReady(addr, ready))
}

// KnotControl runs knotc against the control socket of the knotd whose directory is dir, and
// returns its output.
func KnotControl(dir string, args ...string) (string, error) {
	bin, err := Bin("knotc")
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, append([]string{"-s", filepath.Join(dir, "knot.sock"), "-t", "5"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("knotc %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
