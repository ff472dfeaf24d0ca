package blocklist

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Format is the syntax of a list.
type Format uint8

const (
	// Auto picks one of the others from the first 64 KiB of the list (see Parse).
	Auto Format = iota
	// Hosts is /etc/hosts syntax: "0.0.0.0 ads.example.com tracker.example.com".
	Hosts
	// Domains is one name per line, "*.example.com" for the name and every name below it.
	Domains
	// Adblock is the subset of Adblock Plus syntax that DNS blockers (AdGuard Home, Blocky, Pi-hole)
	// understand: "||example.com^", "@@||example.com^".
	Adblock
)

var formatNames = [...]string{Auto: "auto", Hosts: "hosts", Domains: "domains", Adblock: "adblock"}

func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// ParseFormat reads a format's name as String writes it ("auto", "hosts", "domains", "adblock").
func ParseFormat(s string) (Format, error) {
	for f, name := range formatNames {
		if strings.EqualFold(s, name) {
			return Format(f), nil
		}
	}
	return Auto, fmt.Errorf("unknown list format %q (want auto, hosts, domains or adblock)", s)
}

// Entry is one rule of a list, as the policy layer turns it into a QNAME rule.
type Entry struct {
	// Name is lower-case, fully qualified, with its trailing dot, in ASCII (international names in
	// their xn-- form).
	Name string
	// Wildcard: the rule also covers every name below Name ("||example.com^", "*.example.com").
	// Name itself is always covered.
	Wildcard bool
	// Allow: an exception ("@@||example.com^", or an entry of an allow-list), which wins over any
	// block of the same names.
	Allow bool
}

// Problem is a line, or a name on a line, that was skipped.
type Problem struct {
	Line int    // 1-based
	Text string // the line, clipped to 100 bytes and made valid UTF-8
	Why  string
}

// List is one parsed list.
type List struct {
	// Source names the list in messages: the file or URL it came from.
	Source string
	// Format is the syntax the list was read in; Auto resolved to the one detected.
	Format  Format
	Entries []Entry
	// Skipped holds the first MaxProblems problems; SkippedTotal counts them all. Comments, blank
	// lines and the local names of hosts files ("localhost", ...) are not problems.
	Skipped      []Problem
	SkippedTotal int
	// Digest is the SHA-256 of the bytes the list was parsed from, when a Fetcher loaded it: two
	// fetches with the same digest hold the same list, across restarts too.
	Digest [32]byte
	// Data holds those bytes when the Fetcher was asked to keep them (Fetcher.KeepData).
	Data []byte
}

// MaxProblems bounds List.Skipped, so that a list in the wrong format (two million lines, all
// skipped) costs no more memory than a good one.
const MaxProblems = 1000

// MaxLineLen is the longest line read; a longer one is skipped whole. No rule that blocks a name
// comes near it (a name is at most 253 characters).
const MaxLineLen = 4096

// Describe formats p for a log line or an error: "source:line: why: text".
func (l *List) Describe(p Problem) string {
	return fmt.Sprintf("%s:%d: %s: %q", l.Source, p.Line, p.Why, p.Text)
}

// Parse reads a list. source names it in messages. Lines that hold no usable rule are recorded in
// List.Skipped with their line number and the reason; only an error reading r fails the whole
// list. With Auto, the format is decided from the first 64 KiB: Adblock if a line there starts
// with "||", "@@", "|" or "[Adblock", else Hosts if a line starts with an IP address, else Domains.
func Parse(r io.Reader, source string, format Format) (*List, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if format == Auto {
		head, _ := br.Peek(64 << 10) // fewer bytes at EOF or on error: ReadSlice reports the error
		format = detect(head)
	}
	p := parser{list: &List{Source: source, Format: format}}
	var line func([]byte)
	switch format {
	case Hosts:
		line = p.hostsLine
	case Domains:
		line = p.domainsLine
	case Adblock:
		line = p.adblockLine
	default:
		return nil, fmt.Errorf("%s: unknown list format %v", source, format)
	}
	for {
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// Longer than the buffer, so longer than MaxLineLen: skip to the end of the line.
			p.n++
			p.skip(b, "line longer than 4096 bytes")
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: line %d: %w", source, p.n, err)
			}
			continue
		}
		if len(b) > 0 {
			p.n++
			if p.n == 1 {
				b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
			}
			if len(b) > MaxLineLen+2 { // room for "\r\n"
				p.skip(b, "line longer than 4096 bytes")
			} else {
				p.text = b
				line(trimSpace(b))
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", source, p.n, err)
		}
	}
	return p.list, nil
}

