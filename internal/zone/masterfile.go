package zone

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
)

// The master-file reader. The library's parser makes a string per token and an RR per record
// that the loader then copies into its blocks: most of a large zone's load time and its peak
// memory. This reader finds tokens in place, in the file's bytes, and builds the common record
// types straight into the loader's blocks (mfrecords.go). Whatever it is not sure to read exactly
// as the library does (escapes, an unknown or rare type, a malformed record, generic \# rdata) it
// hands to the library one record at a time, so the result and the error messages stay the
// library's; a $GENERATE, or a directive it cannot read cleanly, sends the whole file to the
// library. TestMasterFileSameAsLibrary and FuzzMasterFile hold the two to the same records.

// errUseLibrary says the file must be read by the library's parser from the start.
var errUseLibrary = errors.New("master file needs the library's parser")

// maxIncludeDepth is the library's limit of nested $INCLUDEs; beyond it the library says why.
const maxIncludeDepth = 7

// mfToken is one token of a record: its bytes in the file, without the quotes when quoted.
type mfToken struct {
	start, end int
	quoted     bool
}

// masterReader reads one master file (the zone's, or one it $INCLUDEs) into a loader.
type masterReader struct {
	l    *loader
	file string // for messages and to find $INCLUDEd files
	data []byte // the text, or the window of it read so far from src
	// src is the file the text is read from as it goes, nil when data holds all of it; eof says
	// it has been read to the end, readErr why reading it failed.
	src     io.Reader
	eof     bool
	readErr error
	pos     int
	line    int // the line data[pos] is on
	depth   int // of $INCLUDE

	origin         string
	defTTL         uint32
	ttlByDirective bool // $TTL was given: explicit TTLs of records no longer change defTTL

	// The owner of the last record, which a record starting with a blank takes over. owner is
	// nil when it is not known as a node (no record yet, or one whose name is left to the
	// library); ownerText is then the name for the library.
	owner       *Node
	ownerText   string
	ownerTok    []byte // how the owner was written, to skip resolving it again when repeated
	ownerOrigin string // the origin ownerTok was resolved against

	// The record last scanned: its tokens, bytes [recStart, recEnd), and
	// odd when it holds something only the library reads (an escape, a stray brace or CR).
	toks             []mfToken
	recStart, recEnd int
	odd              bool

	nameBuf  []byte // an absolute name being made
	ownerBuf []byte // the absolute owner being made
	textBuf  []byte // a record's text for the library, or joined rdata tokens
}

func newMasterReader(l *loader, file string, data []byte, origin string) *masterReader {
	// Knot's default-ttl: records without a TTL and without $TTL get an hour (as the library's
	// parser is told in loader.parse).
	return &masterReader{l: l, file: file, data: data, line: 1, origin: origin, defTTL: 3600}
}

// read reads the whole file. It returns errUseLibrary when the library must read the file
// instead (after a syntax error, for one: the library's message is the one to show).
func (r *masterReader) read() error {
	for r.scan() {
		if err := r.record(); err != nil {
			return err
		}
		if len(r.l.errs) >= MaxErrors {
			return nil
		}
	}
	return r.readErr
}

// readWindow is how much of a file the reader holds at a time (more while one record is longer).
const readWindow = 1 << 20

// scan finds the next record: its tokens and its bytes, up to and with the newline that ends it
// outside parentheses and quotes. Lines with nothing but blanks and comments are skipped. It
// returns false at the end of the text (or on a read error, kept in readErr). A record that runs
// to the end of the window, or ends just there, is scanned again after more of the file is read:
// whether more follows changes how the library reads some records (see fallback).
func (r *masterReader) scan() bool {
	for {
		pos, line := r.pos, r.line
		found, ranOut := r.scanWindow()
		if !ranOut || r.src == nil || r.eof {
			return found
		}
		r.pos, r.line = pos, line
		if err := r.refill(); err != nil {
			r.readErr = err
			return false
		}
	}
}

