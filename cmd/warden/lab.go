package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"

	"warden/internal/lab"
)

var behaviourNames = map[lab.Behaviour]string{
	lab.Normal:     "",
	lab.Silent:     "never answers",
	lab.Slow:       "answers after " + lab.SlowDelay.String(),
	lab.Truncating: "truncates every UDP answer",
	lab.Lame:       "lame: REFUSED to everything",
	lab.Poisoning:  "adds forged records for www.bank.example.",
}

func labCommand() *command {
	return &command{
		name:    "lab",
		summary: "serve a whole DNS hierarchy on 127.0.x.y, to try resolvers offline",
		about: `Serves a mini internet until interrupted: root, TLDs and leaf zones, served by Warden, Knot
DNS and NSD, with broken servers among them (lame, silent, slow, truncating, poisoning), each on
its own address in 127.0.x.y, and prints its root hints, so that any resolver can be tried offline
against a whole hierarchy. Port 53, which resolvers with root hints use, needs root.`,
		flags: func() []flagDef { var port int; return labFlags(&port) },
		exit:  "0 stopped by a signal, 1 the lab could not start, 2 usage error.",
		run:   labCmd,
	}
}

func labFlags(port *int) []flagDef {
	return []flagDef{
		intFlag(port, "port", "N", 53, "port every lab server listens on (resolvers with root hints use 53)"),
	}
}

// labCmd serves the built-in mini internet until interrupted and prints its root hints, so that
// any resolver can be tried offline against a whole hierarchy.
func labCmd(args []string, stdout, stderr io.Writer) int {
	c := labCommand()
	var port int
	rest, err := c.parse(labFlags(&port), args)
	if err == nil && len(rest) > 0 {
		err = usagef("unexpected argument %q", rest[0])
	}
	if err != nil {
		return c.fail(err, stdout, stderr)
	}
	l, err := lab.Start(lab.Hierarchy(), port, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		fmt.Fprintf(stderr, "warden lab: %v\n", err)
		return 1
	}
	defer l.Close()
	fmt.Fprintf(stdout, "; The mini internet is up. Root hints (save as a file for your resolver):\n%s\n", l.RootHints())
	fmt.Fprintf(stdout, "; Servers (all on port %d):\n", port)
	for _, s := range l.Servers() {
		var zones []string
		for _, z := range s.Zones {
			zones = append(zones, z.Origin)
		}
		line := fmt.Sprintf(";   %-10s %-8s %-20s zones %v %s", s.IP, s.Software, s.Name, zones, behaviourNames[s.Behaviour])
		fmt.Fprintln(stdout, strings.TrimRight(line, " "))
	}
	fmt.Fprintln(stdout, "; Try: unbound with root-hints set to that file and do-not-query-localhost: no; stop with Ctrl-C.")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
	return 0
}
