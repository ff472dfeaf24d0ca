package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"warden/internal/config"
)

// command is one subcommand as `warden help`, `warden SUB --help` and its man page describe it.
// Its flags are declared once, in a function that binds them to the fields they fill (serveFlags,
// probeFlagDefs, ...): the parser, the help text and the man page are all made from that list,
// so none of them can drift from the others.
type command struct {
	name    string
	args    string // the arguments after the flags in the synopsis, as "NAME..."; "" for none
	summary string // one line: `warden help` and the man page's NAME
	// about is the description, paragraphs separated by blank lines; the help wraps them.
	about string
	// verbs are the commands a client subcommand (ctl, policy) takes, one entry each.
	verbs []entry
	// flags returns the flag table bound to throwaway variables, for help and man pages; the
	// subcommand binds the same table to its own when it parses.
	flags func() []flagDef
	exit  string // the exit statuses, one sentence each
	run   func(args []string, stdout, stderr io.Writer) int
}

// entry is one line of a two-column list: a verb and what it does.
type entry struct{ name, help string }

// flagDef is one flag: its name (without dashes), the placeholder of its value ("" for a
// boolean), what it does, and where its value goes.
type flagDef struct {
	name   string
	arg    string
	help   string
	value  flag.Value
	repeat bool // may be given more than once, each adding a value
}

// Constructors for the flag table. Each sets the variable to its default, as the flag package's
// StringVar, BoolVar and the like do, so the default shown in the help is the value the command
// starts from.

func stringFlag(p *string, name, arg, def, help string) flagDef {
	*p = def
	return flagDef{name: name, arg: arg, help: help, value: (*stringValue)(p)}
}

func boolFlag(p *bool, name, help string) flagDef {
	*p = false
	return flagDef{name: name, help: help, value: (*boolValue)(p)}
}

func intFlag(p *int, name, arg string, def int, help string) flagDef {
	*p = def
	return flagDef{name: name, arg: arg, help: help, value: (*intValue)(p)}
}

func floatFlag(p *float64, name, arg string, def float64, help string) flagDef {
	*p = def
	return flagDef{name: name, arg: arg, help: help, value: (*floatValue)(p)}
}

func durationFlag(p *time.Duration, name, arg string, def time.Duration, help string) flagDef {
	*p = def
	return flagDef{name: name, arg: arg, help: help, value: (*durationValue)(p)}
}

func listFlagDef(p *listFlag, name, arg, help string) flagDef {
	*p = nil
	return flagDef{name: name, arg: arg, help: help, value: p, repeat: true}
}

type stringValue string

func (v *stringValue) String() string     { return string(*v) }
func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }

type boolValue bool

func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }
func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*v = boolValue(b)
	return nil
}

type intValue int

func (v *intValue) String() string { return strconv.Itoa(int(*v)) }
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("want a whole number")
	}
	*v = intValue(n)
	return nil
}

type floatValue float64

func (v *floatValue) String() string { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }
func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New("want a number")
	}
	*v = floatValue(f)
	return nil
}

type durationValue time.Duration

func (v *durationValue) String() string { return time.Duration(*v).String() }
func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration, as 500ms, 3s or 1m")
	}
	*v = durationValue(d)
	return nil
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// defaultText is the default a flag's help names, "" when its zero value goes without saying.
func (d flagDef) defaultText() string {
	if d.arg == "" || d.repeat {
		return ""
	}
	switch s := d.value.String(); s {
	case "", "0", "0s", "-1": // -1: not given, where 0 has a meaning of its own (--rrl 0 is off)
		return ""
	default:
		return s
	}
}

// usageError is a mistake in the command line: exit status 2, with a pointer to the help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp is what parse returns for --help or -h: the help goes to stdout, and that is success.
var errHelp = flag.ErrHelp

// parse reads c's flags wherever they stand among args and returns the other arguments in their
// order. Every subcommand parses through here, so they all take `--flag value`, `--flag=value`,
// `-flag` alike, repeat repeatable flags, stop at "--", and fail the same way.
func (c *command) parse(defs []flagDef, args []string) ([]string, error) {
	return parseArgs(c.flagSet(defs), args)
}

