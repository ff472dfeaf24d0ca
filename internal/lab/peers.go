package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"warden/internal/peers"
)

// Software is the program that serves a lab server.
type Software uint8

const (
	// Warden serves the server's zones inside this process; only Warden servers misbehave.
	Warden Software = iota
	// Knot is Knot DNS (knotd), run as a child process.
	Knot
	// NSD is NLnet Labs' NSD, run as a child process.
	NSD
)

func (s Software) String() string {
	switch s {
	case Warden:
		return "Warden"
	case Knot:
		return "Knot DNS"
	case NSD:
		return "NSD"
	}
	return "software " + strconv.Itoa(int(s))
}

// daemons names the binary of each program that runs as a peer process.
var daemons = map[Software]string{Knot: "knotd", NSD: "nsd"}

// daemonPath finds the binary of s.
func daemonPath(s Software) (string, bool) {
	name := daemons[s]
	if name == "" {
		return "", false
	}
	p, err := peers.Bin(name)
	return p, err == nil
}

// peerStartTimeout bounds how long Start waits for the peers to answer for their zones.
const peerStartTimeout = 10 * time.Second

// peer is a Knot or NSD process serving one lab server.
type peer struct {
	srv  Server
	proc *peers.Proc
}

// startPeer writes s's zone files into dir and starts its program there, on s.IP and port. It
// does not wait for the zones to load (see Proc.Ready).
func startPeer(s Server, dir string, port int) (*peer, error) {
	if s.Behaviour != Normal {
		return nil, fmt.Errorf("lab server %s: only Warden servers misbehave, not %s", s.Name, s.Software)
	}
	if len(s.Zones) == 0 {
		return nil, fmt.Errorf("lab server %s: %s serves no zones", s.Name, s.Software)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lab server %s: %w", s.Name, err)
	}
	zones := make([]peers.Zone, len(s.Zones))
	for i, z := range s.Zones {
		zones[i] = peers.Zone{Origin: z.Origin, File: filepath.Join(dir, zoneFileName(i, z.Origin))}
		if err := os.WriteFile(zones[i].File, []byte(z.Text), 0o600); err != nil {
			return nil, fmt.Errorf("lab server %s: %w", s.Name, err)
		}
	}
	var p *peers.Proc
	var err error
	switch s.Software {
	case Knot:
		p, err = peers.StartKnot(peers.Knot{IP: s.IP, Port: port, Dir: dir, Zones: zones})
	case NSD:
		p, err = peers.StartNSD(peers.NSD{IP: s.IP, Port: port, Dir: dir, Zones: zones})
	default:
		return nil, fmt.Errorf("lab server %s: %s does not run as a process", s.Name, s.Software)
	}
	if err != nil {
		return nil, fmt.Errorf("lab server %s: %w", s.Name, err)
	}
	return &peer{srv: s, proc: p}, nil
}

// zoneFileName names the file of the i-th zone after its origin, for whoever reads the directory.
func zoneFileName(i int, origin string) string {
	name := strings.TrimSuffix(origin, ".")
	if name == "" {
		name = "root"
	}
	return fmt.Sprintf("%d-%s.zone", i, strings.ReplaceAll(name, "/", "_"))
}

// peerServers returns the indexes of the servers of l that Knot or NSD serves. A server whose
// program is not installed is served by Warden instead, which log says.
func (l *Lab) peerServers(log *slog.Logger) []int {
	var idx []int
	for i := range l.servers {
		s := &l.servers[i]
		if s.Software == Warden {
			continue
		}
		if _, ok := daemonPath(s.Software); !ok && daemons[s.Software] != "" {
			log.Warn("lab: "+daemons[s.Software]+" is not installed; Warden serves this server instead",
				"server", s.Name, "addr", s.IP, "software", s.Software.String())
			s.Software = Warden
			continue
		}
		idx = append(idx, i)
	}
	return idx
}

// startPeers starts the processes of the servers l.servers[idx], each in a directory of its own
// under a new temporary directory, and waits until every one answers for its zones. Then it
// watches them: a peer that exits before Close is logged. On error the caller closes l, which
// stops what was started.
func (l *Lab) startPeers(idx []int, log *slog.Logger) error {
	if len(idx) == 0 {
		return nil
	}
	dir, err := os.MkdirTemp("", "warden-lab-")
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	l.dir = dir
	for _, i := range idx {
		s := l.servers[i]
		p, err := startPeer(s, filepath.Join(dir, s.IP), l.port)
		if err != nil {
			return err
		}
		l.peers = append(l.peers, p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), peerStartTimeout)
	defer cancel()
	var errs []error
	for _, p := range l.peers {
		if err := p.proc.Ready(ctx); err != nil {
			errs = append(errs, fmt.Errorf("lab server %s (%s): %w", p.srv.Name, p.srv.Software, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, p := range l.peers {
		// Ends when the process does, which Close brings about.
		l.watchers.Go(func() {
			<-p.proc.Done()
			if err := p.proc.Err(); err != nil {
				log.Error("lab: a server's process exited", "server", p.srv.Name, "addr", p.proc.Addr(), "software", p.srv.Software.String(), "err", err)
			}
		})
	}
	return nil
}
