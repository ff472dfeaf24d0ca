package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"codeberg.org/miekg/dns"

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
against a whole hierarchy. Port 53, which resolvers with root hints use, needs root.

With --signed it serves the signed bed instead: a root, nsec. and nsec3. and leaf zones below them,
signed as it starts (with BIND's dnssec-keygen and dnssec-signzone), each branch broken in one
known way (expired and not-yet-valid signatures, a DS for the wrong key, a cut NSEC chain, an
unknown algorithm, delegations without DS, NSEC3 opt-out, NSEC3 iterations above validators'
limit) beside secure NSEC and NSEC3 zones, and prints the trust anchor's path, the questions with
the outcome each branch was built for, and the stub zones Unbound needs on a port other than 53.`,
		flags: func() []flagDef { var port int; var signed bool; return labFlags(&port, &signed) },
		exit:  "0 stopped by a signal, 1 the lab could not start, 2 usage error.",
		run:   labCmd,
	}
}

func labFlags(port *int, signed *bool) []flagDef {
	return []flagDef{
		intFlag(port, "port", "N", 53, "port every lab server listens on (resolvers with root hints use 53)"),
		boolFlag(signed, "signed", "serve the signed bed (DNSSEC branches, secure, insecure and bogus) instead, with its trust anchor"),
	}
}

// labCmd serves the built-in mini internet until interrupted and prints its root hints, so that
// any resolver can be tried offline against a whole hierarchy.
func labCmd(args []string, stdout, stderr io.Writer) int {
	c := labCommand()
	var port int
	var signed bool
	rest, err := c.parse(labFlags(&port, &signed), args)
	if err == nil && len(rest) > 0 {
		err = usagef("unexpected argument %q", rest[0])
	}
	if err != nil {
		return c.fail(err, stdout, stderr)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if signed {
		return serveBed(port, stdout, stderr, log)
	}
	l, err := lab.Start(lab.Hierarchy(), port, log)
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

// serveBed builds the signed bed in a temporary directory, serves it until interrupted and tells
// how to point a validating resolver at it.
func serveBed(port int, stdout, stderr io.Writer, log *slog.Logger) int {
	dir, err := os.MkdirTemp("", "warden-bed-")
	if err != nil {
		fmt.Fprintf(stderr, "warden lab: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bed, err := lab.BuildBed(dir, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "warden lab: %v\n", err)
		return 1
	}
	l, err := lab.Start(bed.Servers, port, log)
	if err != nil {
		fmt.Fprintf(stderr, "warden lab: %v\n", err)
		return 1
	}
	defer l.Close()
	fmt.Fprintf(stdout, "; The signed bed is up on port %d.\n; Trust anchor (the root's DS): %s\n; Root hints: %s\n", port, bed.TrustAnchor, bed.Hints)
	fmt.Fprintf(stdout, "; Servers:\n")
	for _, s := range l.Servers() {
		var zones []string
		for _, z := range s.Zones {
			zones = append(zones, z.Origin)
		}
		fmt.Fprintf(stdout, ";   %-11s %-8s zones %v\n", s.IP, s.Software, zones)
	}
	fmt.Fprintf(stdout, "; Questions and the outcome each branch was built for (secure AD=1, insecure AD=0, bogus SERVFAIL):\n")
	for _, c := range lab.BedCases() {
		fmt.Fprintf(stdout, ";   %-32s %-7s %-9s %s\n", c.Name, dns.TypeToString[c.Type], c.Outcome, c.Branch)
	}
	if port == 53 {
		fmt.Fprintf(stdout, "; Try: unbound with root-hints: %s and trust-anchor-file: %s; warden serve --root-hints %s --trust-anchor %s.\n", bed.Hints, bed.TrustAnchor, bed.Hints, bed.TrustAnchor)
	} else {
		fmt.Fprintf(stdout, "; Root hints name no port: give Unbound these stub zones (and trust-anchor-file: %s),\n", bed.TrustAnchor)
		fmt.Fprintf(stdout, "; and Warden resolver.server_port: %d with --root-hints and --trust-anchor.\n", port)
		for _, line := range strings.Split(strings.TrimSpace(bed.UnboundStubs(port)), "\n") {
			fmt.Fprintf(stdout, ";   %s\n", line)
		}
	}
	fmt.Fprintln(stdout, "; Stop with Ctrl-C; the keys and signed zones are removed then.")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
	return 0
}
