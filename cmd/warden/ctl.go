package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"warden/internal/config"
	"warden/internal/control"
)

func ctlCommand() *command {
	return &command{
		name:    "ctl",
		args:    "COMMAND",
		summary: "control a running server over its socket, or over HTTP with a token",
		about: `Talks to a running server's control interface: its Unix socket (--control), or its HTTP
listener (control.http in the configuration) with the token from control.http.token_file (--url
and --token-file).`,
		verbs: append([]entry{
			{"status", "the server: version, uptime, listeners, zones, policy, rate limiting"},
			{"reload", "re-read the configuration and the zones, as SIGHUP does"},
			{"zone list", "every zone: role, serial, records, state, refresh times"},
			{"zone show ZONE", "one zone in full"},
			{"zone refresh ZONE", "secondary: ask the primary for its serial now, transfer if newer"},
			{"zone retransfer ZONE", "secondary: transfer the whole zone now, whatever the serial"},
			{"zone keys ZONE", "signed zone: its DNSSEC keys, their roles, states and next events"},
			{"zone ds ZONE", "signed zone: the DS records to give its parent"},
			{"zone ds-seen ZONE", "signed zone: the parent holds the new KSK's DS; the KSK rollover goes on"},
			{"nta list", "the negative trust anchors in force: domain, expiry, from the configuration or not"},
			{"nta add DOMAIN [DURATION]", "ignore DNSSEC failures under DOMAIN for DURATION (default 1h, at most a week; RFC 7646)"},
			{"nta remove DOMAIN", "validate DOMAIN again"},
		}, prefixed("policy ", policyVerbs)...),
		flags: func() []flagDef { var o ctlOptions; return ctlFlags(&o) },
		exit:  "0 done, 1 refused or failed, 2 usage error or server not reached.",
		run:   ctlCmd,
	}
}

func prefixed(prefix string, verbs []entry) []entry {
	out := make([]entry, len(verbs))
	for i, v := range verbs {
		out[i] = entry{prefix + v.name, v.help}
	}
	return out
}

// ctlOptions are the flags of `warden ctl`, which may stand anywhere among its words.
type ctlOptions struct {
	socket, url, tokenFile string
	json, force            bool
	socketGiven            bool
}

func ctlFlags(o *ctlOptions) []flagDef {
	return []flagDef{
		stringFlag(&o.socket, "control", "SOCKET", config.Default().Control.Socket, "the server's control socket"),
		stringFlag(&o.url, "url", "URL", "", "the server's control.http address, as http://127.0.0.1:8953"),
		stringFlag(&o.tokenFile, "token-file", "FILE", "", "the file holding the control token (with --url)"),
		boolFlag(&o.json, "json", "print the server's JSON instead of tables"),
		boolFlag(&o.force, "force", "policy reload: put the policy in force even over the check's limit"),
	}
}

