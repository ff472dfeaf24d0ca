package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"warden/internal/querylog"
)

func logCommand() *command {
	return &command{
		name:    "log",
		summary: "search the query log: the answers a server sent, newest first",
		about: `Searches the query log a server writes (--query-log DIR, or query_log.dir in its
configuration) for the answers to a name, to a client, or since a time, and prints them newest
first: time, client, name, type, rcode, the stage that answered (authority, cache, resolver,
forward, policy, local), latency in microseconds, and the policy rule set and rule where one
answered. It reads the files while the server writes them; an answer is there within two seconds.

A name matches with or without its final dot and in any case. --json prints one JSON object a
line with the fields time, client, name, qtype, rcode, source, latency_us, transport, and
policy_set, policy_rule and upstream where they apply. The files are Parquet: DuckDB, ClickHouse
and pandas read them too (for instance SELECT * FROM 'DIR/q-*.parquet' in DuckDB).`,
		flags: func() []flagDef { var o logOptions; return logFlags(&o) },
		exit:  "0 searched (whether or not anything matched), 1 the log could not be read, 2 usage error.",
		run:   logCmd,
	}
}

type logOptions struct {
	dir, name, client, since string
	limit                    int
	json                     bool
}

func logFlags(o *logOptions) []flagDef {
	return []flagDef{
		stringFlag(&o.dir, "query-log", "DIR", "", "the query log's directory (required)"),
		stringFlag(&o.name, "name", "NAME", "", "only answers to this name (final dot optional)"),
		stringFlag(&o.client, "client", "ADDR", "", "only answers to this client IP address"),
		stringFlag(&o.since, "since", "DURATION", "", "only answers of the last DURATION, as 90s, 15m or 2h"),
		intFlag(&o.limit, "limit", "N", querylog.DefaultLimit, "print at most N answers, the newest"),
		boolFlag(&o.json, "json", "one JSON object a line instead of a table"),
	}
}

func logCmd(args []string, stdout, stderr io.Writer) int {
	c := logCommand()
	var o logOptions
	rest, err := c.parse(logFlags(&o), args)
	if err == nil && len(rest) > 0 {
		err = usagef("unexpected argument %q", rest[0])
	}
	if err == nil && o.dir == "" {
		err = usagef("--query-log DIR is required: the directory the server writes its query log to")
	}
	var f querylog.Filter
	if err == nil {
		f, err = querylog.ParseFilter(o.name, o.client, o.since, strconv.Itoa(o.limit), time.Now())
		if err != nil {
			err = usagef("--%v", err)
		}
	}
	if err != nil {
		return c.fail(err, stdout, stderr)
	}
	rows, err := querylog.Search(o.dir, f)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", c.prog(), err)
		return 1
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", c.prog(), err)
				return 1
			}
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCLIENT\tNAME\tTYPE\tRCODE\tSOURCE\tµs\tTRANSPORT\tPOLICY")
	for _, r := range rows {
		policy := ""
		if r.PolicySet != "" {
			policy = r.PolicySet + " " + r.PolicyRule
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Time.Local().Format("2006-01-02 15:04:05.000000"),
			r.Client, r.Name, r.QType, r.Rcode, r.Source, r.LatencyUS, r.Transport, strings.TrimSpace(policy))
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", c.prog(), err)
		return 1
	}
	return 0
}
