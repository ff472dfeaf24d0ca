package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// decode reads data, one YAML document, into c over the values already there (so keys left out
// keep them), and records in c where each key was written. It does not validate values.
//
// Decoding happens in two passes over the parsed tree. The first walks it beside the Go types it
// will fill and reports every unknown key and every value of the wrong shape, with its line and
// key; the YAML library's own errors stop at the first problem and name Go types rather than keys.
// The second pass is the library's decoder, which fills the struct, still with unknown keys
// rejected in case the walk and the decoder ever disagree.
func decode(data []byte, name string, c *Config) error {
	if len(data) > maxConfigSize {
		return &Error{File: name, Msg: fmt.Sprintf("%d bytes is more than the %d a config may have", len(data), maxConfigSize)}
	}
	if err := checkNesting(data, name); err != nil {
		return err
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return syntaxError(err, name, data)
	}
	c.name = name
	c.where = make(map[string]location)

	var body ast.Node
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			line, _ := position(doc.Body)
			return &Error{File: name, Line: line, Msg: "a second YAML document; a config file holds one"}
		}
		body = doc.Body
	}
	if body == nil {
		return nil // an empty file: every default stands
	}

	w := walker{file: name, where: c.where}
	w.walk(body, reflect.TypeFor[Config](), "")
	if len(w.errs) > 0 {
		return limitErrors(w.errs, name)
	}
	err = yaml.NodeToValue(body, c,
		yaml.DisallowUnknownField(),
		yaml.CustomUnmarshaler[time.Duration](unmarshalDuration),
		yaml.CustomUnmarshaler[Switch](unmarshalSwitch))
	if err != nil {
		return c.decodeError(err)
	}
	return nil
}

// maxNesting bounds how deeply flow collections ([ and {) and same-line block sequences ("- - -")
// nest. The YAML parser's time grows with the square of the depth (100,000 ['s take a minute);
// a config nests a few levels. Brackets inside quoted strings count too, which errs on the side of
// refusing only files no one would write.
const maxNesting = 64

func checkNesting(data []byte, name string) error {
	depth, line := 0, 1
	atLineStart := true // still in the indentation and "- " markers that open the line
	dashes := 0
	for i, b := range data {
		switch b {
		case '\n':
			line++
			atLineStart, dashes = true, 0
			continue
		case '[', '{':
			depth++
			if depth > maxNesting {
				return &Error{File: name, Line: line, Msg: fmt.Sprintf("nested more than %d levels deep", maxNesting)}
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		case '-':
			if atLineStart && (i+1 == len(data) || data[i+1] == ' ' || data[i+1] == '\t') {
				dashes++
				if dashes > maxNesting {
					return &Error{File: name, Line: line, Msg: fmt.Sprintf("nested more than %d levels deep", maxNesting)}
				}
				continue
			}
		case ' ', '\t':
			continue
		}
		atLineStart = false
	}
	return nil
}

// syntaxError turns the parser's error into an Error at its line and column. The parser's own
// message carries a source excerpt meant for a terminal; the line and column say the same in a
// form editors and log readers can follow.
func syntaxError(err error, name string, data []byte) error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil || ye.GetToken().Position == nil {
		return &Error{File: name, Msg: err.Error()}
	}
	p := ye.GetToken().Position
	msg := ye.GetMessage()
	// An unquoted IPv6 listener is the likeliest syntax error in this file: YAML reads "[::1]:53"
	// as a list followed by stray text.
	if l := sourceLine(data, p.Line); strings.Contains(l, "[") && strings.Contains(l, "]:") {
		msg += ` (an IPv6 address with a port must be quoted: "[::1]:53")`
	}
	return &Error{File: name, Line: p.Line, Column: p.Column, Msg: msg}
}

func sourceLine(data []byte, n int) string {
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return ""
		}
		data = data[j+1:]
	}
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		data = data[:j]
	}
	return string(data)
}

// decodeError locates an error of the YAML decoder. The walk should have caught every problem the
// decoder can find; this keeps the file and line in the message should one slip through.
func (c *Config) decodeError(err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil || ye.GetToken().Position == nil {
		return &Error{File: c.name, Msg: err.Error()}
	}
	p := ye.GetToken().Position
	return &Error{File: c.name, Line: p.Line, Column: p.Column, Key: c.keyAt(p.Line, p.Column), Msg: ye.GetMessage()}
}

// keyAt returns the key written last at or before line and column.
func (c *Config) keyAt(line, col int) string {
	best, bestLoc := "", location{}
	for k, loc := range c.where {
		if loc.flag != "" || loc.line > line || (loc.line == line && loc.col > col) {
			continue
		}
		if loc.line > bestLoc.line || (loc.line == bestLoc.line && loc.col >= bestLoc.col) {
			best, bestLoc = k, loc
		}
	}
	return best
}

