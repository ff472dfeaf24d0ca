package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"warden/internal/config"
	"warden/internal/control"
	"warden/internal/server"
)

// policyCmd is `warden policy ACTION`, the client of a running server's control socket.
func policyCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("warden policy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("control", config.Default().Control.Socket, "the server's control socket")
	force := fs.Bool("force", false, "reload: put the policy in force even over the check's limit")
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if len(args) == 0 {
		fmt.Fprintf(stderr, "warden policy: say status, rollback, resume SET or reload\n")
		return 2
	}
	action := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return exitCode(err)
	}
	c := control.NewClient(*socket)
	switch action {
	case "status":
		if fs.NArg() != 0 {
			break
		}
		var st server.PolicyStatus
		if err := c.Do(http.MethodGet, "/policy", &st); err != nil {
			fmt.Fprintf(stderr, "warden policy: %v\n", err)
			return 1
		}
		printStatus(stdout, st)
		return 0
	case "rollback", "resume", "reload":
		path := "/policy/" + action
		switch {
		case action == "resume" && fs.NArg() == 1:
			path += "?set=" + url.QueryEscape(fs.Arg(0))
		case action == "reload" && fs.NArg() == 0 && *force:
			path += "?force=1"
		case fs.NArg() != 0 || action == "resume":
			fmt.Fprintf(stderr, "warden policy %s: unexpected arguments %q\n", action, fs.Args())
			return 2
		}
		var done control.Done
		err := c.Do(http.MethodPost, path, &done)
		if done.Report != "" {
			fmt.Fprint(stdout, done.Report)
		}
		if err != nil {
			fmt.Fprintf(stderr, "warden policy: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, done.Message)
		return 0
	}
	fmt.Fprintf(stderr, "warden policy: unknown action %q (status, rollback, resume SET, reload)\n", strings.Join(args, " "))
	return 2
}

func printStatus(w io.Writer, st server.PolicyStatus) {
	fmt.Fprintf(w, "policy version %d (%s, since %s), %d questions evaluated\n", st.Version, st.Reason, st.Since.Format("2006-01-02 15:04:05"), st.Queries)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "rule set\trules\thits\tstate")
	for _, s := range st.Sets {
		state := "in force"
		switch {
		case s.Suspended:
			state = "SUSPENDED"
		case s.Shadow:
			state = "shadow"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", s.Name, s.Rules, s.Hits, state)
	}
	tw.Flush()
	for _, a := range st.Alarms {
		fmt.Fprintf(w, "ALARM: %s\n", a)
	}
	fmt.Fprintln(w, "versions:")
	for _, v := range st.Versions {
		fmt.Fprintf(w, "  %d  %s  %s  [%s]\n", v.N, v.At.Format("2006-01-02 15:04:05"), v.Reason, strings.Join(v.Sets, " "))
	}
}
