// Package dnstest holds the differential-test harness: it starts a reference authoritative server
// (Knot DNS) on loopback with the test zones under testdata/zones, sends the same queries to it and
// to Warden, and reports every way the two responses differ. Warden is meant to answer exactly like
// the reference, so a difference is a bug in Warden unless a test says otherwise.
//
// The pieces: Zone and StartKnot run the reference; Query, Exchange and Diff send one query and
// compare two responses; Corpus is the standard list of queries; DiffCorpus runs a corpus against
// two servers and fails the test with every difference listed.
package dnstest

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/wire"
)

// Timeout bounds one exchange. Loopback servers answer in well under a millisecond; the bound only
// matters for queries the server must not answer (those cost the full timeout).
const Timeout = time.Second

// DefaultUDPSize is the EDNS payload size a Query advertises when it asks for EDNS without a size.
const DefaultUDPSize = 1232

// ErrNoResponse means nothing came back within Timeout (UDP), or the server closed the connection
// without answering (TCP). Diff treats two such outcomes as equal.
var ErrNoResponse = errors.New("no response")

// Query is one test query. The zero value of each field is the common case: class IN, opcode
// QUERY, no EDNS, UDP.
type Query struct {
	Name    string // owner name exactly as sent (case included), fully qualified
	Type    uint16
	Class   uint16 // 0 means IN
	Opcode  uint8
	ID      uint16
	RD      bool   // recursion desired: servers copy it into the response
	CD      bool   // checking disabled: servers copy it into the response
	EDNS    bool   // add an OPT record
	UDPSize uint16 // OPT payload size; 0 means DefaultUDPSize (only with EDNS)
	Version uint8  // EDNS version (only with EDNS); not 0 asks for BADVERS
	DO      bool   // DNSSEC OK (only with EDNS)
	TCP     bool   // send over TCP instead of UDP

	// Raw, when set, is sent as is and every field above except TCP is ignored. It carries
	// malformed and unusual messages (QDCOUNT 2, QR=1, truncated headers, bad OPT records).
	Raw []byte

	// Note says what the query exercises; it is shown in diffs.
	Note string
}

// String describes the query in one line, the way a diff names it.
func (q Query) String() string {
	var b strings.Builder
	if q.Raw != nil {
		fmt.Fprintf(&b, "raw %d bytes %s", len(q.Raw), shortHex(q.Raw, 48))
	} else {
		fmt.Fprintf(&b, "%s %s %s", q.Name, className(q.class()), typeName(q.Type))
		if q.Opcode != 0 {
			fmt.Fprintf(&b, " opcode=%d", q.Opcode)
		}
		if q.RD {
			b.WriteString(" +rd")
		}
		if q.CD {
			b.WriteString(" +cd")
		}
		if q.EDNS {
			fmt.Fprintf(&b, " +edns=%d", q.udpSize())
			if q.Version != 0 {
				fmt.Fprintf(&b, " +ednsver=%d", q.Version)
			}
			if q.DO {
				b.WriteString(" +do")
			}
		}
		fmt.Fprintf(&b, " id=%d", q.ID)
	}
	if q.TCP {
		b.WriteString(" +tcp")
	} else {
		b.WriteString(" +udp")
	}
	if q.Note != "" {
		fmt.Fprintf(&b, " (%s)", q.Note)
	}
	return b.String()
}

func (q Query) class() uint16 {
	if q.Class == 0 {
		return dns.ClassINET
	}
	return q.Class
}

func (q Query) udpSize() uint16 {
	if q.UDPSize == 0 {
		return DefaultUDPSize
	}
	return q.UDPSize
}

// Wire returns the message as sent: Raw when set, else the encoded query.
func (q Query) Wire() ([]byte, error) {
	if q.Raw != nil {
		return q.Raw, nil
	}
	var flags uint16
	flags |= uint16(q.Opcode&0xF) << 11
	if q.RD {
		flags |= 1 << 8
	}
	if q.CD {
		flags |= 1 << 4
	}
	w := NewWire(q.ID, flags)
	if err := w.Question(q.Name, q.Type, q.class()); err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	if q.EDNS {
		w.OPT(q.udpSize(), 0, q.Version, q.DO, nil)
	}
	return w.Bytes(), nil
}

