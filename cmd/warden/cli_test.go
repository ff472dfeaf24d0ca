package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// runArgs runs warden with args and returns its exit status and output.
func runArgs(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestHelpListsEveryCommand: `warden help` (and --help, -h) names every subcommand at the start
// of a line, with its one-line summary.
func TestHelpListsEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, errOut := runArgs(args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
		}
		var listed []string
		for _, line := range strings.Split(out, "\n") {
			if m := regexp.MustCompile(`^  ([a-z]+) +(\S.*)$`).FindStringSubmatch(line); m != nil {
				listed = append(listed, m[1])
			}
		}
		want := []string{"serve", "check", "zone", "ctl", "policy", "probe", "log", "lab", "version", "help"}
		if !slices.Equal(listed, want) {
			t.Errorf("%v lists %v, want %v:\n%s", args, listed, want, out)
		}
	}
}

// TestSubcommandHelp: `warden SUB --help`, `-h` and `warden help SUB` exit 0 and print the
// usage and every flag of SUB's table to stdout, nothing to stderr.
func TestSubcommandHelp(t *testing.T) {
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}, {c.name, "-help"}} {
			code, out, errOut := runArgs(args...)
			if code != 0 || errOut != "" || !strings.HasPrefix(out, "Usage: warden "+c.name) {
				t.Errorf("%v: exit %d, stderr %q, stdout %.80q", args, code, errOut, out)
				continue
			}
			for _, d := range c.flags() {
				if !strings.Contains(out, "\n  "+d.label()) {
					t.Errorf("%v does not list %s:\n%s", args, d.label(), out)
				}
			}
		}
	}
	// Flags after other arguments count: help wins over the missing command.
	if code, out, _ := runArgs("ctl", "zone", "show", "--help"); code != 0 || !strings.Contains(out, "zone retransfer ZONE") {
		t.Errorf("ctl zone show --help: exit %d: %s", code, out)
	}
}

// TestUsageErrors: an unknown or misspelt flag or command, a flag without its value, a bad value
// or a stray argument exit 2 with one line saying what is wrong (and what was likely meant) and
// one pointing to the help; never the whole usage.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--lisen", "127.0.0.1:53"}, "warden serve: unknown flag --lisen (did you mean --listen?)"},
		{[]string{"serve", "--lisen=127.0.0.1:53"}, "warden serve: unknown flag --lisen (did you mean --listen?)"},
		{[]string{"check", "--confg", "x.yaml"}, "warden check: unknown flag --confg (did you mean --config?)"},
		{[]string{"check", "--max-chnage", "5"}, "warden check: unknown flag --max-chnage (did you mean --max-change?)"},
		{[]string{"serve", "--corpus", "names"}, "warden serve: unknown flag --corpus"},
		{[]string{"check", "--blocklst", "a.txt"}, "warden check: unknown flag --blocklst (did you mean --blocklist?)"},
		{[]string{"probe", "--resolvr", "127.0.0.1", "x.test"}, "warden probe: unknown flag --resolvr (did you mean --resolver?)"},
		{[]string{"lab", "--prot", "5353"}, "warden lab: unknown flag --prot (did you mean --port?)"},
		{[]string{"ctl", "--jsn", "status"}, "warden ctl: unknown flag --jsn (did you mean --json?)"},
		{[]string{"policy", "status", "--contrl", "/x"}, "warden policy: unknown flag --contrl (did you mean --control?)"},
		{[]string{"help", "--mna"}, "warden help: unknown flag --mna (did you mean --man?)"},
		{[]string{"version", "--verbose"}, "warden version: unknown flag --verbose"},
		{[]string{"check", "--config"}, "warden check: --config needs a value"},
		{[]string{"check", "--max-change", "lots"}, `warden check: --max-change "lots": want a number`},
		{[]string{"lab", "--port=x"}, `warden lab: --port "x": want a whole number`},
		{[]string{"probe", "--wait", "soon", "x.test"}, `warden probe: --wait "soon": want a duration, as 500ms, 3s or 1m`},
		{[]string{"check", "--no-recursion=maybe"}, `warden check: --no-recursion "maybe": want true or false`},
		{[]string{"serve", "extra"}, `warden serve: unexpected argument "extra"`},
		{[]string{"version", "extra"}, `warden version: unexpected argument "extra"`},
		{[]string{"policy"}, "warden policy: say status, rollback, resume SET or reload"},
		{[]string{"policy", "rolback", "--control", "/nonexistent"}, `warden policy: unknown policy action "rolback" (did you mean rollback?)`},
		{[]string{"ctl", "stauts"}, `warden ctl: unknown command "stauts" (did you mean status?)`},
	} {
		code, out, errOut := runArgs(tc.args...)
		prog := "warden " + tc.args[0]
		if strings.HasPrefix(tc.args[0], "-") {
			prog = "warden serve"
		}
		want := tc.want + "\nRun '" + prog + " --help' for usage.\n"
		if code != 2 || errOut != want || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr\n%s\nwant 2 and\n%s", tc.args, code, out, errOut, want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"chek"}, `warden: unknown command "chek" (did you mean check?)`},
		{[]string{"prob", "x.test"}, `warden: unknown command "prob" (did you mean probe?)`},
		{[]string{"frobnicate"}, `warden: unknown command "frobnicate"`},
	} {
		code, _, errOut := runArgs(tc.args...)
		if want := tc.want + "\nRun 'warden help' for the list of commands.\n"; code != 2 || errOut != want {
			t.Errorf("%v: exit %d, stderr\n%s\nwant 2 and\n%s", tc.args, code, errOut, want)
		}
	}
	if code, _, errOut := runArgs("help", "chek"); code != 2 || !strings.HasPrefix(errOut, `warden help: unknown command "chek" (did you mean check?)`) {
		t.Errorf("help chek: exit %d: %s", code, errOut)
	}
}

