package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"warden/internal/config"
	"warden/internal/control"
	"warden/internal/policy/live"
)

func policyCommand() *command {
	return &command{
		name:    "policy",
		args:    "ACTION [SET]",
		summary: "the running server's response policy: status, rollback, resume, reload",
		about: `Talks to a running server's control socket about its response policy, as "warden ctl
policy ACTION" does.`,
		verbs: policyVerbs,
		flags: func() []flagDef { var o policyOptions; return policyFlags(&o) },
		exit:  "0 done, 1 refused or failed, 2 usage error or server not reached.",
		run:   policyCmd,
	}
}

// policyVerbs are the actions of `warden policy` and `warden ctl policy`.
var policyVerbs = []entry{
	{"status", "the policy in force: versions, rule sets, hits, alarms"},
	{"rollback", "put the previous policy version back in force"},
	{"resume SET", "put a rule set the circuit breaker suspended back in service"},
	{"reload [--force]", "re-read the policy, check it on recent names, put it in force"},
}

type policyOptions struct {
	socket string
	force  bool
}

func policyFlags(o *policyOptions) []flagDef {
	return []flagDef{
		stringFlag(&o.socket, "control", "PATH", config.Default().Control.Socket, "the server's control socket"),
		boolFlag(&o.force, "force", "reload: put the policy in force even over the check's limit"),
	}
}

// policyCmd is `warden policy ACTION`, the client of a running server's control socket; it does
// what `warden ctl policy ACTION` does.
func policyCmd(args []string, stdout, stderr io.Writer) int {
	c := policyCommand()
	var o policyOptions
	words, err := c.parse(policyFlags(&o), args)
	if err == nil && len(words) == 0 {
		err = usagef("say status, rollback, resume SET or reload")
	}
	if err != nil {
		return c.fail(err, stdout, stderr)
	}
	return runPolicy(control.NewClient(o.socket), "warden policy", words, o.force, false, stdout, stderr)
}

// runPolicy runs `policy ACTION [SET]` against c for `warden policy` and `warden ctl policy`.
func runPolicy(c *control.Client, prog string, words []string, force, asJSON bool, stdout, stderr io.Writer) int {
	action, args := words[0], words[1:]
	switch action {
	case "status":
		if len(args) != 0 {
			break
		}
		return show(c, prog, "/policy", asJSON, stdout, stderr, func(w io.Writer, st live.Status, _ time.Time) { printStatus(w, st) })
	case "rollback", "resume", "reload":
		path := "/policy/" + action
		switch {
		case action == "resume" && len(args) == 1:
			path += "?set=" + url.QueryEscape(args[0])
		case action == "reload" && len(args) == 0 && force:
			path += "?force=1"
		case action == "resume" && len(args) == 0:
			fmt.Fprintf(stderr, "%s policy resume: say which rule set\n", prog)
			return 2
		case len(args) != 0:
			fmt.Fprintf(stderr, "%s policy %s: unexpected arguments %q\n", prog, action, args)
			return 2
		}
		return act(c, prog, path, asJSON, stdout, stderr)
	}
	msg := fmt.Sprintf("unknown policy action %q", strings.Join(words, " "))
	if near := closest(action, []string{"status", "rollback", "resume", "reload"}); near != "" && near != action {
		msg += fmt.Sprintf(" (did you mean %s?)", near)
	}
	fmt.Fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", prog, msg, prog)
	return 2
}

func printStatus(w io.Writer, st live.Status) {
	fmt.Fprintf(w, "policy version %d (%s, since %s), %d questions evaluated\n", st.Version, st.Reason, st.Since.Format("2006-01-02 15:04:05"), st.Queries)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "rule set\trules\thits\tstate")
	for _, s := range st.Sets {
		state := "in force"
		switch {
		case s.Suspended:
			state = "SUSPENDED"
		case len(s.SuspendedRules) > 0:
			state = "in force, SUSPENDED: " + strings.Join(s.SuspendedRules, " ")
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
		changes := strings.Join(v.Changes, " ")
		if changes == "" {
			changes = "no rule set changed"
		}
		fmt.Fprintf(w, "  %d  %s  %s  %s\n", v.N, v.At.Format("2006-01-02 15:04:05"), v.Reason, changes)
	}
}
