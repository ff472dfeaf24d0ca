package dnstest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// LogLine is one line of the server's log (log/slog, text or JSON), its attributes by key:
// "time", "level", "msg" and the rest. Values are as the text handler writes them; numbers
// from JSON in their shortest form ("3", not "3.0").
type LogLine map[string]string

// ParseLog reads the lines of a server's log, each a JSON object or key=value pairs as slog's
// text handler writes them (a value with spaces or quotes is a quoted Go string). A line that
// is neither is an error naming it.
func ParseLog(text string) ([]LogLine, error) {
	var out []LogLine
	for i, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var l LogLine
		var err error
		if strings.HasPrefix(line, "{") {
			l, err = jsonLine(line)
		} else {
			l, err = textLine(line)
		}
		if err != nil {
			return nil, fmt.Errorf("log line %d %q: %w", i+1, line, err)
		}
		out = append(out, l)
	}
	return out, nil
}

func jsonLine(line string) (LogLine, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		return nil, err
	}
	l := make(LogLine, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case string:
			l[k] = v
		case float64:
			l[k] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			b, _ := json.Marshal(v)
			l[k] = string(b)
		}
	}
	return l, nil
}

func textLine(line string) (LogLine, error) {
	l := LogLine{}
	rest := line
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("no key=value at %q", rest)
		}
		key := rest[:eq]
		rest = rest[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, fmt.Errorf("value of %s: %w", key, err)
			}
			val, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			end := strings.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		l[key] = val
		rest = strings.TrimPrefix(rest, " ")
	}
	return l, nil
}

// Matching returns the lines whose msg is msg and whose attributes hold the pairs given as
// key, value, key, value...
func Matching(lines []LogLine, msg string, pairs ...string) []LogLine {
	var out []LogLine
next:
	for _, l := range lines {
		if l["msg"] != msg {
			continue
		}
		for i := 0; i+1 < len(pairs); i += 2 {
			if l[pairs[i]] != pairs[i+1] {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}