// ctlCmd is `warden ctl`, the client of a running server's control interface.
func ctlCmd(args []string, stdout, stderr io.Writer) int {
	const prog = "warden ctl"
	c := ctlCommand()
	opts, words, err := parseCtl(c, args)
	if err == nil && len(words) == 1 && words[0] == "help" {
		err = errHelp
	}
	if err == nil && len(words) == 0 {
		err = usagef("say which command")
	}
	if err == nil && opts.force && (len(words) < 2 || words[0] != "policy" || words[1] != "reload") {
		err = usagef("--force goes only with policy reload")
	}
	if err != nil {
		return c.fail(err, stdout, stderr)
	}
	client, err := opts.client()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 2
	}
	switch cmd := strings.Join(words, " "); {
	case cmd == "status":
		return show(client, prog, "/status", opts.json, stdout, stderr, printServerStatus)
	case cmd == "reload":
		return act(client, prog, "/reload", opts.json, stdout, stderr)
	case cmd == "zone list":
		return show(client, prog, "/zones", opts.json, stdout, stderr, printZoneList)
	case words[0] == "zone" && len(words) == 3 && (words[1] == "keys" || words[1] == "ds" || words[1] == "ds-seen"):
		name, err := control.ZoneName(words[2])
		if err != nil {
			fmt.Fprintf(stderr, "%s zone %s: %v\n", prog, words[1], err)
			return 2
		}
		switch words[1] {
		case "keys":
			return show(client, prog, control.ZonePath(name)+"/keys", opts.json, stdout, stderr, printKeys)
		case "ds-seen":
			return act(client, prog, control.ZonePath(name)+"/ds-seen", opts.json, stdout, stderr)
		}
		return show(client, prog, control.ZonePath(name)+"/ds", opts.json, stdout, stderr, printDS)
	case words[0] == "zone" && len(words) == 3 && (words[1] == "show" || words[1] == "refresh" || words[1] == "retransfer"):
		name, err := control.ZoneName(words[2])
		if err != nil {
			fmt.Fprintf(stderr, "%s zone %s: %v\n", prog, words[1], err)
			return 2
		}
		path := control.ZonePath(name)
		if words[1] == "show" {
			return show(client, prog, path, opts.json, stdout, stderr, printZone)
		}
		return act(client, prog, path+"/"+words[1], opts.json, stdout, stderr)
	case cmd == "nta list":
		return show(client, prog, "/nta", opts.json, stdout, stderr, printNTAs)
	case words[0] == "nta" && len(words) >= 3 && len(words) <= 4 && words[1] == "add":
		path := control.NTAPath(words[2])
		if len(words) == 4 {
			if d, err := time.ParseDuration(words[3]); err != nil || d <= 0 {
				fmt.Fprintf(stderr, "%s nta add: %q is not a duration such as 2h\n", prog, words[3])
				return 2
			}
			path += "?for=" + words[3]
		}
		return act(client, prog, path, opts.json, stdout, stderr)
	case words[0] == "nta" && len(words) == 3 && words[1] == "remove":
		return remove(client, prog, control.NTAPath(words[2]), opts.json, stdout, stderr)
	case words[0] == "policy" && len(words) > 1:
		return runPolicy(client, prog, words[1:], opts.force, opts.json, stdout, stderr)
	}
	return c.fail(unknownVerb(c, words), stdout, stderr)
}

// unknownVerb names a command line c does not know, and the verb it most likely stands for.
func unknownVerb(c *command, words []string) error {
	cmd := strings.Join(words, " ")
	var names []string
	for _, v := range c.verbs {
		// Compare with the verb's words, not its placeholders: "zone show", not "zone show ZONE".
		var fixed []string
		for _, w := range strings.Fields(v.name) {
			if w != strings.ToUpper(w) {
				fixed = append(fixed, w)
			}
		}
		names = append(names, strings.Join(fixed, " "))
	}
	if near := closest(cmd, names); near != "" && near != cmd {
		return usagef("unknown command %q (did you mean %s?)", cmd, near)
	}
	return usagef("unknown command %q", cmd)
}

// parseCtl reads the flags wherever they stand, so `warden ctl zone list --json` works as
// `warden ctl --json zone list` does, and returns the command's words.
func parseCtl(c *command, args []string) (ctlOptions, []string, error) {
	var o ctlOptions
	fs := c.flagSet(ctlFlags(&o))
	words, err := parseArgs(fs, args)
	if err != nil {
		return o, nil, err
	}
	fs.Visit(func(f *flag.Flag) { o.socketGiven = o.socketGiven || f.Name == "control" })
	return o, words, nil
}