// refill moves what is left of the window to its front and reads more of the file behind it,
// into a larger buffer when what is left fills more than half of it.
func (r *masterReader) refill() error {
	left := len(r.data) - r.pos
	buf := r.data[:cap(r.data)]
	if left > cap(r.data)/2 {
		buf = make([]byte, 2*cap(r.data))
	}
	copy(buf, r.data[r.pos:])
	n, err := io.ReadFull(r.src, buf[left:])
	r.data, r.pos = buf[:left+n], 0
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		r.eof = true
		return nil
	}
	return err
}

// scanWindow is scan over the bytes in the window. ranOut says it came to the window's end.
func (r *masterReader) scanWindow() (found, ranOut bool) {
	data := r.data
	i := r.pos
	r.toks = r.toks[:0]
	r.odd = false
	r.recStart = i
	depth := 0
	tok := -1 // start of the token being read, -1 between tokens
	end := func(at int) {
		if tok >= 0 {
			r.toks = append(r.toks, mfToken{start: tok, end: at})
			tok = -1
		}
	}
	for i < len(data) {
		c := data[i]
		switch c {
		case ' ', '\t':
			end(i)
		case '\r':
			if i+1 >= len(data) || data[i+1] != '\n' || depth > 0 && tok >= 0 {
				r.odd = true // the library drops a lone CR, even inside a token
			}
			end(i)
		case '\n':
			if depth > 0 && tok >= 0 {
				r.odd = true // inside parentheses the library reads "a\nb" as one token ab
			}
			end(i)
			r.line++
			i++
			if depth > 0 {
				continue
			}
			if len(r.toks) == 0 && !r.odd {
				r.recStart = i // a blank or comment line
				continue
			}
			r.pos, r.recEnd = i, i
			return true, i >= len(data)
		case ';':
			end(i)
			for i < len(data) && data[i] != '\n' {
				i++
			}
			continue
		case '(', ')':
			if tok >= 0 {
				r.odd = true // the library reads a(b as one token ab
			}
			end(i)
			if c == '(' {
				depth++
			} else if depth--; depth < 0 {
				depth = 0
				r.odd = true // the library reports the extra brace
			}
		case '"':
			end(i)
			i++
			start := i
			for i < len(data) && data[i] != '"' {
				switch data[i] {
				case '\\':
					r.odd = true
					if i+1 < len(data) && data[i+1] != '\n' {
						i++
					}
				case '\n':
					r.line++
				case '\r':
					r.odd = true
				}
				i++
			}
			if i >= len(data) {
				r.odd = true // an unterminated quote
				r.toks = append(r.toks, mfToken{start: start, end: i, quoted: true})
				continue
			}
			r.toks = append(r.toks, mfToken{start: start, end: i, quoted: true})
		case '\\':
			// An escape: the next byte is part of the token whatever it is, except a newline,
			// which still ends the line.
			r.odd = true
			if tok < 0 {
				tok = i
			}
			if i+1 < len(data) && data[i+1] != '\n' {
				i++
			}
		default:
			if tok < 0 {
				tok = i
			}
		}
		i++
	}
	end(i)
	if depth > 0 {
		r.odd = true // the library reports the unbalanced brace
	}
	r.pos, r.recEnd = i, i
	return len(r.toks) > 0 || r.odd, true
}

// bytesOf returns the bytes of a token.
func (r *masterReader) bytesOf(t mfToken) []byte { return r.data[t.start:t.end] }

