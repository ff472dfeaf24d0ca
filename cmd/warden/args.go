package main

import (
	"flag"
	"strings"
)

// parseArgs parses fs's flags wherever they stand among args and returns the other arguments in
// their order: `warden policy resume SET --control PATH` reads as `--control PATH resume SET`.
// The flag package alone stops at the first argument that is not a flag. "--" ends the flags:
// everything after it is an argument, even when it starts with a dash. A lone "-" is an argument.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		// A flag without "=" takes the next argument as its value, unless it is a boolean
		// flag; an unknown flag is left for Parse to report.
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") || i+1 == len(args) {
			continue
		}
		if f := fs.Lookup(name); f != nil && !isBoolFlag(f) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	return positional, nil
}

// isBoolFlag says whether f takes no value, as the flag package decides it.
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
