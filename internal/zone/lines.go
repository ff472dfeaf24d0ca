package zone

import (
	"bufio"
	"bytes"
	"strings"

	"codeberg.org/miekg/dns"
)

// lineIndex maps (owner, type) to the lines of the file that hold such records, so that the
// checks run after parsing can still point at a line. The parser does not report lines of good
// records; this index reads the file a second time with a much simpler lexer (owner, optional TTL
// and class, type) that is right for the usual one-record-per-line layout and silent otherwise.
type lineIndex map[lineKey][]int

type lineKey struct {
	owner string
	typ   uint16
}

func indexLines(data []byte, origin string) lineIndex {
	idx := make(lineIndex)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	owner := origin
	line := 0
	depth := 0 // inside ( ... ) continuation lines
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, ';'); i >= 0 {
			text = text[:i]
		}
		wasInside := depth > 0
		depth += strings.Count(text, "(") - strings.Count(text, ")")
		if wasInside || strings.TrimSpace(text) == "" {
			continue
		}
		fields := strings.Fields(text)
		if strings.HasPrefix(fields[0], "$") {
			if strings.EqualFold(fields[0], "$ORIGIN") && len(fields) > 1 {
				origin = absolute(fields[1], origin)
			}
			continue
		}
		if text[0] != ' ' && text[0] != '\t' {
			owner = absolute(fields[0], origin)
			fields = fields[1:]
		}
		for _, f := range fields {
			if t, ok := dns.StringToType[strings.ToUpper(f)]; ok {
				k := lineKey{owner, t}
				idx[k] = append(idx[k], line)
				break
			}
		}
	}
	return idx
}

// find returns the line of the nth record (from 0) of owner and type, or 0 when not known.
func (idx lineIndex) find(owner string, typ uint16, nth int) int {
	lines := idx[lineKey{strings.ToLower(owner), typ}]
	if nth < len(lines) {
		return lines[nth]
	}
	return 0
}

func absolute(name, origin string) string {
	name = strings.ToLower(name)
	switch {
	case name == "@":
		return origin
	case strings.HasSuffix(name, "."):
		return name
	case origin == ".":
		return name + "."
	}
	return name + "." + origin
}

// LineIndex finds the line of a record in master-file text, for checks that run after parsing
// (the policy compiler's, say) and must still point at a line.
type LineIndex struct{ idx lineIndex }

// IndexLines reads data once, as master-file text for origin.
func IndexLines(data []byte, origin string) LineIndex {
	return LineIndex{idx: indexLines(data, strings.ToLower(origin))}
}

// Find returns the line of the nth record (from 0) of owner and type, or 0 when not known.
func (l LineIndex) Find(owner string, typ uint16, nth int) int { return l.idx.find(owner, typ, nth) }