// record reads the record scan found.
func (r *masterReader) record() error {
	toks := r.toks
	// The library takes the first token of a line as the owner only when a blank follows it;
	// otherwise the record keeps the last owner, as one starting with a blank does.
	hasOwner := len(toks) > 0 && toks[0].start == r.recStart && !toks[0].quoted &&
		toks[0].end < len(r.data) && (r.data[toks[0].end] == ' ' || r.data[toks[0].end] == '\t')
	if !hasOwner && r.data[r.recStart] != ' ' && r.data[r.recStart] != '\t' {
		// A line that starts with something other than an owner and a blank ("(", a quote, a
		// type word at the end of the line, a token running into a brace) is read by the
		// library in ways that depend on what came before: the whole file is the library's.
		return errUseLibrary
	}
	if hasOwner && len(toks) > 0 && toks[0].start == r.recStart && r.data[r.recStart] == '$' {
		switch d := upperWord(r.bytesOf(toks[0])); d {
		case "$ORIGIN", "$TTL", "$INCLUDE", "$GENERATE":
			if r.odd {
				return errUseLibrary
			}
			return r.directive(d)
		}
	}
	if r.odd || len(toks) == 0 {
		return r.fallback(hasOwner)
	}
	// A new owner's node is made only once its record is known to be good: a line the library
	// reads as no record at all must leave no name behind.
	n, newOwner := r.owner, false
	i := 0
	if hasOwner {
		tok := r.bytesOf(toks[0])
		if r.owner == nil || r.ownerOrigin != r.origin || !bytes.Equal(tok, r.ownerTok) {
			if !r.resolveOwner(tok) {
				return r.fallback(hasOwner)
			}
			newOwner = true
		}
		i = 1
	} else if n == nil {
		return r.fallback(hasOwner)
	}
	ttl, haveTTL, haveClass := r.defTTL, false, false
	var typ uint16
	for ; i < len(toks) && typ == 0; i++ {
		t := toks[i]
		if t.quoted {
			return r.fallback(hasOwner)
		}
		b := r.bytesOf(t)
		word := upperWord(b)
		switch {
		case word == "IN" && !haveClass:
			haveClass = true
		case nativeType(word) != 0:
			typ = nativeType(word)
		case word != "" && isTypeOrClass(word):
			return r.fallback(hasOwner) // a type or class this reader leaves to the library
		case !haveTTL:
			v, ok := stringToTTL(b)
			if !ok {
				return r.fallback(hasOwner)
			}
			ttl, haveTTL = v, true
		default:
			return r.fallback(hasOwner)
		}
	}
	if typ == 0 {
		return r.fallback(hasOwner)
	}
	rr := r.build(typ, ttl, toks[i:])
	if rr == nil {
		return r.fallback(hasOwner)
	}
	if newOwner {
		n = r.makeOwner(r.bytesOf(toks[0]))
	}
	rr.Header().Name = n.Name
	if !r.ttlByDirective {
		r.defTTL = ttl
	}
	if r.l.admit(rr, typ) {
		r.l.addTo(n, rr, typ, false)
	}
	return nil
}

// resolveOwner makes the lower-case absolute name of an owner written as tok (in ownerBuf) and
// its wire form (in the loader's scratch). It says false when the name is one the library must
// read, or is not in the zone (the loader's checks then say so).
func (r *masterReader) resolveOwner(tok []byte) bool {
	name, ok := absName(r.ownerBuf[:0], tok, r.origin)
	r.ownerBuf = name
	if !ok {
		return false
	}
	lower(name)
	if !isBelow(r.l.z.Origin, view(name)) {
		return false
	}
	key, err := wire.AppendName(r.l.scratch[:0], view(name))
	r.l.scratch = key
	return err == nil
}

// makeOwner returns the node of the owner resolveOwner resolved, made if new, and remembers it
// as the owner of the records that follow.
func (r *masterReader) makeOwner(tok []byte) *Node {
	n := r.l.node(r.l.scratch, view(r.ownerBuf)) // node copies what it keeps
	r.l.openOwner(n)
	r.owner, r.ownerText, r.ownerOrigin = n, n.Name, r.origin
	r.ownerTok = append(r.ownerTok[:0], tok...)
	return n
}

