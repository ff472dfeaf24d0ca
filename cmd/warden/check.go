package main

import (
	"fmt"
	"io"
	"os"

	"warden/internal/config"
	"warden/internal/policy"
	"warden/internal/server"
)

// check validates the configuration and loads every zone and policy zone as serve would, printing every problem.
// It exits 1 when anything would stop the server from starting, as named-checkzone and
// knotc conf-check do.
func check(args []string, stdout, stderr io.Writer) int {
	f, err := parseFlags("check", args, stderr)
	if err != nil {
		return exitCode(err)
	}
	cfg, err := loadConfig(f)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	failed := false
	for _, zc := range cfg.Zones {
		z, warnings, err := server.CheckZone(zc)
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
		s, err := server.LoadRPZ(pc)
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
	proposed, _, err := server.LoadPolicy(cfg.Policy.RPZ)
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
		if inForce, _, err = server.LoadPolicy(base.Policy.RPZ); err != nil {
			fmt.Fprintf(stderr, "baseline: %v\n", err)
			return false
		}
	}
	report := policy.Compare(inForce, proposed, corpus, checkClient)
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