// TestOneParser: serve and check read flags as every subcommand does: anywhere among the
// arguments, --flag value, --flag=value, -flag, repeated, and "--" ends them.
func TestOneParser(t *testing.T) {
	c := checkCommand()
	f, err := parseFlags(c, []string{"--listen", "127.0.0.1:5300", "-listen=127.0.0.1:5301", "--zone=a.=a.zone",
		"-zone", "b.=b.zone", "--no-recursion", "--max-change=2.5", "-force=false", "--config", "w.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.listen, []string{"127.0.0.1:5300", "127.0.0.1:5301"}) || !slices.Equal(f.zones, []string{"a.=a.zone", "b.=b.zone"}) ||
		!f.noRecursion || f.maxChange != 2.5 || f.force || f.config != "w.yaml" {
		t.Errorf("parsed %+v", f)
	}
	if f, err := parseFlags(c, nil); err != nil || f.maxChange != 1 || f.listen != nil {
		t.Errorf("defaults: %+v, %v", f, err)
	}
	if _, err := parseFlags(c, []string{"--", "--listen"}); err == nil || err.Error() != `unexpected argument "--listen"` {
		t.Errorf(`after "--": %v`, err)
	}
	// The same forms work for a client subcommand, flags after its arguments.
	p := probeCommand()
	pf, err := parseProbe(p, []string{"a.test", "--resolver=127.0.0.1", "-resolver", "127.0.0.2", "b.test", "--json", "--max-hops=3"})
	if err != nil || !slices.Equal(pf.resolvers, []string{"127.0.0.1", "127.0.0.2"}) || !pf.json || pf.maxHops != 3 ||
		!slices.Equal(pf.args, []string{"a.test", "b.test"}) {
		t.Errorf("probe parsed %+v, %v", pf, err)
	}
}

// TestVersion: `warden version` and `warden --version` print the version, the revision (or why
// there is none) and the Go version.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		code, out, errOut := runArgs(args...)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "warden ") || !strings.Contains(out, "\nrevision ") ||
			!strings.Contains(out, "built with go") {
			t.Errorf("%v: exit %d, stderr %q, stdout\n%s", args, code, errOut, out)
		}
	}
	for _, tc := range []struct {
		b    build
		want string
	}{
		{build{version: "(devel)", goVersion: "go1.24.1"}, "warden (devel)\nrevision unknown (built without -buildvcs)\nbuilt with go1.24.1 for "},
		{build{version: "v0.0.0-20250102030405-0123456789ab", revision: "0123456789abcdef", time: "2025-01-02T03:04:05Z", goVersion: "go1.24.1"},
			"warden v0.0.0-20250102030405-0123456789ab\nrevision 0123456789abcdef, committed 2025-01-02T03:04:05Z\nbuilt with go1.24.1 for "},
		{build{version: "v1.2.0+dirty", revision: "0123456789abcdef", modified: true, goVersion: "go1.24.1"},
			"warden v1.2.0+dirty\nrevision 0123456789abcdef, with uncommitted changes\nbuilt with go1.24.1 for "},
	} {
		if got := tc.b.String(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%+v:\n%s\nwant it to start\n%s", tc.b, got, tc.want)
		}
	}
}