// Wire builds DNS messages byte by byte, so the corpus can say exactly what goes on the wire,
// including things a message library refuses to produce (two questions, a QR=1 query, an OPT with
// a payload size of 512, an OPT that is not at the root). Counts in the header follow the sections
// written; SetCounts overrides them afterwards.
type Wire struct {
	buf    []byte
	counts [4]uint16
}

// NewWire starts a message with the given ID and flag word (opcode and rcode bits included).
func NewWire(id, flags uint16) *Wire {
	w := &Wire{buf: make([]byte, 12, 512)}
	binary.BigEndian.PutUint16(w.buf[0:], id)
	binary.BigEndian.PutUint16(w.buf[2:], flags)
	return w
}

// Name appends a domain name in uncompressed wire form. It accepts presentation form with \.
// and \DDD escapes; "." is the root.
func (w *Wire) Name(name string) error {
	b, err := packName(name)
	if err != nil {
		return err
	}
	w.buf = append(w.buf, b...)
	return nil
}

// Question appends one question entry.
func (w *Wire) Question(name string, qtype, qclass uint16) error {
	if err := w.Name(name); err != nil {
		return err
	}
	w.buf = binary.BigEndian.AppendUint16(w.buf, qtype)
	w.buf = binary.BigEndian.AppendUint16(w.buf, qclass)
	w.counts[0]++
	return nil
}

// RR appends a resource record to section 1 (answer), 2 (authority) or 3 (additional).
func (w *Wire) RR(section int, name string, rrtype, class uint16, ttl uint32, rdata []byte) error {
	if section < 1 || section > 3 {
		return fmt.Errorf("section %d out of range 1-3", section)
	}
	if err := w.Name(name); err != nil {
		return err
	}
	w.buf = binary.BigEndian.AppendUint16(w.buf, rrtype)
	w.buf = binary.BigEndian.AppendUint16(w.buf, class)
	w.buf = binary.BigEndian.AppendUint32(w.buf, ttl)
	w.buf = binary.BigEndian.AppendUint16(w.buf, uint16(len(rdata)))
	w.buf = append(w.buf, rdata...)
	w.counts[section]++
	return nil
}

// OPT appends an OPT record at the root to the additional section (RFC 6891 §6.1.2).
func (w *Wire) OPT(udpSize uint16, extRcode, version uint8, do bool, options []byte) {
	ttl := uint32(extRcode)<<24 | uint32(version)<<16
	if do {
		ttl |= 1 << 15
	}
	_ = w.RR(3, ".", dns.TypeOPT, udpSize, ttl, options)
}

// Append adds raw bytes (garbage, truncated records) without touching the counts.
func (w *Wire) Append(b ...byte) { w.buf = append(w.buf, b...) }

// SetCounts overrides the QDCOUNT, ANCOUNT, NSCOUNT and ARCOUNT written by Bytes.
func (w *Wire) SetCounts(qd, an, ns, ar uint16) { w.counts = [4]uint16{qd, an, ns, ar} }

// Bytes returns the message with the header counts filled in.
func (w *Wire) Bytes() []byte {
	out := slices.Clone(w.buf)
	for i, c := range w.counts {
		binary.BigEndian.PutUint16(out[4+2*i:], c)
	}
	return out
}

