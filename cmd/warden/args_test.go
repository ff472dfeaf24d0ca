package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestParseArgs: flags stand anywhere among the arguments, "--" ends them, and errors are the
// flag package's.
func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args    string
		control string
		force   bool
		rest    string
		err     string
	}{
		{args: "resume rpz.push. --control /run/w.sock", control: "/run/w.sock", rest: "resume rpz.push."},
		{args: "--control /run/w.sock resume rpz.push.", control: "/run/w.sock", rest: "resume rpz.push."},
		{args: "reload --force --control=/x", control: "/x", force: true, rest: "reload"},
		{args: "reload --force=false -control /x", control: "/x", rest: "reload"},
		{args: "resume -- --control /x", control: "default", rest: "resume --control /x"},
		{args: "--control -- resume", control: "--", rest: "resume"},
		{args: "status - --force", control: "default", force: true, rest: "status -"},
		{args: "status --verbose", err: "unknown flag --verbose"},
		{args: "status --forc", err: "unknown flag --forc (did you mean --force?)"},
		{args: "status --contr /x", err: "unknown flag --contr (did you mean --control?)"},
		{args: "status ---force", err: "bad flag syntax: ---force"},
		{args: "status --force=maybe", err: `--force "maybe": want true or false`},
		{args: "status --help", err: "flag: help requested"},
		{args: "status -h --nonsense", err: "flag: help requested"},
		{args: "status --control", err: "--control needs a value"},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var control string
		var force bool
		fs.Var((*stringValue)(&control), "control", "")
		fs.Var((*boolValue)(&force), "force", "")
		control = "default"
		rest, err := parseArgs(fs, strings.Fields(tc.args))
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || control != tc.control || force != tc.force || !slices.Equal(rest, strings.Fields(tc.rest)) {
			t.Errorf("%q: control %q force %v rest %q err %v; want %q %v %q", tc.args, control, force, rest, err, tc.control, tc.force, tc.rest)
		}
	}
}

// TestSubcommandsTakeFlagsAfterArguments: every subcommand reads a flag after its arguments.
func TestSubcommandsTakeFlagsAfterArguments(t *testing.T) {
	socket := "/nonexistent/warden.sock"
	for _, args := range [][]string{
		{"policy", "resume", "rpz.push.", "--control", socket},
		{"policy", "status", "--control", socket},
		{"ctl", "policy", "status", "--control", socket},
	} {
		var out, errb strings.Builder
		code := run(args, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "cannot reach warden at "+socket) {
			t.Errorf("%q: exit %d: %s", args, code, errb.String())
		}
	}
	var out, errb strings.Builder
	if code := run([]string{"check", "extra", "--listen", "127.0.0.1:5300"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unexpected argument "extra"`) {
		t.Errorf("check with an argument: exit %d: %s", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"check", "--no-recursion", "--listen", "127.0.0.1:5300"}, &out, &errb); code != 0 {
		t.Errorf("check: exit %d: %s", code, errb.String())
	}
}