// TestManPages: `warden help --man [SUB]` writes a man(7) page with the usual sections and one
// .TP per flag, from the same table as the help; groff, when installed, reads it without a
// warning and renders every flag.
func TestManPages(t *testing.T) {
	groff, _ := exec.LookPath("groff")
	pages := map[string]*command{"": nil}
	for _, c := range commands() {
		pages[c.name] = c
	}
	for name, c := range pages {
		args := []string{"help", "--man"}
		title := "WARDEN"
		if name != "" {
			args = append(args, name)
			title += `\-` + strings.ToUpper(name)
		}
		code, page, errOut := runArgs(args...)
		if code != 0 || errOut != "" {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
			continue
		}
		for _, want := range []string{".TH " + title + " 1 ", "\n.SH NAME\n", "\n.SH SYNOPSIS\n", "\n.SH DESCRIPTION\n",
			"\n.SH OPTIONS\n", "\n.SH EXIT STATUS\n", "\n.SH SEE ALSO\n"} {
			if !strings.Contains(page, want) {
				t.Errorf("%v: no %q in\n%s", args, want, page)
			}
		}
		var flags []flagDef
		if c != nil {
			flags = c.flags()
		}
		for _, d := range flags {
			if !strings.Contains(page, ".TP\n\\fB\\-\\-"+roff(d.name)+"\\fR") {
				t.Errorf("%v: no .TP entry for --%s", args, d.name)
			}
		}
		for _, line := range strings.Split(page, "\n") {
			if strings.HasPrefix(line, ".") && !regexp.MustCompile(`^\.(\\"|TH|SH|PP|TP|B|BR|br) ?`).MatchString(line) {
				t.Errorf("%v: unexpected request %q", args, line)
			}
		}
		if groff == "" {
			continue
		}
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww")
		cmd.Stdin = strings.NewReader(page)
		var text, warnings bytes.Buffer
		cmd.Stdout, cmd.Stderr = &text, &warnings
		if err := cmd.Run(); err != nil || warnings.Len() > 0 {
			t.Errorf("groff %v: %v: %s", args, err, warnings.String())
		}
		// groff marks bold and italics with backspaces; without them the page reads as text.
		plain := regexp.MustCompile(".\b").ReplaceAllString(text.String(), "")
		for _, d := range flags {
			if !strings.Contains(plain, "--"+d.name) {
				t.Errorf("groff %v: --%s not in the rendered page", args, d.name)
			}
		}
	}
	if groff == "" {
		t.Log("groff not installed: checked the pages' structure only")
	}
}

// TestManScript: dist/man.sh names the same commands `warden help` lists (it reads them from
// there), so a new command gets its page without editing the script.
func TestManScript(t *testing.T) {
	script, err := filepath.Abs("../../dist/man.sh")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	// A stand-in for the binary, so that the test needs no build: it answers `warden help` with
	// what run answers, and `warden help --man SUB` with one line naming the page.
	_, overview, _ := runArgs("help")
	fake := filepath.Join(dir, "warden")
	text := "#!/bin/sh\nif [ \"$1 $2\" = 'help --man' ]; then echo \"page $3\"; exit 0; fi\ncat <<'END'\n" + overview + "END\n"
	if err := os.WriteFile(fake, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "man")
	if msg, err := exec.Command(sh, script, out, fake).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, msg)
	}
	want := map[string]string{"warden.1": "page \n"}
	for _, c := range commands() {
		want["warden-"+c.name+".1"] = "page " + c.name + "\n"
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Errorf("%d files written, want %d", len(entries), len(want))
	}
	for name, text := range want {
		if got, err := os.ReadFile(filepath.Join(out, name)); err != nil || string(got) != text {
			t.Errorf("%s: %q, %v; want %q", name, got, err, text)
		}
	}
}
