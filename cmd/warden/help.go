package main

import (
	"fmt"
	"io"
)

func helpCommand() *command {
	return &command{
		name:    "help",
		args:    "[COMMAND]",
		summary: "list the commands, or show one command's help or manual page",
		about: `Without a command, lists every command with one line each. With one, shows its usage and
flags, as "warden COMMAND --help" does. With --man, prints the manual page (warden(1), or
warden-COMMAND(1)) as roff for man(1): "warden help --man probe | man -l -".`,
		flags: func() []flagDef { var man bool; return helpFlags(&man) },
		exit:  "0, or 2 for an unknown command or a usage error.",
		run:   helpCmd,
	}
}

func helpFlags(man *bool) []flagDef {
	return []flagDef{boolFlag(man, "man", "print the manual page, in roff")}
}

func helpCmd(args []string, stdout, stderr io.Writer) int {
	c := helpCommand()
	var man bool
	rest, err := c.parse(helpFlags(&man), args)
	if err == nil && len(rest) > 1 {
		err = usagef("unexpected argument %q", rest[1])
	}
	var sub *command
	if err == nil && len(rest) == 1 {
		if sub = lookup(rest[0]); sub == nil {
			err = unknownCommand(rest[0])
		}
	}
	if err != nil {
		return c.fail(err, stdout, stderr)
	}
	switch {
	case man && sub == nil:
		writeOverviewMan(stdout, readBuild())
	case man:
		sub.man(stdout, readBuild())
	case sub == nil:
		printOverview(stdout)
	default:
		sub.help(stdout)
	}
	return 0
}

// unknownCommand names a subcommand that does not exist, and the one it most likely stands for.
func unknownCommand(name string) error {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	if near := closest(name, names); near != "" {
		return usagef("unknown command %q (did you mean %s?)", name, near)
	}
	return usagef("unknown command %q", name)
}

const overviewAbout = `Warden is a DNS server in one binary: it serves zones from master files, replicates
them (AXFR, IXFR, NOTIFY, TSIG, dynamic update, catalog zones), and given root hints or upstreams
resolves, caches and forwards, applying response policy (RPZ and blocklists).`

// printOverview is `warden help`: every command, one line each.
func printOverview(w io.Writer) {
	fmt.Fprintln(w, "warden: a DNS server")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: warden [COMMAND] [flags] [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		writeItem(w, c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, wrap(`Without a command, warden serves. "warden COMMAND --help" (or -h) shows a command's usage and flags; `+
		`"warden help --man [COMMAND]" prints its manual page; "warden --version" the version.`, 0, helpWidth))
}
