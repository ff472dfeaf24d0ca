package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"warden/internal/probe"
	"warden/internal/upstream"
)

func probeCommand() *command {
	return &command{
		name:    "probe",
		args:    "NAME...",
		summary: "find DNS tampering per name and resolver, and the hop where it is injected",
		about: `Finds DNS tampering between this machine and its resolvers: for every name and resolver it
listens for forged replies racing the real one, checks answers against known forged addresses,
and compares them with a trusted channel.

Verdicts: consistent, filtered (the resolver declares it with Extended DNS Error 15 Blocked,
16 Censored or 17 Filtered, shown as evidence), injected, redirected, nxdomain-injected, timeout,
servfail.`,
		flags: func() []flagDef { return probeFlagDefs(&probeFlags{}) },
		exit: "0 no tampering found (declared filtering is not tampering), 1 tampering found (injected, redirected or nxdomain-injected), " +
			"2 usage error or unreadable input.",
		run: probeCmd,
	}
}

// progressOver is the number of pairs above which progress goes to stderr even when it is not a
// terminal: a run that long is worth following in a log.
const progressOver = 20

// probeEnv is what `warden probe` takes from its surroundings, so that tests can replace it.
type probeEnv struct {
	locator    probe.Locator // nil: tampered pairs are not localised
	resolvConf string        // where the system resolver is read from
	terminal   bool          // stderr is a terminal: progress overwrites one line
}