// walker checks a parsed YAML tree against the types it will be decoded into, and records the
// place of each key on the way.
type walker struct {
	file  string
	where map[string]location
	errs  []error
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	switchType          = reflect.TypeFor[Switch]()
	addrPortType        = reflect.TypeFor[netip.AddrPort]()
	listenAddrType      = reflect.TypeFor[ListenAddr]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (w *walker) fail(node ast.Node, key, format string, args ...any) {
	line, col := position(node)
	w.errs = append(w.errs, &Error{File: w.file, Line: line, Column: col, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// walk checks node, found at key, against t.
func (w *walker) walk(node ast.Node, t reflect.Type, key string) {
	switch n := node.(type) {
	case nil:
		return
	case *ast.NullNode:
		if wantsString(t) {
			w.null(n, key)
		}
		return // a list or section with no value keeps its default, as a key left out does
	// Anchors, aliases and tags are refused: a config has no use for them, an alias could make one
	// line stand for many (so no single line to blame), and expanding aliases is how small YAML
	// files grow into huge ones.
	case *ast.AnchorNode:
		w.fail(node, key, "anchors (&) are not supported")
		return
	case *ast.AliasNode:
		w.fail(node, key, "aliases (*) are not supported")
		return
	case *ast.TagNode:
		w.fail(node, key, "tags (!) are not supported")
		return
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem() // an optional value, nil when left out, is written as the value itself
	}
	switch {
	case t == durationType:
		w.duration(node, key)
	case t == switchType:
		w.onOff(node, key)
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		w.text(node, t, key)
	case t.Kind() == reflect.Struct:
		w.mapping(node, t, key)
	case t.Kind() == reflect.Slice:
		w.sequence(node, t, key)
	case t.Kind() == reflect.String:
		if _, ok := node.(ast.ScalarNode); !ok {
			w.fail(node, key, "want a single value, got %s", describe(node))
		}
	case t.Kind() == reflect.Bool:
		if _, ok := node.(*ast.BoolNode); !ok {
			w.fail(node, key, "want true or false, got %s", describe(node))
		}
	case reflect.Int <= t.Kind() && t.Kind() <= reflect.Uint64:
		w.integer(node, t, key)
	default:
		// A field of a kind this walk does not know: only a new kind of config field can get here,
		// and the decoder still checks it.
	}
}

// wantsString says whether values of t are written as strings in YAML: strings, durations and
// the types that parse themselves from text (addresses, prefixes, listeners).
func wantsString(t reflect.Type) bool {
	return t.Kind() == reflect.String || t == durationType || reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// null refuses YAML's null where a string is expected. The decoder would store it as the empty
// string, which for most keys quietly means the default; for a blocklist's action it means
// NXDOMAIN when the writer asked for the null action, the likeliest way to meet this trap.
func (w *walker) null(n *ast.NullNode, key string) {
	tk := n.GetToken()
	if tk == nil || tk.Type == token.ImplicitNullType {
		w.fail(n, key, `no value; write "" for an empty string, or leave the key out for its default`)
		return
	}
	word := "for the word " + tk.Value
	if strings.EqualFold(tk.Value, "null") && strings.HasSuffix(key, ".action") {
		word = "for the null action"
	}
	w.fail(n, key, "%s is YAML's empty value; write %q in quotes %s", tk.Value, tk.Value, word)
}

func (w *walker) mapping(node ast.Node, t reflect.Type, key string) {
	m, ok := node.(ast.MapNode)
	if !ok {
		w.fail(node, key, "want keys and values, got %s", describe(node))
		return
	}
	fields := yamlFields(t)
	for it := m.MapRange(); it.Next(); {
		k := it.Key()
		if k.IsMergeKey() {
			w.fail(k, key, "merge keys (<<) are not supported")
			continue
		}
		s, ok := k.(*ast.StringNode)
		if !ok {
			w.fail(k, key, "unknown key %s", k.String())
			continue
		}
		ft, ok := fields[s.Value]
		if !ok {
			w.fail(k, key, "unknown key %s%s", quote(s.Value), suggest(s.Value, fields))
			continue
		}
		child := joinKey(key, s.Value)
		line, col := position(k)
		w.where[child] = location{line: line, col: col}
		w.walk(it.Value(), ft, child)
	}
}

func (w *walker) sequence(node ast.Node, t reflect.Type, key string) {
	s, ok := node.(*ast.SequenceNode)
	if !ok {
		w.fail(node, key, "want a list, got %s", describe(node))
		return
	}
	for i, v := range s.Values {
		child := fmt.Sprintf("%s[%d]", key, i)
		line, col := position(v)
		w.where[child] = location{line: line, col: col}
		w.walk(v, t.Elem(), child)
	}
}

func (w *walker) duration(node ast.Node, key string) {
	switch n := node.(type) {
	case *ast.StringNode:
		if _, err := parseDuration(n.Value); err != nil {
			w.fail(node, key, "%s is not a duration, as 10s, 500ms or 1m30s", quote(n.Value))
		}
	case *ast.IntegerNode:
		if !isZero(n.Value) {
			w.fail(node, key, "%s has no unit; write it as 10s, 500ms or 1m30s", n.GetToken().Value)
		}
	default:
		w.fail(node, key, "want a duration, as 10s, got %s", describe(node))
	}
}

func (w *walker) text(node ast.Node, t reflect.Type, key string) {
	s, ok := node.(*ast.StringNode)
	if !ok {
		want := "a string,"
		if t == addrPortType || t == listenAddrType {
			want = "an IP address and port, as 127.0.0.1:53,"
		}
		w.fail(node, key, "want %s got %s", want, describe(node))
		return
	}
	err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s.Value))
	switch {
	case err == nil:
	case t == listenAddrType:
		w.fail(node, key, "%s %v", quote(s.Value), err) // its errors read after the value
	case t == addrPortType:
		w.fail(node, key, "%s is not an IP address and port, as 127.0.0.1:53 or \"[::1]:53\"", quote(s.Value))
	default:
		w.fail(node, key, "%s: %v", quote(s.Value), err)
	}
}

func (w *walker) integer(node ast.Node, t reflect.Type, key string) {
	n, ok := node.(*ast.IntegerNode)
	if !ok {
		// The parser reads digits too long for 64 bits as a string; say what is really wrong.
		if s, isStr := node.(*ast.StringNode); isStr && s.GetToken().Type != token.DoubleQuoteType &&
			s.GetToken().Type != token.SingleQuoteType && allDigits(strings.TrimPrefix(s.Value, "-")) {
			w.fail(node, key, "%s is out of range", s.Value)
			return
		}
		w.fail(node, key, "want a whole number, got %s", describe(node))
		return
	}
	v := reflect.New(t).Elem()
	var overflow bool
	switch x := n.Value.(type) {
	case int64:
		if v.CanInt() {
			overflow = v.OverflowInt(x)
		} else {
			overflow = x < 0 || v.OverflowUint(uint64(x))
		}
	case uint64:
		if v.CanInt() {
			overflow = x > math.MaxInt64 || v.OverflowInt(int64(x))
		} else {
			overflow = v.OverflowUint(x)
		}
	default:
		overflow = true
	}
	if overflow {
		w.fail(node, key, "%s is out of range", n.GetToken().Value)
	}
}

// yamlFields maps the YAML keys of struct type t to their field types. Fields without a yaml tag,
// or tagged "-", are not read from YAML.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		fields[name] = f.Type
	}
	return fields
}

// suggest names the known key closest to a misspelt one, when one is close enough to be meant.
func suggest(name string, fields map[string]reflect.Type) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	best := Closest(strings.ToLower(name), keys)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Closest returns the candidate a mistyped word most likely meant: the nearest by edit distance
// (the first in sort order among equals), and "" when none is within two edits, which makes a
// different word rather than a typo. Keys of the configuration and the command line's flags and
// commands are all suggested this way.
func Closest(word string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describe names what a node is, for "want X, got Y" messages.
func describe(node ast.Node) string {
	switch n := node.(type) {
	case *ast.StringNode:
		return "the string " + quote(n.Value)
	case *ast.IntegerNode:
		return "the number " + n.GetToken().Value
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "the number " + n.GetToken().Value
	case *ast.BoolNode:
		return "the boolean " + n.GetToken().Value
	case *ast.LiteralNode:
		return "a block of text"
	case ast.MapNode:
		return "keys and values"
	case *ast.SequenceNode:
		return "a list"
	default:
		return "a " + node.Type().String()
	}
}

// position is where node starts. A mapping's token is its first ':' or '{', so a mapping is placed
// at its first key instead, which is where a reader looks for it.
func position(node ast.Node) (line, col int) {
	switch n := node.(type) {
	case nil:
		return 0, 0
	case *ast.MappingValueNode:
		if n.Key != nil {
			return position(n.Key)
		}
	case *ast.MappingNode:
		if len(n.Values) > 0 {
			return position(n.Values[0])
		}
	}
	tk := node.GetToken()
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}

// parseDuration reads a duration as time.ParseDuration does, and also a bare 0, which needs no unit.
func parseDuration(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "0" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

// unmarshalDuration decodes a duration for the YAML decoder: a string such as "10s", or 0.
func unmarshalDuration(d *time.Duration, b []byte) error {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case string:
		p, err := parseDuration(x)
		if err != nil {
			return err
		}
		*d = p
		return nil
	default:
		if isZero(x) {
			*d = 0
			return nil
		}
		return fmt.Errorf("%v is not a duration", v)
	}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isZero(v any) bool {
	switch x := v.(type) {
	case int64:
		return x == 0
	case uint64:
		return x == 0
	case int:
		return x == 0
	}
	return false
}