// client is the control client the flags ask for: HTTP with a token, or the socket.
func (o ctlOptions) client() (*control.Client, error) {
	switch {
	case o.url != "" && o.socketGiven:
		return nil, errors.New("give --control or --url, not both")
	case o.url != "" && o.tokenFile == "":
		return nil, errors.New("--url needs --token-file, the file control.http.token_file names")
	case o.url == "" && o.tokenFile != "":
		return nil, errors.New("--token-file goes with --url; the socket needs no token")
	case o.url == "":
		return control.NewClient(o.socket), nil
	}
	token, err := config.ReadToken(o.tokenFile)
	if err != nil {
		return nil, fmt.Errorf("--token-file: %w", err)
	}
	return control.NewHTTPClient(o.url, token)
}

// failed reports err and returns the exit status for it: 2 when the server was not reached,
// 1 when it refused or failed.
func failed(prog string, err error, stderr io.Writer) int {
	fmt.Fprintf(stderr, "%s: %v\n", prog, err)
	if control.IsUnreachable(err) {
		return 2
	}
	return 1
}

// show GETs path and prints the reply with print, or as the server's JSON.
func show[T any](c *control.Client, prog, path string, asJSON bool, stdout, stderr io.Writer, print func(io.Writer, T, time.Time)) int {
	if asJSON {
		var raw json.RawMessage
		if err := c.Do(http.MethodGet, path, &raw); err != nil {
			return failed(prog, err, stderr)
		}
		return printJSON(stdout, raw)
	}
	var v T
	if err := c.Do(http.MethodGet, path, &v); err != nil {
		return failed(prog, err, stderr)
	}
	print(stdout, v, time.Now())
	return 0
}

// act POSTs path and prints what the server says it did, with the report of a policy check.
func act(c *control.Client, prog, path string, asJSON bool, stdout, stderr io.Writer) int {
	var done control.Done
	err := c.Do(http.MethodPost, path, &done)
	switch {
	case asJSON && err == nil:
		data, _ := json.Marshal(done)
		return printJSON(stdout, data)
	case done.Report != "":
		// A refused policy reload says why in its report.
		fmt.Fprint(stdout, done.Report)
	}
	if err != nil {
		return failed(prog, err, stderr)
	}
	fmt.Fprintln(stdout, done.Message)
	return 0
}

// remove DELETEs path and prints what the server says it did.
func remove(c *control.Client, prog, path string, asJSON bool, stdout, stderr io.Writer) int {
	var done control.Done
	if err := c.Do(http.MethodDelete, path, &done); err != nil {
		return failed(prog, err, stderr)
	}
	if asJSON {
		data, _ := json.Marshal(done)
		return printJSON(stdout, data)
	}
	fmt.Fprintln(stdout, done.Message)
	return 0
}