// probeCmd is `warden probe`.
func probeCmd(args []string, stdout, stderr io.Writer) int {
	env := probeEnv{resolvConf: "/etc/resolv.conf", terminal: isTerminal(stderr)}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return runProbe(ctx, env, args, stdout, stderr)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// probeFlags are the parsed flags of `warden probe`.
type probeFlags struct {
	resolvers, dark        listFlag
	trusted, names, forged string
	qtype                  string
	wait, timeout          time.Duration
	json                   bool
	maxHops                int
	args                   []string
}

func probeFlagDefs(f *probeFlags) []flagDef {
	return []flagDef{
		listFlagDef(&f.resolvers, "resolver", "ADDR", "resolver to test, IP or IP:port (default: the first nameserver of "+
			"/etc/resolv.conf)."),
		stringFlag(&f.trusted, "trusted", "URL|FILE", "", "trusted channel: a DoT or DoH resolver (tls://IP:853#name, "+
			`https://IP/dns-query#name) or a file of known answers ("NAME A ADDR", "NAME AAAA ADDR", "NAME NXDOMAIN", one per line)`),
		stringFlag(&f.names, "names", "FILE", "", "more names, one per line"),
		listFlagDef(&f.dark, "dark", "ADDR", "an address that runs no DNS server: any reply from it is injected."),
		stringFlag(&f.forged, "forged", "FILE", "", "addresses or prefixes (one per line) seen only in forged answers"),
		stringFlag(&f.qtype, "type", "A|AAAA|A,AAAA", "A", "the query types"),
		durationFlag(&f.wait, "wait", "D", probe.DefaultHold, "how long to keep listening after the first reply"),
		durationFlag(&f.timeout, "timeout", "D", probe.DefaultTimeout, "how long to wait for the first reply"),
		boolFlag(&f.json, "json", "one JSON object per line per (name, type, resolver)"),
		intFlag(&f.maxHops, "max-hops", "N", probe.DefaultMaxHops, "localise each tampered pair by sending the query with "+
			"IP TTL 1..N and reading ICMP time-exceeded (no raw sockets); the first hop whose TTL draws a reply although the "+
			"resolver is farther is reported as hop and hop_addr (0 turns localisation off)"),
	}
}

func parseProbe(c *command, args []string) (*probeFlags, error) {
	f := &probeFlags{}
	// Flags may follow names, as in "warden probe example.org --json".
	names, err := c.parse(probeFlagDefs(f), args)
	if err != nil {
		return nil, err
	}
	f.args = names
	if f.wait <= 0 || f.timeout <= 0 {
		return nil, usagef("--wait and --timeout must be positive")
	}
	if f.maxHops < 0 || f.maxHops > 255 {
		return nil, usagef("--max-hops %d: want 0 (off) to 255", f.maxHops)
	}
	return f, nil
}

// probePlan is everything a run needs, read and checked before the first query goes out.
type probePlan struct {
	prober  *probe.Prober
	targets []probe.Target
	close   func()
}

func (f *probeFlags) plan(env probeEnv) (*probePlan, error) {
	var names []string
	for _, a := range f.args {
		n, err := probe.CanonicalName(a)
		if err != nil {
			return nil, fmt.Errorf("argument: %w", err)
		}
		names = append(names, n)
	}
	if f.names != "" {
		more, err := probe.LoadNames(f.names)
		if err != nil {
			return nil, err
		}
		names = append(names, more...)
	}
	if len(names) == 0 {
		return nil, errors.New("no names to probe: give them as arguments or with --names")
	}
	types, err := probe.ParseType(f.qtype)
	if err != nil {
		return nil, fmt.Errorf("--type: %w", err)
	}
	var resolvers, dark []netip.AddrPort
	for _, s := range f.resolvers {
		ap, err := probe.ParseResolver(s)
		if err != nil {
			return nil, fmt.Errorf("--resolver: %w", err)
		}
		resolvers = append(resolvers, ap)
	}
	for _, s := range f.dark {
		ap, err := probe.ParseResolver(s)
		if err != nil {
			return nil, fmt.Errorf("--dark: %w", err)
		}
		dark = append(dark, ap)
	}
	if len(resolvers) == 0 {
		ap, err := probe.SystemResolver(env.resolvConf)
		if err != nil {
			return nil, err
		}
		resolvers = append(resolvers, ap)
	}
	locator := env.locator
	if locator == nil && f.maxHops > 0 {
		locator = probe.TTLLocator{MaxHops: f.maxHops}
	}
	p := &probe.Prober{Hold: f.wait, Timeout: f.timeout, Locator: locator}
	plan := &probePlan{prober: p, close: func() {}}
	if f.forged != "" {
		if p.Forged, err = probe.LoadForged(f.forged); err != nil {
			return nil, err
		}
	}
	if f.trusted != "" {
		tr, err := probe.OpenTrusted(f.trusted, upstream.Options{Timeout: f.timeout})
		if err != nil {
			return nil, fmt.Errorf("--trusted: %w", err)
		}
		p.Trusted = tr
		if c, ok := tr.(io.Closer); ok {
			plan.close = func() { c.Close() }
		}
	}
	for _, n := range names {
		for _, t := range types {
			for _, r := range resolvers {
				plan.targets = append(plan.targets, probe.Target{Name: n, Type: t, Resolver: r})
			}
			for _, d := range dark {
				plan.targets = append(plan.targets, probe.Target{Name: n, Type: t, Resolver: d, Dark: true})
			}
		}
	}
	return plan, nil
}

func runProbe(ctx context.Context, env probeEnv, args []string, stdout, stderr io.Writer) int {
	c := probeCommand()
	f, err := parseProbe(c, args)
	if err != nil {
		return c.fail(err, stdout, stderr)
	}
	plan, err := f.plan(env)
	if err != nil {
		fmt.Fprintf(stderr, "warden probe: %v\n", err)
		return 2
	}
	defer plan.close()
	if total := len(plan.targets); total > progressOver || env.terminal {
		plan.prober.Progress = progressPrinter(stderr, env.terminal)
	}
	results := plan.prober.Run(ctx, plan.targets)
	if f.json {
		enc := json.NewEncoder(stdout)
		for _, r := range results {
			if err := enc.Encode(r); err != nil {
				fmt.Fprintf(stderr, "warden probe: %v\n", err)
				return 2
			}
		}
	} else {
		printResults(stdout, results)
	}
	for _, r := range results {
		if r.Verdict.Tampered() {
			return 1
		}
	}
	return 0
}

// progressPrinter reports "probed N/M" on w: every pair on a terminal, overwriting one line;
// otherwise about every twentieth of the run, one line each.
func progressPrinter(w io.Writer, terminal bool) func(done, total int) {
	return func(done, total int) {
		switch {
		case terminal:
			fmt.Fprintf(w, "\rprobed %d/%d", done, total)
			if done == total {
				fmt.Fprintln(w)
			}
		case done == total || done%max(1, total/20) == 0:
			fmt.Fprintf(w, "probed %d/%d\n", done, total)
		}
	}
}

func printResults(w io.Writer, results []probe.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tRESOLVER\tVERDICT\tHOP\tEVIDENCE")
	for _, r := range results {
		hop := "-"
		if r.Hop > 0 {
			hop = fmt.Sprintf("%d %s", r.Hop, r.HopAddr)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Type, r.Resolver, r.Verdict, hop, r.Evidence)
	}
	tw.Flush()
	fmt.Fprintln(w, summary(results))
}

// summary is the line under the table: "6 pairs: 2 consistent, 1 filtered, 3 tampered
// (2 injected, 1 redirected), 0 timeout, 0 servfail". Filtered pairs are counted apart from both
// consistent and tampered ones: the resolver changed the answer, and said so.
func summary(results []probe.Result) string {
	count := map[probe.Verdict]int{}
	for _, r := range results {
		count[r.Verdict]++
	}
	tampered := count[probe.Injected] + count[probe.Redirected] + count[probe.NXDomainInjected]
	var kinds []string
	for _, v := range []probe.Verdict{probe.Injected, probe.Redirected, probe.NXDomainInjected} {
		if count[v] > 0 {
			kinds = append(kinds, fmt.Sprintf("%d %s", count[v], v))
		}
	}
	detail := ""
	if len(kinds) > 0 {
		detail = " (" + strings.Join(kinds, ", ") + ")"
	}
	return fmt.Sprintf("%d pairs: %d consistent, %d filtered, %d tampered%s, %d timeout, %d servfail",
		len(results), count[probe.Consistent], count[probe.Filtered], tampered, detail, count[probe.Timeout], count[probe.ServFail])
}