// packName encodes a presentation-form name. Only what the corpus needs: plain labels, \. and
// \DDD escapes, and the root.
func packName(name string) ([]byte, error) {
	if name == "." {
		return []byte{0}, nil
	}
	if !strings.HasSuffix(name, ".") {
		return nil, fmt.Errorf("name %q is not fully qualified", name)
	}
	var out, label []byte
	flush := func() error {
		if len(label) == 0 || len(label) > 63 {
			return fmt.Errorf("name %q: label length %d", name, len(label))
		}
		out = append(out, byte(len(label)))
		out = append(out, label...)
		label = label[:0]
		return nil
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '\\' && i+3 < len(name) && isDigit(name[i+1]) && isDigit(name[i+2]) && isDigit(name[i+3]):
			v, _ := strconv.Atoi(name[i+1 : i+4])
			if v > 255 {
				return nil, fmt.Errorf("name %q: escape \\%s out of range", name, name[i+1:i+4])
			}
			label = append(label, byte(v))
			i += 3
		case c == '\\' && i+1 < len(name):
			label = append(label, name[i+1])
			i++
		case c == '.':
			if err := flush(); err != nil {
				return nil, err
			}
		default:
			label = append(label, c)
		}
	}
	out = append(out, 0)
	if len(out) > 255 {
		return nil, fmt.Errorf("name %q: %d octets in wire form", name, len(out))
	}
	return out, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Exchange sends q to addr (host:port) and returns the parsed response. It returns ErrNoResponse
// when nothing came back in time. A response that does not parse is returned together with the
// error, with Data and the header fields filled in, so a caller can still compare bytes.
func Exchange(addr string, q Query) (*dns.Msg, error) {
	wire, err := q.Wire()
	if err != nil {
		return nil, err
	}
	var resp []byte
	if q.TCP {
		resp, err = exchangeTCP(addr, wire)
	} else {
		resp, err = exchangeUDPTimeout(addr, wire, Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("%s to %s: %w", q, addr, err)
	}
	m := &dns.Msg{Data: resp}
	if err := m.Unpack(); err != nil {
		return m, fmt.Errorf("%s: unpack response from %s: %w", q, addr, err)
	}
	return m, nil
}

func exchangeUDPTimeout(addr string, wire []byte, timeout time.Duration) ([]byte, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	if _, err := conn.Write(wire); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	// A connected UDP socket only hears from addr, so the first datagram is the answer unless a
	// late answer to an earlier query reused the port; skip datagrams with another ID. The loop
	// ends at the deadline at the latest.
	for range 16 {
		n, err := conn.Read(buf)
		if err != nil {
			if isTimeout(err) {
				return nil, ErrNoResponse
			}
			return nil, err
		}
		if len(wire) < 2 || n < 2 || buf[0] == wire[0] && buf[1] == wire[1] {
			return slices.Clone(buf[:n]), nil
		}
	}
	return nil, ErrNoResponse
}

func exchangeTCP(addr string, wire []byte) ([]byte, error) {
	conn, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(Timeout)); err != nil {
		return nil, err
	}
	framed := binary.BigEndian.AppendUint16(nil, uint16(len(wire)))
	framed = append(framed, wire...)
	if _, err := conn.Write(framed); err != nil {
		return nil, err
	}
	// Only the first message is read: for a zone transfer that is enough to compare how it starts.
	var lenBuf [2]byte
	if _, err := io.ReadFull(conn, lenBuf[:]); err != nil {
		if isTimeout(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
			return nil, ErrNoResponse
		}
		return nil, err
	}
	resp := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
	if _, err := io.ReadFull(conn, resp); err != nil {
		return nil, fmt.Errorf("read %d-byte TCP message: %w", len(resp), err)
	}
	return resp, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// Diff compares two responses and returns "" when they are equal for the purpose of matching the
// reference server, else a readable report that names the question and lists what differs. A nil
// message means no response. Compared: the header (ID, opcode, rcode including the EDNS extended
// bits, every flag), the question section in order and with exact case, the answer, authority and
// additional sections each as a multiset of records in presentation form (order-insensitive, owner
// names case-sensitive, TTLs included), and the OPT record (presence, version, DO bit, payload
// size, other flag bits, options).
func Diff(a, b *dns.Msg) string {
	switch {
	case a == nil && b == nil:
		return ""
	case a == nil:
		return fmt.Sprintf("%s: A sent no response, B answered:\n%s", questionOf(b), indent(Format(b)))
	case b == nil:
		return fmt.Sprintf("%s: B sent no response, A answered:\n%s", questionOf(a), indent(Format(a)))
	}
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }

	if ha, hb := headerLine(a), headerLine(b); ha != hb {
		add("header A: %s", ha)
		add("header B: %s", hb)
	}
	if qa, qb := questionLines(a), questionLines(b); !slices.Equal(qa, qb) {
		add("question A: %s", strings.Join(qa, " | "))
		add("question B: %s", strings.Join(qb, " | "))
	}
	for _, s := range []struct {
		name string
		a, b []dns.RR
	}{{"answer", a.Answer, b.Answer}, {"authority", a.Ns, b.Ns}, {"additional", a.Extra, b.Extra}} {
		qa, qb := questionName(a), questionName(b)
		if s.name != "answer" {
			qa, qb = "", ""
		}
		onlyA, onlyB := setDiff(caseFolded(s.a, qa), caseFolded(s.b, qb))
		for _, r := range onlyA {
			add("%s only in A: %s", s.name, r)
		}
		for _, r := range onlyB {
			add("%s only in B: %s", s.name, r)
		}
	}
	if oa, ob := optOf(a).String(), optOf(b).String(); oa != ob {
		add("opt A: %s", oa)
		add("opt B: %s", ob)
	}
	if len(lines) == 0 {
		return ""
	}
	return questionOf(a) + ":\n" + indent(strings.Join(lines, "\n"))
}

