// Command warden is one DNS server binary: `warden serve` answers from the configured zones,
// `warden check` validates a configuration and its zones without serving, and `warden lab` runs a
// mini internet on loopback addresses for trying resolution offline.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// commands are the subcommands, in the order `warden help` lists them. Each one's flags, help and
// man page come from its entry here.
func commands() []*command {
	return []*command{
		serveCommand(),
		checkCommand(),
		zoneCommand(),
		ctlCommand(),
		policyCommand(),
		probeCommand(),
		logCommand(),
		labCommand(),
		versionCommand(),
		helpCommand(),
	}
}

// lookup returns the subcommand called name, or nil.
func lookup(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

func run(args []string, stdout, stderr io.Writer) int {
	name := "serve" // the default command, so `warden --config x` serves
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "--version" || a == "-version":
			return printVersion(stdout)
		case a == "--help" || a == "-help" || a == "-h":
			printOverview(stdout)
			return 0
		case !strings.HasPrefix(a, "-"):
			name, args = a, args[1:]
		}
	}
	c := lookup(name)
	if c == nil {
		var names []string
		for _, c := range commands() {
			names = append(names, c.name)
		}
		msg := fmt.Sprintf("warden: unknown command %q", name)
		if near := closest(name, names); near != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", near)
		}
		fmt.Fprintf(stderr, "%s\nRun 'warden help' for the list of commands.\n", msg)
		return 2
	}
	return c.run(args, stdout, stderr)
}

// commonFlags are the flags serve and check share.
type commonFlags struct {
	config      string
	listen      listFlag
	zones       listFlag
	rootHints   string
	trustAnchor string
	forwards    listFlag
	noRecursion bool
	rpz         listFlag
	blocklists  listFlag
	control     string
	http        listFlag
	dnstap      string
	secondaries listFlag
	tsig        string
	storage     string
	stateDir    string
	tlsCert     string
	tlsKey      string
	rrl         int
	queryLog    string
	// serve only: the account to run as once the sockets are open.
	user string
	// check only: configOnly leaves the zones, policy zones and blocklists unread, for a check
	// before a start that must not fail for them, since the server starts without them.
	configOnly bool
	// check only: the blast-radius check of the configured policy.
	corpus    string
	maxChange float64
	force     bool
	baseline  string
}

