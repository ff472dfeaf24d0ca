package main

import (
	"fmt"
	"io"
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
	fmt.Fprintln(stdout, "configuration OK")
	return 0
}
