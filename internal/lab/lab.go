package lab

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/authority"
	"warden/internal/pipeline"
	"warden/internal/query"
	"warden/internal/server"
	"warden/internal/wire"
	"warden/internal/zone"
)

// Lab is a running hierarchy.
type Lab struct {
	servers   []Server
	port      int
	listeners []*server.Listener
	peers     []*peer
	watchers  sync.WaitGroup // one per peer, logging its unexpected exit
	dir       string         // the peers' zone files and configuration
}

// Start serves every server on its address and the given port (53 for resolvers that cannot be
// told another port, such as Unbound with root hints): Warden servers inside this process, Knot
// and NSD servers as child processes, whose files live in a temporary directory until Close. A
// server whose program is not installed is served by Warden instead, and log (which may be nil)
// says so. On any error nothing is left running.
func Start(servers []Server, port int, log *slog.Logger) (*Lab, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Lab{servers: slices.Clone(servers), port: port}
	peers := l.peerServers(log)
	for _, s := range l.servers {
		if s.Software != Warden {
			continue
		}
		h, err := handlerFor(s)
		if err != nil {
			l.Close()
			return nil, err
		}
		ln, err := server.Listen(server.ListenerConfig{
			Addr:           net.JoinHostPort(s.IP, fmt.Sprint(port)),
			UDPWorkers:     1,
			TCPIdleTimeout: 5 * time.Second,
		}, h, log)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("lab server %s: %w", s.Name, err)
		}
		l.listeners = append(l.listeners, ln)
	}
	if err := l.startPeers(peers, log); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Servers returns the servers as they are served: the software of one whose program was missing
// is Warden.
func (l *Lab) Servers() []Server {
	return slices.Clone(l.servers)
}

// Close stops every server, waits for the peer processes to exit and removes their files. A
// second Close does nothing.
func (l *Lab) Close() error {
	peerErrs := make([]error, len(l.peers))
	var wg sync.WaitGroup
	for i, p := range l.peers {
		wg.Go(func() { peerErrs[i] = p.proc.Stop() })
	}
	var errs []error
	for _, ln := range l.listeners {
		errs = append(errs, ln.Close())
	}
	wg.Wait()
	l.watchers.Wait()
	errs = append(errs, peerErrs...)
	if l.dir != "" {
		errs = append(errs, os.RemoveAll(l.dir))
	}
	l.listeners, l.peers, l.dir = nil, nil, ""
	return errors.Join(errs...)
}

// RootHints returns the root hints of the hierarchy in master-file form, as a resolver's
// root-hints file takes them.
func (l *Lab) RootHints() string {
	var b strings.Builder
	for _, s := range l.servers {
		for _, z := range s.Zones {
			if z.Origin == "." {
				fmt.Fprintf(&b, ".\t3600000\tIN\tNS\t%s\n%s\t3600000\tIN\tA\t%s\n", s.Name, s.Name, s.IP)
			}
		}
	}
	return b.String()
}

// handlerFor builds the Warden pipeline that serves s's zones, wrapped in its misbehaviour.
func handlerFor(s Server) (server.Handler, error) {
	var zones []*zone.Zone
	for _, zt := range s.Zones {
		z, _, err := zone.Load(zt.Origin, "lab zone "+zt.Origin, []byte(zt.Text))
		if err != nil {
			return nil, fmt.Errorf("lab server %s: %w", s.Name, err)
		}
		zones = append(zones, z)
	}
	set, err := authority.New(zones)
	if err != nil {
		return nil, fmt.Errorf("lab server %s: %w", s.Name, err)
	}
	pipe := pipeline.NewPipeline(wire.Limits{UDPPayload: 1232}, &pipeline.Snapshot{Authority: set})
	return misbehave{pipe: pipe, how: s.Behaviour}, nil
}

// misbehave turns a correct server into one of the broken kinds a resolver meets.
type misbehave struct {
	pipe *pipeline.Pipeline
	how  Behaviour
}

const rcodeRefused = 5

func (m misbehave) ServeDNS(req *query.Request, out []byte) []byte {
	switch m.how {
	case Silent:
		return nil
	case Slow:
		time.Sleep(SlowDelay)
	}
	res := m.pipe.ServeDNS(req, out)
	if res == nil || len(res) < query.HeaderLen {
		return res
	}
	switch m.how {
	case Lame:
		return lameAnswer(req, res)
	case Truncating:
		if req.Transport == query.UDP && req.QuestionEnd > 0 {
			return truncate(req, res)
		}
	case Poisoning:
		return poison(res)
	}
	return res
}

// poisonRecords are what a Poisoning server adds to every answer.
var poisonRecords = struct{ answer, ns, extra []string }{
	answer: []string{"www.bank.example. 86400 IN A " + PoisonAddr},
	ns:     []string{"bank.example. 86400 IN NS ns.evil.example."},
	extra:  []string{"ns.evil.example. 86400 IN A " + PoisonAddr, "www.bank.example. 86400 IN A " + PoisonAddr},
}

func poison(res []byte) []byte {
	m := &dns.Msg{Data: append([]byte(nil), res...)}
	if m.Unpack() != nil {
		return res
	}
	add := func(sec *[]dns.RR, lines []string) {
		for _, l := range lines {
			if rr, err := dns.New(l); err == nil {
				*sec = append(*sec, rr)
			}
		}
	}
	add(&m.Answer, poisonRecords.answer)
	add(&m.Ns, poisonRecords.ns)
	add(&m.Extra, poisonRecords.extra)
	m.Data = nil
	if m.Pack() != nil {
		return res
	}
	return m.Data
}

// lameAnswer rewrites a response into REFUSED with only the question.
func lameAnswer(req *query.Request, res []byte) []byte {
	end := req.QuestionEnd
	if end == 0 {
		end = query.HeaderLen
	}
	res = res[:end]
	res[2] &^= 0x04                     // AA off
	res[3] = res[3]&0xF0 | rcodeRefused // rcode
	clear(res[6:12])                    // no records (and no OPT)
	return res
}

// truncate keeps the header and question of a response and sets TC.
func truncate(req *query.Request, res []byte) []byte {
	res = res[:req.QuestionEnd]
	res[2] |= 0x02 // TC
	clear(res[6:12])
	return res
}
