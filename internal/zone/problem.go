package zone

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"codeberg.org/miekg/dns"
)

// Problem is one finding of the zone checks, located by file and line where the line is known.
// Every problem of a zone load, the parser's and the checks' alike, is one of these, so that all
// read "file:line: what" and editors can jump to them.
type Problem struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

func (p Problem) Error() string {
	switch {
	case p.File == "" && p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	case p.File == "":
		return p.Msg
	case p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Msg)
}

// parseErrorText is how the master-file parser's errors read: an optional file (the zone file or
// the $INCLUDEd one), its message, the offending token quoted, and line:column. The parser keeps
// these fields to itself, so they are read back from the text.
var parseErrorText = regexp.MustCompile(`^(?:(.*?): )?dns: (.*): ("(?:[^"\\]|\\.)*") at line: (\d+):\d+$`)

// parseProblem turns the parser's error into a Problem in the zone checks' format, keeping its
// detail: `dns: bad A A: "192.0.2.300" at line: 6:17` becomes `bad A record "192.0.2.300"` at
// line 6 of the file it was found in. An error of another shape keeps its text, under name.
func parseProblem(name string, err error) Problem {
	m := parseErrorText.FindStringSubmatch(err.Error())
	if m == nil {
		msg := strings.TrimPrefix(err.Error(), name+": ")
		return Problem{File: name, Msg: strings.TrimPrefix(msg, "dns: ")}
	}
	file, what, token := m[1], m[2], m[3]
	if file == "" {
		file = name
	}
	line, _ := strconv.Atoi(m[4])
	msg := parserMessage(what)
	if token != `""` {
		msg += " " + token
	}
	if strings.HasPrefix(what, "$INCLUDE directive not allowed") {
		msg += " (only files in the zone file's directory or below it)"
	}
	return Problem{File: file, Line: line, Msg: msg}
}

// parserMessage rewords the parser's "bad TYPE Field" messages: "bad A A" is a bad A record,
// "bad MX Pref" a bad MX record's Pref field. Other messages stand as they are.
func parserMessage(what string) string {
	f := strings.Fields(what)
	if len(f) != 3 || f[0] != "bad" {
		return what
	}
	if _, isType := dns.StringToType[f[1]]; !isType {
		return what
	}
	if f[2] == f[1] {
		return "bad " + f[1] + " record"
	}
	return "bad " + f[1] + " record: " + f[2]
}