// flagSet holds defs for parseArgs, and tells afterwards which flags were given (Visit).
func (c *command) flagSet(defs []flagDef) *flag.FlagSet {
	fs := flag.NewFlagSet(c.prog(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, d := range defs {
		fs.Var(d.value, d.name, d.help)
	}
	return fs
}

// fail reports err from parsing or checking c's command line and returns the exit status: the
// help on stdout for --help, else one line naming the mistake and one pointing to the help.
func (c *command) fail(err error, stdout, stderr io.Writer) int {
	if errors.Is(err, errHelp) {
		c.help(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", c.prog(), err)
	fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", c.prog())
	return 2
}

func (c *command) prog() string { return "warden " + c.name }

// help width: the help is read in terminals, most of them 80 columns or more.
const (
	helpWidth  = 80
	helpIndent = 27 // where the second column of flags and verbs starts
)

// flagsNote says how every command reads its flags, under each one's list of them.
const flagsNote = `Flags may stand before or after other arguments, as --flag value or --flag=value, with one dash or two; "--" ends them.`

// help writes c's usage, description, verbs, flags and exit statuses.
func (c *command) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n", c.synopsis())
	for _, p := range paragraphs(c.about) {
		fmt.Fprintln(w, wrap(p, 0, helpWidth))
		fmt.Fprintln(w)
	}
	if len(c.verbs) > 0 {
		fmt.Fprintln(w, "Commands:")
		for _, v := range c.verbs {
			writeItem(w, v.name, v.help)
		}
		fmt.Fprintln(w)
	}
	if defs := c.flags(); len(defs) > 0 {
		fmt.Fprintln(w, "Flags:")
		for _, d := range defs {
			writeItem(w, d.label(), d.fullHelp())
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, wrap(flagsNote, 0, helpWidth))
	}
	fmt.Fprintln(w, "--help (or -h) shows this text.")
	if c.exit != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, wrap("Exit status: "+c.exit, 0, helpWidth))
	}
}

func (c *command) synopsis() string {
	s := c.prog()
	if c.flags != nil && len(c.flags()) > 0 {
		s += " [flags]"
	}
	if c.args != "" {
		s += " " + c.args
	}
	return s
}

// label is how the flag is written in the help: "--listen ADDR".
func (d flagDef) label() string {
	if d.arg == "" {
		return "--" + d.name
	}
	return "--" + d.name + " " + d.arg
}

// fullHelp is the flag's help with its default and whether it repeats.
func (d flagDef) fullHelp() string {
	h := d.help
	if def := d.defaultText(); def != "" {
		h += " (default " + def + ")"
	}
	if d.repeat {
		h += " Repeatable."
	}
	return h
}

// writeItem writes one entry of a two-column list: the name, then its help wrapped in the second
// column, starting on the next line when the name is too long to leave room.
func writeItem(w io.Writer, name, help string) {
	first := "  " + name
	if len(first) > helpIndent-2 {
		fmt.Fprintln(w, first)
		first = ""
	}
	text := wrap(help, helpIndent, helpWidth)
	fmt.Fprintf(w, "%-*s%s\n", helpIndent, first, text[helpIndent:])
}

// paragraphs splits text at blank lines and joins each paragraph's lines into one.
func paragraphs(text string) []string {
	var out []string
	for _, p := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// wrap fills text into lines of at most width columns, every line indented by indent spaces.
// A word longer than a line stands alone on its line.
func wrap(text string, indent, width int) string {
	pad := strings.Repeat(" ", indent)
	var b strings.Builder
	line := pad
	for _, word := range strings.Fields(text) {
		if len(line) > indent && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = pad
		}
		if len(line) > indent {
			line += " "
		}
		line += word
	}
	b.WriteString(line)
	return b.String()
}

// closest returns the candidate a mistyped word most likely meant, or "" when none is near: at
// most two edits away, or a word the candidate starts with (--lis for --listen).
func closest(word string, candidates []string) string {
	if best := config.Closest(word, candidates); best != "" {
		return best
	}
	if len(word) >= 3 {
		sorted := append([]string(nil), candidates...)
		sort.Strings(sorted)
		for _, c := range sorted {
			if strings.HasPrefix(c, word) {
				return c
			}
		}
	}
	return ""
}