// fallback hands the record to the library's parser, with the owner made absolute when the
// record has none of its own, and adds what it returns.
func (r *masterReader) fallback(hasOwner bool) error {
	text := r.textBuf[:0]
	if !hasOwner {
		text = append(text, r.ownerText...)
		text = append(text, ' ')
	}
	// The library reads a record differently at the end of its input (a record without rdata
	// is taken there, and refused before more text): what follows the record in the file is
	// stood for by an empty line, and nothing is added at its end.
	text = append(text, r.data[r.recStart:r.recEnd]...)
	if r.recEnd < len(r.data) || r.src != nil && !r.eof {
		text = append(text, '\n')
	}
	r.textBuf = text
	zp := dns.NewZoneParser(bytes.NewReader(text), r.origin, r.file)
	zp.SetDefaultTTL(r.defTTL)
	zp.IncludeAllowFunc = func(_, _ string) bool { return false }
	rr, ok := zp.Next()
	if !ok {
		if zp.Err() == nil {
			return nil
		}
		// A malformed record is read again with the whole file: the library's parser may read
		// on into the next lines where it misses a field, and its error (or record) depends
		// on them.
		return errUseLibrary
	}
	if _, more := zp.Next(); more || zp.Err() != nil {
		return errUseLibrary // the record's bounds were not where this reader thought
	}
	if !r.ttlByDirective {
		r.defTTL = rr.Header().TTL
	}
	r.l.add(rr)
	// The next record may take this owner over: find its node, when the name is a plain one.
	name := rr.Header().Name
	r.owner, r.ownerText, r.ownerTok = nil, name, r.ownerTok[:0]
	if key, err := wire.AppendName(r.l.scratch[:0], name); err == nil && bytes.IndexByte(key, '\\') < 0 {
		r.l.scratch = key
		r.owner = r.l.z.names.getBytes(key)
		r.ownerOrigin = "" // never matches: a written owner is resolved afresh
	}
	return nil
}

// directive reads $ORIGIN, $TTL and $INCLUDE; a $GENERATE, or a directive that is not plainly
// right, is the library's to read (and to report).
func (r *masterReader) directive(d string) error {
	toks := r.toks
	for _, t := range toks[1:] {
		// The library's lexer reads a type or class name as such even here, and refuses it.
		if w := upperWord(r.bytesOf(t)); t.quoted || w != "" && w[0] != '$' {
			return errUseLibrary
		}
	}
	switch {
	case d == "$ORIGIN" && len(toks) == 2:
		name, ok := absName(r.nameBuf[:0], r.bytesOf(toks[1]), r.origin)
		r.nameBuf = name
		if !ok {
			return errUseLibrary
		}
		r.origin = string(name)
		return nil
	case d == "$TTL" && len(toks) == 2:
		v, ok := stringToTTL(r.bytesOf(toks[1]))
		if !ok {
			return errUseLibrary
		}
		r.defTTL, r.ttlByDirective = v, true
		return nil
	case d == "$INCLUDE" && (len(toks) == 2 || len(toks) == 3):
		return r.include(string(r.bytesOf(toks[1])), toks[2:])
	}
	return errUseLibrary
}

// include reads an $INCLUDEd file as the library would: relative to this file's directory, only
// in it or below it (loader.parse says why), with the origin given or this one, the current
// default TTL, and no owner to take over. What the included file changes of origin and TTL stays
// in it.
func (r *masterReader) include(path string, originTok []mfToken) error {
	if r.file == "" || !filepath.IsLocal(path) || r.depth >= maxIncludeDepth {
		return errUseLibrary
	}
	origin := r.origin
	if len(originTok) == 1 {
		name, ok := absName(r.nameBuf[:0], r.bytesOf(originTok[0]), r.origin)
		r.nameBuf = name
		if !ok {
			return errUseLibrary
		}
		origin = string(name)
	}
	full := filepath.Join(filepath.Dir(r.file), path)
	data, err := os.ReadFile(full)
	if err != nil {
		return errUseLibrary
	}
	sub := newMasterReader(r.l, full, data, origin)
	sub.depth = r.depth + 1
	sub.defTTL, sub.ttlByDirective = r.defTTL, r.ttlByDirective
	return sub.read()
}