func printNTAs(w io.Writer, l control.NTAList, now time.Time) {
	if len(l.Anchors) == 0 {
		fmt.Fprintln(w, "no negative trust anchors")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tEXPIRES\tIN\tFROM")
	for _, a := range l.Anchors {
		from := "ctl"
		if a.FromConfig {
			from = "configuration"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Domain, a.Expiry.UTC().Format(time.RFC3339), a.Expiry.Sub(now).Round(time.Minute), from)
	}
	tw.Flush()
}

// printJSON prints the server's JSON indented; what does not parse is printed as it came.
func printJSON(w io.Writer, data []byte) int {
	var b bytes.Buffer
	if err := json.Indent(&b, data, "", "  "); err != nil {
		b.Reset()
		b.Write(data)
	}
	b.WriteByte('\n')
	w.Write(b.Bytes())
	return 0
}

func printServerStatus(w io.Writer, st control.Status, now time.Time) {
	up := time.Duration(st.UptimeSeconds) * time.Second
	fmt.Fprintf(w, "warden %s, up %s (since %s)\n", st.Version, span(up), stamp(st.Started))
	fmt.Fprintf(w, "listening on %s\n", strings.Join(st.Listeners, ", "))
	if z := st.Zones; z != nil {
		fmt.Fprintf(w, "zones: %d (%d primary, %d secondary)", z.Total, z.Primary, z.Secondary)
		var trouble []string
		for _, t := range []struct {
			n    int
			what string
		}{{z.NotLoaded, "not loaded"}, {z.Expired, "expired"}, {z.Failing, "failing"}} {
			if t.n > 0 {
				trouble = append(trouble, fmt.Sprintf("%d %s", t.n, t.what))
			}
		}
		if len(trouble) > 0 {
			fmt.Fprintf(w, "; %s", strings.Join(trouble, ", "))
		}
		fmt.Fprintln(w)
		for _, e := range st.ZoneErrors {
			served := "not served"
			if e.Loaded {
				served = fmt.Sprintf("serial %d in force", e.Serial)
			}
			if !e.Since.IsZero() {
				served += "; failing since " + stamp(e.Since) + " (" + ago(e.Since, now) + ")"
			}
			fmt.Fprintf(w, "zone %s: %s; last error: %s\n", e.Zone, served, e.Error)
		}
	} else {
		fmt.Fprintln(w, "zones: this server has no zone manager")
	}
	if p := st.Policy; p != nil {
		fmt.Fprintf(w, "policy: version %d (%s, since %s), %d rule sets", p.Version, p.Reason, stamp(p.Since), p.Sets)
		if p.Suspended > 0 {
			fmt.Fprintf(w, ", %d SUSPENDED", p.Suspended)
		}
		if p.SuspendedRules > 0 {
			fmt.Fprintf(w, ", %d rules SUSPENDED", p.SuspendedRules)
		}
		fmt.Fprintln(w)
		for _, a := range p.Alarms {
			fmt.Fprintf(w, "ALARM: %s\n", a)
		}
	} else {
		fmt.Fprintln(w, "policy: this server has no policy guard")
	}
	if len(st.Problems) == 0 {
		fmt.Fprintln(w, "problems: none")
	} else {
		fmt.Fprintf(w, "problems: %d\n", len(st.Problems))
		for _, p := range st.Problems {
			fmt.Fprintf(w, "PROBLEM: %s %s: failing since %s (%s), %s: %s\n", p.Kind, p.Subject, stamp(p.Since), ago(p.Since, now), failures(p.Failures), p.LastError)
		}
	}
	if r := st.RateLimit; r != nil {
		mode := ""
		if r.LogOnly {
			mode = ", LOG ONLY"
		}
		fmt.Fprintf(w, "rate limiting: %d a second per key, slip %d%s; %d dropped, %d slipped (TC=1), %d would be limited (log only); table %d of %d keys\n",
			r.Rate, r.Slip, mode, r.Dropped, r.Slipped, r.WouldLimit, r.Entries, r.Capacity)
	} else {
		fmt.Fprintln(w, "rate limiting: off")
	}
	if in := st.Injections; in != nil {
		fmt.Fprintf(w, "injected replies detected (Hold-On): %d\n", in.Total)
		for _, c := range in.Servers {
			fmt.Fprintf(w, "  from server %s: %d\n", c.Key, c.Count)
		}
		for _, c := range in.Names {
			fmt.Fprintf(w, "  for name %s: %d\n", c.Key, c.Count)
		}
	}
}

func printZoneList(w io.Writer, list control.ZoneList, now time.Time) {
	if len(list.Zones) == 0 {
		fmt.Fprintln(w, "no zones")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "zone\trole\tserial\trecords\tstate\trefreshed\tnext\tsource")
	for _, z := range list.Zones {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", z.Zone, z.Role, z.Serial, z.Records, zoneState(z), ago(z.LastRefresh, now), ago(z.NextRefresh, now), z.Source)
	}
	tw.Flush()
	for _, z := range list.Zones {
		if z.LastError != "" {
			fmt.Fprintf(w, "%s: %s\n", z.Zone, z.LastError)
		}
	}
}

func printZone(w io.Writer, z control.ZoneStatus, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("zone", z.Zone)
	row("role", z.Role)
	row("source", z.Source)
	if z.Catalog != "" {
		row("catalog", z.Catalog)
	}
	row("state", zoneState(z))
	row("serial", fmt.Sprint(z.Serial))
	row("records", fmt.Sprint(z.Records))
	for _, t := range []struct {
		k string
		t time.Time
	}{{"last refresh", z.LastRefresh}, {"next refresh", z.NextRefresh}, {"expires", z.ExpiresAt}} {
		if !t.t.IsZero() {
			row(t.k, stamp(t.t)+" ("+ago(t.t, now)+")")
		}
	}
	if z.JournalFrom != 0 {
		row("journal", fmt.Sprintf("from serial %d", z.JournalFrom))
	}
	if z.LastError != "" {
		row("last error", z.LastError)
		if !z.ErrorSince.IsZero() {
			row("since", stamp(z.ErrorSince)+" ("+ago(z.ErrorSince, now)+"), "+failures(z.Failures))
		}
		row("served", servedDespite(z))
	}
	if z.Signed {
		row("dnssec", fmt.Sprintf("signed here, from serial %d", z.UnsignedSerial))
		if !z.SignaturesRefresh.IsZero() {
			row("signatures", "first expires "+stamp(z.SignaturesExpire)+"; refreshed "+stamp(z.SignaturesRefresh)+" ("+ago(z.SignaturesRefresh, now)+")")
		}
		if z.SigningError != "" {
			since := ""
			if !z.SigningErrorSince.IsZero() {
				since = ", failing since " + stamp(z.SigningErrorSince) + " (" + ago(z.SigningErrorSince, now) + ")"
			}
			row("signing error", z.SigningError+" (the last signed version keeps serving"+since+")")
		}
	}
	tw.Flush()
}

func printKeys(w io.Writer, list control.KeyList, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "tag\talgorithm\trole\tstate\tcreated\tnext event")
	for _, k := range list.Keys {
		next := "none"
		switch {
		case k.NextEvent != "" && k.NextEventAt.IsZero():
			next = k.NextEvent
		case k.NextEvent != "":
			next = k.NextEvent + " at " + stamp(k.NextEventAt) + " (" + ago(k.NextEventAt, now) + ")"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\n", k.Tag, k.Algorithm, k.Role, k.State, stamp(k.Created), next)
	}
	tw.Flush()
}

func printDS(w io.Writer, list control.DSList, _ time.Time) {
	for _, ds := range list.DS {
		fmt.Fprintln(w, ds)
	}
}

// servedDespite says what a failing zone serves: the last good version, or nothing.
func servedDespite(z control.ZoneStatus) string {
	switch {
	case z.Expired:
		return "nothing: the copy expired (SERVFAIL)"
	case !z.Loaded:
		return "nothing: no version has loaded (SERVFAIL)"
	}
	return fmt.Sprintf("serial %d, the last good version", z.Serial)
}

func failures(n int) string {
	if n == 1 {
		return "1 failure"
	}
	return fmt.Sprintf("%d failures", n)
}

// zoneState sums a zone's state up in one word, in capitals when it is not served.
func zoneState(z control.ZoneStatus) string {
	switch {
	case z.Expired:
		return "EXPIRED"
	case !z.Loaded:
		return "NOT LOADED"
	case z.LastError != "":
		return "failing"
	}
	return "ok"
}

func stamp(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05 MST") }

// ago says when t is from now, coarsely: "5m ago", "in 2h10m"; "-" for the zero time.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now)
	if d < 0 {
		return span(-d) + " ago"
	}
	return "in " + span(d)
}

// span writes d in its two largest units at most, rounded to the smaller.
func span(d time.Duration) string {
	r := func(unit time.Duration) int { return int(math.Round(float64(d) / float64(unit))) }
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", r(time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", r(time.Minute))
	case d < 48*time.Hour:
		m := r(time.Minute)
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
	h := r(time.Hour)
	if h%24 == 0 {
		return fmt.Sprintf("%dd", h/24)
	}
	return fmt.Sprintf("%dd%02dh", h/24, h%24)
}
