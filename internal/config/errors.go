package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Error is one problem with a configuration, located as precisely as its origin allows: a file,
// line and column for what was read from YAML, the flag for what came from the command line. Load,
// Parse, Validate and ApplyFlags return these, joined with errors.Join when there are several; use
// errors.As to inspect the first.
type Error struct {
	File   string // the config file as named to Parse or Load; empty when the key was not read from a file
	Line   int    // 1-based line in File; 0 when unknown (a default, or a value set in code)
	Column int    // 1-based column; 0 when only the line is meaningful
	Flag   string // the flag and value that set the key, as `--zone "a.=a.zone"`; empty when no flag did
	Key    string // path of the key, as "zones[1].origin"; empty when the problem is not one key's
	Msg    string // what is wrong, written to be read after the key
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Flag != "":
		b.WriteString(e.Flag)
	case e.File != "":
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
			if e.Column > 0 {
				b.WriteString(":" + strconv.Itoa(e.Column))
			}
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// quote quotes a value from the config for a message, clipped so that one absurd value (a
// megabyte-long string) cannot swamp the log that reports it.
func quote(s string) string {
	const max = 80
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + "..."
}

// maxErrors bounds how many problems one load reports: past a screenful, more lines only bury the
// first, which is usually the cause of the rest.
const maxErrors = 50

// limitErrors joins errs, keeping the first maxErrors and counting the rest.
func limitErrors(errs []error, file string) error {
	if len(errs) > maxErrors {
		more := &Error{File: file, Msg: fmt.Sprintf("%d more problems not shown", len(errs)-maxErrors)}
		errs = append(errs[:maxErrors:maxErrors], more)
	}
	return errors.Join(errs...)
}

// location is where a key's value came from. Config keeps one per key path so that Validate, which
// only sees typed values, can still point at the line or flag that set them.
type location struct {
	line, col int
	flag      string // set instead of line and col when a flag set the key
}

// problems gathers the errors of one section. Keys are relative to the section ("udp_payload",
// "[1].origin"); Config.Validate prefixes the section's key and adds the location.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, &Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p problems) err() error { return errors.Join(p...) }

// leaves flattens a tree of joined errors, so that each *Error can be located on its own.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// joinKey appends a relative key to a parent path: "zones"+"[1].origin", "limits"+"udp_payload".
func joinKey(parent, key string) string {
	switch {
	case parent == "":
		return key
	case key == "":
		return parent
	case key[0] == '[':
		return parent + key
	default:
		return parent + "." + key
	}
}

// parentKey strips the last component of a key path: "zones[1].origin" → "zones[1]" → "zones" → "".
func parentKey(key string) string {
	i := strings.LastIndexAny(key, ".[")
	if i < 0 {
		return ""
	}
	return key[:i]
}