// detect decides the format of a list from its first bytes, as Parse documents.
func detect(head []byte) Format {
	sawHosts := false
	for len(head) > 0 {
		var line []byte
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			line, head = head, nil
		}
		line = trimSpace(bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")))
		switch {
		case len(line) == 0, line[0] == '#', line[0] == '!':
		case line[0] == '|', bytes.HasPrefix(line, []byte("@@")), bytes.HasPrefix(line, []byte("[Adblock")):
			return Adblock
		case !sawHosts:
			f, _ := cutField(line)
			sawHosts = isAddr(f)
		}
	}
	if sawHosts {
		return Hosts
	}
	return Domains
}

// parser holds the state of one Parse.
type parser struct {
	list  *List
	n     int    // line number
	text  []byte // the current line, untrimmed, for problems
	chunk strings.Builder
	buf   []byte // scratch for canonicalName
}

// skip records a problem with the current line.
func (p *parser) skip(line []byte, why string) {
	p.list.SkippedTotal++
	if len(p.list.Skipped) >= MaxProblems {
		return
	}
	line = bytes.TrimRight(line, "\r\n")
	p.list.Skipped = append(p.list.Skipped, Problem{Line: p.n, Text: clipText(line, 100), Why: why})
}

// clipText makes b valid UTF-8 and cuts it to at most max bytes, at a character boundary.
func clipText(b []byte, max int) string {
	if len(b) > 4*max {
		b = b[:4*max]
	}
	b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
	if len(b) > max {
		b = b[:max]
		for len(b) > 0 && !utf8.Valid(b) {
			b = b[:len(b)-1]
		}
	}
	return string(b)
}

// add checks raw as a name and adds it, or records why not.
func (p *parser) add(raw []byte, wildcard, allow bool) {
	var why string
	p.buf, why = canonicalName(p.buf[:0], raw)
	if why != "" {
		if len(raw) < len(trimSpace(p.text)) {
			why = fmt.Sprintf("%q: %s", clip(raw), why) // say which name, when the line has more
		}
		p.skip(p.text, why)
		return
	}
	p.list.Entries = append(p.list.Entries, Entry{Name: p.intern(p.buf), Wildcard: wildcard, Allow: allow})
}

// intern copies a name into the current chunk of a shared buffer and returns it as a string.
// Names are stored a 64 KiB chunk at a time rather than one allocation each: a list of two million
// names then takes 30 allocations instead of two million, and no size-class rounding per name. A
// strings.Builder hands out its bytes as a string without copying, and never changes bytes it has
// written, so earlier names stay valid as later ones are appended.
func (p *parser) intern(name []byte) string {
	const chunkSize = 64 << 10
	if p.chunk.Cap()-p.chunk.Len() < len(name) {
		p.chunk = strings.Builder{}
		p.chunk.Grow(chunkSize)
	}
	start := p.chunk.Len()
	p.chunk.Write(name)
	return p.chunk.String()[start:]
}

func clip(b []byte) string { return clipText(b, 60) }

// trimSpace trims ASCII white space, CR included; unlike bytes.TrimSpace it does not decode runes.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// cutField splits off the first white-space separated field of a trimmed line.
func cutField(b []byte) (field, rest []byte) {
	for i, c := range b {
		if isSpace(c) {
			return b[:i], trimSpace(b[i:])
		}
	}
	return b, nil
}

// cutComment removes a comment that starts with '#' anywhere on the line.
func cutComment(b []byte) []byte {
	if i := bytes.IndexByte(b, '#'); i >= 0 {
		return trimSpace(b[:i])
	}
	return b
}
