package main

import (
	"flag"
	"strings"
)

// parseArgs parses fs's flags wherever they stand among args and returns the other arguments in
// their order: `warden policy resume SET --control PATH` reads as `--control PATH resume SET`.
// The flag package alone stops at the first argument that is not a flag. "--" ends the flags:
// everything after it is an argument, even when it starts with a dash. A lone "-" is an argument.
//
// A flag is -name or --name, its value the next argument or after "=" (--name=value); a boolean
// takes no value unless after "=". --help, -help and -h return errHelp unless fs defines them.
// Every other mistake is a *usageError that names the flag as --name, with the flag closest to
// an unknown one.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
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
		name := strings.TrimPrefix(a[1:], "-")
		name, value, hasValue := strings.Cut(name, "=")
		if name == "" || name[0] == '-' {
			return nil, usagef("bad flag syntax: %s", a)
		}
		f := fs.Lookup(name)
		if f == nil {
			if name == "h" || name == "help" {
				return nil, errHelp
			}
			return nil, unknownFlag(fs, name)
		}
		if !hasValue {
			if isBoolFlag(f) {
				value = "true"
			} else if i+1 < len(args) {
				i++
				value = args[i]
			} else {
				return nil, usagef("--%s needs a value", name)
			}
		}
		if err := fs.Set(name, value); err != nil {
			return nil, usagef("--%s %q: %v", name, value, err)
		}
	}
	return positional, nil
}

// unknownFlag names a flag fs does not define, and the one it most likely stands for.
func unknownFlag(fs *flag.FlagSet, name string) error {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if near := closest(name, names); near != "" {
		return usagef("unknown flag --%s (did you mean --%s?)", name, near)
	}
	return usagef("unknown flag --%s", name)
}

// isBoolFlag says whether f takes no value, as the flag package decides it.
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
