package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"warden/internal/config"
	"warden/internal/policy"
	"warden/internal/policy/live"
	"warden/internal/server"
	"warden/internal/zones"
)

// check validates the configuration and loads every zone, policy zone and blocklist as serve
// would, printing every problem. It exits 1 when anything is wrong, also a zone file or list the
// server would start without (serving SERVFAIL for that zone), as named-checkzone does; with
// --config-only it reads the configuration alone and fails only for what stops a start, as knotc
// conf-check does.
func check(args []string, stdout, stderr io.Writer) int {
	c := checkCommand()
	f, err := parseFlags(c, args)
	if err != nil {
		return c.fail(err, stdout, stderr)
	}
	if f.configOnly && f.corpus != "" {
		// The blast-radius check loads the policy zones and lists that --config-only leaves.
		return c.fail(fmt.Errorf("--config-only and --corpus: the corpus check reads the policy, which --config-only does not"), stdout, stderr)
	}
	cfg, err := loadConfig(f)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	failed := false
	if cfg.TLS.Cert != "" {
		// The files were found readable with the configuration; here they must make a pair.
		cert, err := server.LoadCertificate(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			failed = true
		} else {
			fmt.Fprintf(stdout, "tls certificate %s: %s, expires %s: OK\n", cfg.TLS.Cert, cert.Leaf.Subject, cert.Leaf.NotAfter.Format(time.RFC3339))
		}
	}
	if f.configOnly {
		if failed {
			return 1
		}
		fmt.Fprintln(stdout, "configuration OK (zone files, policy zones and blocklists not read)")
		return 0
	}
	for _, zc := range cfg.Zones {
		switch {
		case zc.IsSecondary():
			fmt.Fprintf(stdout, "zone %s: secondary of %v: transferred when served\n", zc.Origin, zc.Primaries)
			continue
		case zc.IsProducedCatalog():
			fmt.Fprintf(stdout, "zone %s: catalog of this server's zones: built when served\n", zc.Origin)
			continue
		}
		z, warnings, err := zones.ReadZone(zc)
		for _, w := range warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w.Error())
		}
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			failed = true
			continue
		}
		fmt.Fprintf(stdout, "zone %s: serial %d, %d records: OK\n", z.Origin, z.Serial(), z.Records)
	}
	for _, pc := range cfg.Policy.RPZ {
		if pc.IsTransferred() {
			if _, err := os.Stat(pc.File); err != nil {
				fmt.Fprintf(stdout, "policy zone %s: transferred from %v, no copy at %s yet: checked when it arrives\n", pc.Origin, pc.Primaries, pc.File)
				continue
			}
		}
		s, _, err := live.LoadRPZ(pc)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			failed = true
			continue
		}
		for _, w := range s.Warnings() {
			fmt.Fprintf(stderr, "warning: %s\n", w.Error())
		}
		fmt.Fprintf(stdout, "policy zone %s: %d rules: OK\n", s.Name(), s.Len())
	}
	if !checkBlocklists(cfg.Policy.Blocklists, stdout, stderr) {
		failed = true
	}
	if failed {
		return 1
	}
	if f.corpus != "" && !blastRadius(f, cfg, stdout, stderr) {
		return 1
	}
	fmt.Fprintln(stdout, "configuration OK")
	return 0
}

// blastRadius compares the configuration's policy with the baseline's (none when no baseline is
// given) over the corpus, prints the report, and says whether the change is within --max-change
// (or forced).
func blastRadius(f *commonFlags, cfg *config.Config, stdout, stderr io.Writer) bool {
	if f.maxChange < 0 || f.maxChange > 100 {
		fmt.Fprintf(stderr, "--max-change %g: want a percentage from 0 to 100\n", f.maxChange)
		return false
	}
	file, err := os.Open(f.corpus)
	if err != nil {
		fmt.Fprintf(stderr, "corpus: %v\n", err)
		return false
	}
	corpus, err := policy.ReadCorpus(file, f.corpus)
	file.Close()
	if err != nil {
		fmt.Fprintf(stderr, "corpus: %v\n", err)
		return false
	}
	proposed, err := wholePolicy(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return false
	}
	var inForce *policy.Policy
	if f.baseline != "" {
		base, err := config.Load(f.baseline)
		if err != nil {
			fmt.Fprintf(stderr, "baseline: %v\n", err)
			return false
		}
		if inForce, err = wholePolicy(base); err != nil {
			fmt.Fprintf(stderr, "baseline: %v\n", err)
			return false
		}
	}
	report := policy.Compare(inForce, proposed, corpus, live.CheckClient)
	fmt.Fprint(stdout, report.String())
	if pct := 100 * report.Share(); pct > f.maxChange {
		if f.force {
			fmt.Fprintf(stdout, "over the %g%% limit, forced\n", f.maxChange)
			return true
		}
		fmt.Fprintf(stderr, "policy change refused: %.2f%% of the corpus would change answer, the limit is %g%% (--max-change; --force to accept)\n", pct, f.maxChange)
		return false
	}
	return true
}

// wholePolicy loads cfg's policy as the server would put it together: the RPZ zones in order,
// then the blocklists in order.
func wholePolicy(cfg *config.Config) (*policy.Policy, error) {
	prop, _, err := live.LoadPolicy(cfg.Policy.RPZ)
	if err != nil {
		return nil, err
	}
	sets := prop.Policy.Sets()
	for _, c := range cfg.Policy.Blocklists {
		_, s, err := live.CheckBlocklist(context.Background(), c, checkFetchTimeout)
		if err != nil {
			return nil, err
		}
		sets = append(sets, s)
	}
	return policy.New(sets...), nil
}

// checkFetchTimeout bounds the fetch of each blocklist URL by `warden check`.
const checkFetchTimeout = 30 * time.Second

// checkSkipped is how many skipped lines of a list check prints.
const checkSkipped = 5

// checkBlocklists loads every blocklist once, as serve would (URLs fetched with a timeout), and
// prints its counts and the first skipped lines with file, line and reason. A list that does not
// load fails the check; skipped lines are warnings, as the server also skips them.
func checkBlocklists(lists []config.BlocklistConfig, stdout, stderr io.Writer) bool {
	ok := true
	for _, c := range lists {
		l, s, err := live.CheckBlocklist(context.Background(), c, checkFetchTimeout)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			ok = false
			continue
		}
		for i, p := range l.Skipped {
			if i == checkSkipped {
				fmt.Fprintf(stderr, "warning: blocklist %s: %d more lines skipped\n", c.Name, l.SkippedTotal-checkSkipped)
				break
			}
			fmt.Fprintf(stderr, "warning: %s\n", l.Describe(p))
		}
		ix := s.Index()
		fmt.Fprintf(stdout, "blocklist %s: %s, %d entries, %d names, %d lines skipped, %d bytes: OK\n",
			c.Name, l.Format, len(l.Entries), ix.Len(), l.SkippedTotal, ix.Bytes())
	}
	return ok
}
