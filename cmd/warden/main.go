// Command warden is one DNS server binary: `warden serve` answers from the configured zones,
// `warden check` validates a configuration and its zones without serving, and `warden lab` runs a
// mini internet on loopback addresses for trying resolution offline.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `warden: an authoritative DNS server

Usage:
  warden [serve] [flags]   serve the configured zones (the default command)
  warden check [flags]     validate the configuration and every zone, then exit
  warden lab [--port N]    serve a whole DNS hierarchy on 127.0.x.y for offline resolution
                           tests, and print its root hints (port 53 needs root)
  warden probe [flags] NAME...
                           find DNS tampering: forged replies, redirected answers and
                           injected NXDOMAIN per name and resolver (warden probe --help)
  warden help              show this text

Flags (serve and check):
  --config FILE            YAML configuration file (default: the built-in example)
  --listen ADDR            UDP and TCP address to answer on, repeatable (e.g. 127.0.0.1:5300);
                           tls://IP:853 (DoT), https://IP:443/dns-query (DoH), quic://IP:853 (DoQ)
  --tls-cert FILE          PEM certificate chain of the encrypted listeners (reloaded on change)
  --tls-key FILE           its PEM private key
  --zone ORIGIN=FILE       serve a zone from a master file, repeatable
  --root-hints FILE|iana   also resolve names outside the zones, for loopback and private
                           clients, starting from these root hints (iana: the real root)
  --forward [ZONE=]ADDR[,ADDR...]
                           send questions (under ZONE, else all) to these resolvers instead;
                           ADDR is IP:port, tcp://, tls://IP:853#name or https://IP/path#name
  --no-recursion           never resolve, whatever the configuration says
  --rpz ORIGIN=FILE        apply a response policy zone (RPZ) to recursive queries,
                           repeatable, in precedence order (after the file's policy zones)
  --blocklist [NAME=]FILE|URL
                           apply a blocklist (hosts, domains or Adblock; format detected)
                           with NXDOMAIN, repeatable, after every policy zone and the file's
                           blocklists; a URL is fetched again daily
  --control PATH           the control socket (none: off); default from the configuration
  --secondary ORIGIN=ADDR[:PORT]
                           serve a zone as a secondary of that primary (AXFR/IXFR, NOTIFY),
                           repeatable; its copy is kept in the storage directory
  --tsig NAME:ALGORITHM:BASE64SECRET
                           the TSIG key that signs the --secondary zones' transfers, and that
                           lets anyone holding it transfer the --zone zones
  --storage DIR            where secondaries' copies and journals live (default /var/lib/warden)
  --state-dir DIR          keep the policy's versions here, so that a rollback works after a
                           restart (default: none, versions in memory only)
  --user NAME              serve only: start as root (for ports below 1024), then run as NAME
                           and its group, without supplementary groups, once the sockets are open

Flags (check only): the blast-radius check of a policy change
  --corpus FILE            names, one per line, to compare answers on
  --baseline CONFIG        the configuration in force (default: no policy in force)
  --max-change PERCENT     fail when more of the corpus would change answer (default 1)
  --force                  report, but do not fail on --max-change

Flags may stand before or after other arguments; "--" ends them.

Policy control (talks to a running server's control socket; --control PATH):
  warden policy status     the policy in force: versions, rule sets, hits, alarms
  warden policy rollback   put the previous policy version back in force
  warden policy resume SET put a rule set the circuit breaker suspended back in service
  warden policy reload [--force]
                           re-read the policy, check it on recent names, put it in force
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stderr)
	case "check":
		return check(args, stdout, stderr)
	case "lab":
		return labCmd(args, stdout, stderr)
	case "policy":
		return policyCmd(args, stdout, stderr)
	case "ctl":
		return ctlCmd(args, stdout, stderr)
	case "probe":
		return probeCmd(args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "warden: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// commonFlags are the flags serve and check share.
type commonFlags struct {
	config      string
	listen      listFlag
	zones       listFlag
	rootHints   string
	forwards    listFlag
	noRecursion bool
	rpz         listFlag
	blocklists  listFlag
	control     string
	secondaries listFlag
	tsig        string
	storage     string
	stateDir    string
	tlsCert     string
	tlsKey      string
	// serve only: the account to run as once the sockets are open.
	user string
	// check only: the blast-radius check of the configured policy.
	corpus    string
	maxChange float64
	force     bool
	baseline  string
}

func parseFlags(name string, args []string, stderr io.Writer) (*commonFlags, error) {
	fs := flag.NewFlagSet("warden "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	f := &commonFlags{}
	fs.StringVar(&f.config, "config", "", "YAML configuration file")
	fs.Var(&f.listen, "listen", "address to answer on (repeatable)")
	fs.Var(&f.zones, "zone", "ORIGIN=FILE zone to serve (repeatable)")
	fs.StringVar(&f.rootHints, "root-hints", "", "resolve names outside the zones from these root hints: a file, or iana")
	fs.Var(&f.forwards, "forward", "[ZONE=]ADDR[,ADDR...] send questions (under ZONE) to these resolvers (repeatable)")
	fs.Var(&f.rpz, "rpz", "ORIGIN=FILE response policy zone, repeatable, in precedence order")
	fs.Var(&f.blocklists, "blocklist", "[NAME=]FILE|URL blocklist, repeatable, after the policy zones")
	fs.BoolVar(&f.noRecursion, "no-recursion", false, "never resolve, whatever the configuration says")
	fs.StringVar(&f.control, "control", "", "control socket path (none: no control interface)")
	fs.Var(&f.secondaries, "secondary", "ORIGIN=ADDR[:PORT] serve a zone as a secondary of that primary (repeatable)")
	fs.StringVar(&f.tsig, "tsig", "", "NAME:ALGORITHM:BASE64SECRET TSIG key for transfers and NOTIFY")
	fs.StringVar(&f.storage, "storage", "", "directory for secondaries' copies and journals")
	fs.StringVar(&f.stateDir, "state-dir", "", "directory keeping the policy's versions across restarts")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate chain of the tls://, https:// and quic:// listeners")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	if name == "serve" {
		fs.StringVar(&f.user, "user", "", "run as this user and its group, without supplementary groups, once the sockets are open (start as root)")
	}
	if name == "check" {
		fs.StringVar(&f.corpus, "corpus", "", "names (one per line) to compare the policy's answers on")
		fs.Float64Var(&f.maxChange, "max-change", 1, "percent of the corpus the policy may change before check fails")
		fs.BoolVar(&f.force, "force", false, "report but do not fail when the change is over --max-change")
		fs.StringVar(&f.baseline, "baseline", "", "configuration whose policy is in force (default: none)")
	}
	rest, err := parseArgs(fs, args)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		err := fmt.Errorf("unexpected argument %q", rest[0])
		fmt.Fprintf(stderr, "warden %s: %v\n", name, err)
		return nil, err
	}
	return f, nil
}

// exitCode maps a flag error to the exit status: help is success, the rest are usage errors.
func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