// Format renders a response as text: header line, OPT line, then each section in zone-file form.
func Format(m *dns.Msg) string {
	if m == nil {
		return "(no response)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, ";; %s\n", headerLine(m))
	fmt.Fprintf(&b, ";; opt: %s\n", optOf(m))
	for _, q := range questionLines(m) {
		fmt.Fprintf(&b, ";; question: %s\n", q)
	}
	for _, s := range []struct {
		name string
		rrs  []dns.RR
	}{{"answer", m.Answer}, {"authority", m.Ns}, {"additional", m.Extra}} {
		if len(s.rrs) == 0 {
			continue
		}
		fmt.Fprintf(&b, ";; %s\n", s.name)
		for _, r := range rrStrings(s.rrs) {
			b.WriteString(r)
			b.WriteByte('\n')
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func headerLine(m *dns.Msg) string {
	rc, ok := dns.RcodeToString[m.Rcode]
	if m.Rcode == dns.RcodeBadVers {
		rc = "BADVERS"
	} else if !ok {
		rc = "RCODE" + strconv.Itoa(int(m.Rcode))
	}
	var flags []string
	for _, f := range []struct {
		on   bool
		name string
	}{{m.Response, "qr"}, {m.Authoritative, "aa"}, {m.Truncated, "tc"}, {m.RecursionDesired, "rd"},
		{m.RecursionAvailable, "ra"}, {m.Zero, "z"}, {m.AuthenticatedData, "ad"}, {m.CheckingDisabled, "cd"}} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	return fmt.Sprintf("id %d opcode %d rcode %s flags [%s]", m.ID, m.Opcode, rc, strings.Join(flags, " "))
}

func questionOf(m *dns.Msg) string {
	qs := questionLines(m)
	if len(qs) == 0 {
		return "(no question)"
	}
	return strings.Join(qs, " | ")
}

func questionLines(m *dns.Msg) []string {
	var out []string
	for _, q := range m.Question {
		h := q.Header()
		out = append(out, fmt.Sprintf("%s %s %s", h.Name, className(h.Class), typeName(dns.RRToType(q))))
	}
	return out
}

// caseFolded renders records for comparison with names lower-cased (RFC 4343: names compare without
// regard to case), except owner names equal to qname (the question, for the answer section): a
// server must echo the question's letter case there, so those stay exact. Which case a compressed name shows elsewhere depends only on
// the server's choice of compression target, which no client can rely on.
func caseFolded(rrs []dns.RR, qname string) []string {
	out := make([]string, 0, len(rrs))
	for _, r := range rrs {
		c := r.Clone()
		h := c.Header()
		if qname == "" || !strings.EqualFold(h.Name, qname) {
			h.Name = strings.ToLower(h.Name)
		}
		text := c.String()
		switch c.(type) {
		case *dns.CNAME, *dns.NS, *dns.MX, *dns.SOA, *dns.PTR, *dns.SRV, *dns.DNAME:
			// Their rdata is names and numbers only.
			owner, rest, _ := strings.Cut(text, "\t")
			text = owner + "\t" + strings.ToLower(rest)
		}
		out = append(out, text)
	}
	return out
}

func questionName(m *dns.Msg) string {
	if len(m.Question) == 0 {
		return ""
	}
	return m.Question[0].Header().Name
}

func rrStrings(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, r := range rrs {
		out = append(out, r.String())
	}
	return out
}

// setDiff returns the records only in a and only in b, counting duplicates, each sorted.
func setDiff(a, b []string) (onlyA, onlyB []string) {
	count := make(map[string]int, len(a))
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		if count[s] > 0 {
			count[s]--
			continue
		}
		onlyB = append(onlyB, s)
	}
	for _, s := range a {
		if count[s] > 0 {
			count[s]--
			onlyA = append(onlyA, s)
		}
	}
	slices.Sort(onlyA)
	slices.Sort(onlyB)
	return onlyA, onlyB
}

func indent(s string) string { return "\t" + strings.ReplaceAll(s, "\n", "\n\t") }

func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

func className(c uint16) string {
	if s, ok := dns.ClassToString[c]; ok {
		return s
	}
	return "CLASS" + strconv.Itoa(int(c))
}

func shortHex(b []byte, max int) string {
	if len(b) > max {
		return hex.EncodeToString(b[:max]) + "…"
	}
	return hex.EncodeToString(b)
}

// optInfo is what a message's OPT records say, read from the wire so that nothing is normalised
// (the message library hides the OPT record and raises payload sizes below 512).
type optInfo struct {
	count   int // OPT records in the additional section; more than one is a protocol error
	owner   string
	udpSize uint16
	ttl     uint32 // extended rcode, version, DO and the other flag bits
	rdata   string // options, hex
	err     string // the additional section could not be walked
}

func (o optInfo) String() string {
	if o.err != "" {
		return "unreadable: " + o.err
	}
	if o.count == 0 {
		return "none"
	}
	s := fmt.Sprintf("version %d udp %d do %t ext-rcode %d z %#04x", uint8(o.ttl>>16), o.udpSize,
		o.ttl&(1<<15) != 0, uint8(o.ttl>>24), o.ttl&0x7FFF)
	if o.owner != "." {
		s += " owner " + o.owner
	}
	if o.rdata != "" {
		s += " options " + o.rdata
	}
	if o.count > 1 {
		s += fmt.Sprintf(" (%d OPT records)", o.count)
	}
	return s
}

// optOf reads the OPT record from m.Data. A message built in memory (no Data) is described from its
// fields instead.
func optOf(m *dns.Msg) optInfo {
	if len(m.Data) < 12 {
		if m.UDPSize == 0 && !m.Security && m.Version == 0 && len(m.Pseudo) == 0 {
			return optInfo{}
		}
		var ttl uint32 = uint32(m.Version) << 16
		if m.Security {
			ttl |= 1 << 15
		}
		ttl |= uint32(m.Rcode>>4) << 24
		return optInfo{count: 1, owner: ".", udpSize: max(m.UDPSize, dns.MinMsgSize), ttl: ttl}
	}
	return walkOPT(m.Data)
}

// walkOPT skips the question, answer and authority sections and reads every OPT record in the
// additional section. Bounded by the message length: every step consumes at least one byte.
func walkOPT(msg []byte) optInfo {
	var info optInfo
	counts := [4]int{}
	for i := range counts {
		counts[i] = int(binary.BigEndian.Uint16(msg[4+2*i:]))
	}
	off := 12
	for range counts[0] {
		next, err := wire.SkipName(msg, off)
		if err != nil || next+4 > len(msg) {
			info.err = "question section"
			return info
		}
		off = next + 4
	}
	for sec := 1; sec <= 3; sec++ {
		for range counts[sec] {
			nameEnd, err := wire.SkipName(msg, off)
			if err != nil || nameEnd+10 > len(msg) {
				info.err = fmt.Sprintf("record header in section %d", sec)
				return info
			}
			rrtype := binary.BigEndian.Uint16(msg[nameEnd:])
			rdlen := int(binary.BigEndian.Uint16(msg[nameEnd+8:]))
			end := nameEnd + 10 + rdlen
			if end > len(msg) {
				info.err = fmt.Sprintf("record data in section %d", sec)
				return info
			}
			if sec == 3 && rrtype == dns.TypeOPT {
				info.count++
				info.owner = hex.EncodeToString(msg[off:nameEnd])
				if info.owner == "00" {
					info.owner = "."
				}
				info.udpSize = binary.BigEndian.Uint16(msg[nameEnd+2:])
				info.ttl = binary.BigEndian.Uint32(msg[nameEnd+4:])
				info.rdata = hex.EncodeToString(msg[nameEnd+10 : end])
			}
			off = end
		}
	}
	return info
}

// Result is one query's outcome against two servers.
type Result struct {
	Query Query
	A, B  *dns.Msg
	ErrA  error
	ErrB  error
	Diff  string // "" when the responses match
}

// workers bounds how many queries DiffAll has in flight; the reference runs one UDP worker, and
// queries the server must not answer each cost a full Timeout, so a few run side by side.
const workers = 8

// DiffAll sends every query to both servers and returns one Result per query, in corpus order. A
// query that only one side left unanswered over UDP is retried once, so a datagram lost on a busy
// machine does not read as a difference.
func DiffAll(addrA, addrB string, queries []Query) []Result {
	results := make([]Result, len(queries))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(queries)) {
		wg.Go(func() {
			for i := range jobs {
				results[i] = compareOne(addrA, addrB, queries[i])
			}
		})
	}
	for i := range queries {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return results
}

func compareOne(addrA, addrB string, q Query) Result {
	r := Result{Query: q}
	for attempt := 0; attempt < 2; attempt++ {
		var wg sync.WaitGroup
		wg.Go(func() { r.A, r.ErrA = Exchange(addrA, q) })
		r.B, r.ErrB = Exchange(addrB, q)
		wg.Wait()
		lostA := errors.Is(r.ErrA, ErrNoResponse)
		lostB := errors.Is(r.ErrB, ErrNoResponse)
		if q.TCP || lostA == lostB {
			break
		}
	}
	r.Diff = diffResult(r)
	return r
}

func diffResult(r Result) string {
	noneA, noneB := errors.Is(r.ErrA, ErrNoResponse), errors.Is(r.ErrB, ErrNoResponse)
	badA := r.ErrA != nil && !noneA
	badB := r.ErrB != nil && !noneB
	switch {
	case badA && badB && r.A != nil && r.B != nil && slices.Equal(r.A.Data, r.B.Data):
		return ""
	case badA || badB:
		return fmt.Sprintf("error A: %v\nerror B: %v", r.ErrA, r.ErrB)
	}
	return Diff(r.A, r.B)
}

// DiffCorpus runs queries against both servers and fails t with every difference, each under the
// query that shows it, followed by the line "N of M queries differ". It returns the results so a
// test can check more (how many were answered, say) without sending the corpus again.
func DiffCorpus(t testing.TB, addrA, addrB string, queries []Query) []Result {
	t.Helper()
	results := DiffAll(addrA, addrB, queries)
	var b strings.Builder
	n := 0
	for _, r := range results {
		if r.Diff == "" {
			continue
		}
		n++
		fmt.Fprintf(&b, "--- %s\n%s\n", r.Query, indent(r.Diff))
	}
	if n > 0 {
		t.Errorf("A=%s B=%s\n%s%d of %d queries differ", addrA, addrB, b.String(), n, len(queries))
	}
	return results
}