// serveFlags declares the flags of serve (name "serve") and check (name "check") and binds them
// to f. This list is the only place they are defined: parsing, help and man pages come from it.
func serveFlags(name string, f *commonFlags) []flagDef {
	defs := []flagDef{
		stringFlag(&f.config, "config", "FILE", "", "YAML configuration file (default: the built-in example)"),
		listFlagDef(&f.listen, "listen", "ADDR", "UDP and TCP address to answer on, as 127.0.0.1:5300; "+
			"tls://IP:853 (DoT), https://IP:443/dns-query (DoH), quic://IP:853 (DoQ)."),
		stringFlag(&f.tlsCert, "tls-cert", "FILE", "", "PEM certificate chain of the encrypted listeners (reloaded on change)"),
		stringFlag(&f.tlsKey, "tls-key", "FILE", "", "PEM private key of --tls-cert"),
		listFlagDef(&f.zones, "zone", "ORIGIN=FILE", "serve a zone from a master file."),
		stringFlag(&f.rootHints, "root-hints", "FILE|iana", "", "also resolve names outside the zones, for loopback and private "+
			"clients, starting from these root hints (iana: the real root)"),
		stringFlag(&f.trustAnchor, "trust-anchor", "FILE|iana", "", "validate DNSSEC from this trust anchor: a file of DS or "+
			"DNSKEY records in zone-file form, or iana (the root's keys, the default with --root-hints iana)"),
		listFlagDef(&f.forwards, "forward", "[ZONE=]ADDR[,ADDR...]", "send questions (under ZONE, else all) to these resolvers "+
			"instead of resolving; ADDR is IP:port, tcp://, tls://IP:853#name or https://IP/path#name."),
		boolFlag(&f.noRecursion, "no-recursion", "never resolve, whatever the configuration says"),
		listFlagDef(&f.rpz, "rpz", "ORIGIN=FILE", "apply a response policy zone (RPZ) to recursive queries, in precedence "+
			"order (after the configuration's policy zones)."),
		listFlagDef(&f.blocklists, "blocklist", "[NAME=]FILE|URL", "apply a blocklist (hosts, domains or Adblock; format "+
			"detected) with NXDOMAIN, after every policy zone and the configuration's blocklists; a URL is fetched again daily."),
		stringFlag(&f.control, "control", "PATH", "", "the control socket (none: off; default: from the configuration)"),
		listFlagDef(&f.http, "http", "ADDR", "serve metrics (GET /metrics), the dashboard and its API over HTTP on this IP:port "+
			"(replaces the configuration's http.listen; its token_file guards the dashboard and API)."),
		stringFlag(&f.dnstap, "dnstap", "unix:PATH|tcp:IP:PORT", "", "send dnstap records of every answer and upstream "+
			"query to a Frame Streams collector there (the configuration's dnstap.socket)"),
		listFlagDef(&f.secondaries, "secondary", "ORIGIN=ADDR[:PORT]", "serve a zone as a secondary of that primary "+
			"(AXFR/IXFR, NOTIFY); its copy is kept in the storage directory."),
		stringFlag(&f.tsig, "tsig", "NAME:ALGORITHM:BASE64SECRET", "", "the TSIG key that signs the --secondary zones' "+
			"transfers, and that lets anyone holding it transfer the --zone zones"),
		stringFlag(&f.storage, "storage", "DIR", "", "where secondaries' copies and journals live (default: /var/lib/warden)"),
		stringFlag(&f.stateDir, "state-dir", "DIR", "", "keep the policy's versions here, so that a rollback works after a "+
			"restart (default: none, versions in memory only)"),
		stringFlag(&f.queryLog, "query-log", "DIR", "", "write every answer to the query log in DIR (Parquet files; "+
			"`warden log` searches them; the configuration's query_log.dir)"),
		intFlag(&f.rrl, "rrl", "N", -1, "limit identical UDP responses to N a second per client /24 or /56, slip 2, "+
			"window 15s (the rrl keys of the configuration; 0: off)"),
	}
	if name == "serve" {
		defs = append(defs, stringFlag(&f.user, "user", "NAME", "", "start as root (for ports below 1024), then run as NAME "+
			"and its group, without supplementary groups, once the sockets are open"))
	}
	if name == "check" {
		defs = append(defs,
			boolFlag(&f.configOnly, "config-only", "check the configuration only, as knotc conf-check does, not the zone files, "+
				"policy zones and blocklists, which the server starts without when they do not load"),
			stringFlag(&f.corpus, "corpus", "FILE", "", "names, one per line, to compare the policy's answers on "+
				"(the blast-radius check of a policy change)"),
			stringFlag(&f.baseline, "baseline", "CONFIG", "", "the configuration whose policy is in force (default: no policy in force)"),
			floatFlag(&f.maxChange, "max-change", "PERCENT", 1, "fail when more of the corpus would change answer"),
			boolFlag(&f.force, "force", "report, but do not fail on --max-change"),
		)
	}
	return defs
}

// parseFlags reads the command line of serve or check.
func parseFlags(c *command, args []string) (*commonFlags, error) {
	f := &commonFlags{}
	rest, err := c.parse(serveFlags(c.name, f), args)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, usagef("unexpected argument %q", rest[0])
	}
	return f, nil
}

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "serve the configured zones (the default command)",
		about: `Serves the zones of the configuration (--config, else the built-in example: UDP and TCP on
127.0.0.1:1053, the zone example.test.) and, given root hints or upstreams, resolves, caches and
forwards for the clients of allowed networks, applying response policy. The flags add to the
configuration or override it.

SIGHUP, or "warden ctl reload", re-reads the configuration and the zones; a zone or list that
fails to load leaves the running version in force. SIGTERM and SIGINT stop the server.`,
		flags: func() []flagDef { return serveFlags("serve", &commonFlags{}) },
		exit:  "0 stopped by a signal, 1 the configuration did not load or the server failed, 2 usage error.",
		run:   serve,
	}
}

func checkCommand() *command {
	return &command{
		name:    "check",
		summary: "validate the configuration and every zone, policy zone and blocklist, then exit",
		about: `Loads the configuration, every zone, every policy zone and every blocklist as serve would
(blocklist URLs fetched once, 30 s timeout), with the same flags, and prints each one's counts or
its problems, each as file:line: what. It does not serve. A zone file that does not load fails the
check, though serve starts without that zone (SERVFAIL for it until it is mended and reloaded);
--config-only checks the configuration alone, for a check before every start.

With --corpus it also runs the blast-radius check of the policy: the share of the corpus's names
whose answer the policy (against --baseline's) would change, which fails above --max-change.`,
		flags: func() []flagDef { return serveFlags("check", &commonFlags{}) },
		exit: "0 everything loads (and the policy change is within --max-change), 1 something does not load (with " +
			"--config-only: the configuration is wrong) or the change is too large, 2 usage error.",
		run: check,
	}
}