// absName appends to dst the absolute name tok stands for under origin, with tok's case. It
// says false for anything but a plain name: an escape or a character outside letters, digits,
// '-', '_', '*' and '/', an empty label, a label over 63 bytes or a name over 255.
func absName(dst, tok []byte, origin string) ([]byte, bool) {
	if len(tok) == 1 && tok[0] == '@' {
		return append(dst, origin...), true
	}
	if len(tok) == 0 || (tok[0] == '.' && len(tok) > 1) {
		return dst, false
	}
	label := 0
	for _, c := range tok {
		switch {
		case c == '.':
			if label == 0 && len(tok) > 1 {
				return dst, false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '*', c == '/':
		default:
			return dst, false
		}
		if label++; label > 63 {
			return dst, false
		}
	}
	start := len(dst)
	dst = append(dst, tok...)
	if tok[len(tok)-1] != '.' {
		if origin != "." {
			dst = append(dst, '.')
		}
		dst = append(dst, origin...)
	}
	// The wire form is one byte longer than the presentation form of a name, "." aside.
	if wireLen := len(dst) - start + 1; wireLen > 255 && !(len(dst)-start == 1) {
		return dst[:start], false
	}
	return dst, true
}

// lower makes ASCII letters of b lower-case, in place.
func lower(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// upperWord returns b in upper case when it is short enough to be a type, class or directive
// name, else "". The result is a constant or a string the switch callers compare without keeping.
func upperWord(b []byte) string {
	var buf [16]byte
	if len(b) > len(buf) || len(b) == 0 || '0' <= b[0] && b[0] <= '9' {
		return "" // no type or class name starts with a digit: a TTL, most often
	}
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(b)]) {
	case "IN":
		return "IN"
	case "A":
		return "A"
	case "AAAA":
		return "AAAA"
	case "NS":
		return "NS"
	case "CNAME":
		return "CNAME"
	case "MX":
		return "MX"
	case "TXT":
		return "TXT"
	case "SOA":
		return "SOA"
	case "DS":
		return "DS"
	case "PTR":
		return "PTR"
	case "DNAME":
		return "DNAME"
	case "RRSIG":
		return "RRSIG"
	case "NSEC":
		return "NSEC"
	case "DNSKEY":
		return "DNSKEY"
	case "$ORIGIN":
		return "$ORIGIN"
	case "$TTL":
		return "$TTL"
	case "$INCLUDE":
		return "$INCLUDE"
	case "$GENERATE":
		return "$GENERATE"
	}
	if isTypeOrClass(string(buf[:len(b)])) {
		return "?" // some other type or class: the caller leaves the record to the library
	}
	return ""
}

// isTypeOrClass says whether an upper-case word is read by the library's lexer as a type or a
// class (by name, or as TYPEn, CLASSn), or is one of the placeholders upperWord returns.
func isTypeOrClass(word string) bool {
	if word == "?" {
		return true
	}
	if _, ok := dns.StringToType[word]; ok {
		return true
	}
	if _, ok := dns.StringToClass[word]; ok {
		return true
	}
	if _, ok := dns.StringToCode[word]; ok {
		return true
	}
	return len(word) > 4 && word[:4] == "TYPE" || len(word) > 5 && word[:5] == "CLASS"
}

// stringToTTL reads a TTL as the library does: seconds, or a sum of numbers with units s, m, h,
// d and w ("1h30m"), in 32 bits that wrap as the library's do.
func stringToTTL(b []byte) (uint32, bool) {
	var s, i uint32
	for _, c := range b {
		switch c {
		case 's', 'S':
			s, i = s+i, 0
		case 'm', 'M':
			s, i = s+i*60, 0
		case 'h', 'H':
			s, i = s+i*3600, 0
		case 'd', 'D':
			s, i = s+i*86400, 0
		case 'w', 'W':
			s, i = s+i*604800, 0
		case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			i = i*10 + uint32(c-'0')
		default:
			return 0, false
		}
	}
	return s + i, true
}
