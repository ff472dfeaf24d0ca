// Package query holds the values every stage of the query pipeline sees: the Request parsed from the
// wire (header, question and EDNS only) and the Response a stage decides on. The listeners fill
// Request.Wire and the client address; Parse does the rest without allocating, so one Request value
// can be reused for every query a listener reads.
package query

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// Transport says how a query arrived; it decides the size limit of the answer. Only UDP is a
// datagram transport: answers over every other one may take 65535 bytes and are never truncated.
type Transport uint8

const (
	UDP Transport = iota
	TCP
	// DoT is DNS over TLS (RFC 7858): TCP's framing inside TLS.
	DoT
	// DoH is DNS over HTTPS (RFC 8484): one message per HTTP request and response.
	DoH
	// DoQ is DNS over QUIC (RFC 9250): one query per QUIC stream, framed as on TCP.
	DoQ
)

var transportNames = [...]string{"udp", "tcp", "dot", "doh", "doq"}

// String is the transport's label in metrics and the query log.
func (t Transport) String() string {
	if int(t) < len(transportNames) {
		return transportNames[t]
	}
	return "unknown"
}

// Datagram says whether answers must fit a datagram: 512 bytes, or the EDNS payload size, and
// truncation (TC=1) beyond.
func (t Transport) Datagram() bool { return t == UDP }

// Header flag bits (RFC 1035 §4.1.1, RFC 4035 §3.2).
const (
	FlagQR = 1 << 15
	FlagAA = 1 << 10
	FlagTC = 1 << 9
	FlagRD = 1 << 8
	FlagRA = 1 << 7
	FlagZ  = 1 << 6
	FlagAD = 1 << 5
	FlagCD = 1 << 4
)

// Opcodes and classes Warden looks at.
const (
	OpcodeQuery  = 0
	OpcodeNotify = 4
	OpcodeUpdate = 5
	ClassIN      = 1
	ClassANY     = 255
	typeOPT      = 41
	typeTSIG     = 250
	optionCookie = 10 // RFC 7873 §4
)

// Sizes of DNS cookies (RFC 7873 §4): the client cookie, and the range of the server cookie.
const (
	ClientCookieLen    = 8
	MinServerCookieLen = 8
	MaxServerCookieLen = 32
	// CookieReserve is the room a response to a query with a client cookie keeps free for the
	// server's COOKIE option: the option header, the client cookie and a 16-byte server cookie
	// (RFC 9018). Renderers subtract it from the size limit (wire.Limits.MaxSize), so the option
	// can be added once the answer is known.
	CookieReserve = 4 + ClientCookieLen + 16
)

// HeaderLen is the size of the fixed DNS message header.
const HeaderLen = 12

// MaxNameLen is the longest domain name in wire form (RFC 1035 §2.3.4).
const MaxNameLen = 255

// Verdict is what parsing decided from the bytes alone. The rules follow Knot DNS, the reference
// Warden's answers are compared with: what cannot be a query at all is dropped, a question that
// parses but sits in a broken message gets FORMERR.
type Verdict uint8

const (
	// Accept: a well-formed message with one question; admission looks at opcode, class and type.
	Accept Verdict = iota
	// Drop: no answer at all: a response (QR=1), a truncated header or question, a malformed name,
	// more than one question.
	Drop
	// FormErr: answer FORMERR. QuestionEnd tells whether there is a question to echo; HasEDNS
	// whether the OPT record could be read and is echoed.
	FormErr
	// BadVers: an EDNS version other than 0; answer BADVERS (RFC 6891 §6.1.3).
	BadVers
)

// Deferrer lets a stage answer after ServeDNS has returned, for a query whose answer takes long to
// find (recursion): the listener's worker goes on with other queries meanwhile.
type Deferrer interface {
	// Defer returns a Replier for req's client. It copies what it needs, so the Replier stays
	// valid after the listener reuses req. Call it during ServeDNS only.
	Defer(req *Request) Replier
}

// Source says which stage made an answer. Metrics, the query log and dnstap read it from the
// request once the answer is made.
type Source uint8

const (
	// SourceNone: no stage answered (yet), or the query was dropped.
	SourceNone Source = iota
	// SourceLocal: the server answered by itself: admission's errors and refusals, SERVFAIL when
	// resolution cannot start, the special-use names (RFC 6761) a resolver never sends out.
	SourceLocal
	// SourceAuthority: a served zone.
	SourceAuthority
	// SourceCache: the resolver's cache, fresh or stale.
	SourceCache
	// SourceResolver: resolved from the root down just now.
	SourceResolver
	// SourceForward: asked of a configured upstream resolver just now.
	SourceForward
	// SourcePolicy: a response policy rule rewrote or replaced the answer.
	SourcePolicy
)

var sourceNames = [...]string{"none", "local", "authority", "cache", "resolver", "forward", "policy"}

func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "unknown"
}

// Outcome is what became of a query: where its answer came from and, for a policy answer, the rule
// that made it. Strings here point at data the policy or the forwarder already holds, or are made
// once per resolution: an answer given at once (a hit) never makes one.
type Outcome struct {
	Source Source
	// Cache says whether the answer was looked for in the resolver's cache and found there:
	// CacheNone for answers that never asked it (zones, admission, a policy's question stage).
	Cache CacheUse
	// PolicySet and PolicyRule name the rule set and the rule (its owner name as written) of a
	// policy answer; empty otherwise.
	PolicySet, PolicyRule string
	// Upstream is the server the answer came from just now: a forwarder as configured (its
	// upstream.Upstream.Addr) for SourceForward, the address of the authoritative server that
	// gave the final reply for SourceResolver, and kept when a response policy then rewrites
	// such an answer (SourcePolicy); empty for every other answer, a cache hit included. A
	// string header costs the hit path half what a netip.AddrPort would to copy, and a
	// forwarder's text is already held.
	Upstream string
}

// CacheUse is what the resolver's cache did for one query.
type CacheUse uint8

const (
	CacheNone CacheUse = iota
	// CacheHit: the answer (or the answer a policy then rewrote) came from the cache.
	CacheHit
	// CacheMiss: the cache had nothing fresh, and the question went on to resolution.
	CacheMiss
)

// Replier sends one response to the client of a deferred query.
type Replier interface {
	// Reply sends msg, the answer to req: the copy of the query the deferred work answered, whose
	// Outcome says who answered it (the listener records it as it records answers given at once).
	Reply(req *Request, msg []byte)
}

// Request is one query. Wire, Client, Transport and Received come from the listener; Parse fills the
// rest.
// QName is a slice of Wire (the name as the client wrote it, case included); Lower holds the same
// name in lower case, which is what every lookup uses.
type Request struct {
	Wire      []byte
	Client    netip.AddrPort
	Transport Transport
	// Received is when the listener read the query; the zero value means not known. Stages that
	// count time on the way to an immediate answer (the cache's TTLs) take it rather than reading
	// the clock, which costs about as much as the rest of a cache hit: the UDP worker reads the
	// clock once for a whole batch of datagrams, a few hundred microseconds at most, which TTLs
	// counted in whole seconds do not see. Work that answers later (a resolution) clears it or
	// uses a Request of its own, since its answer is not as old as the query.
	Received time.Time
	// Later, when not nil, lets the answer come after ServeDNS returns (UDP). When nil the
	// handler may take its time: the listener gives each query its own goroutine (TCP).
	Later Deferrer
	// Stream, when not nil (TCP), sends one message to the client ahead of the handler's reply,
	// for answers of many messages (zone transfers); the listener adds the length prefix.
	Stream func(msg []byte) error
	// Frames, set with Stream, sends one or more messages at once, each already behind its
	// two-byte length: a zone transfer gathers its messages so as to write a few at a time.
	Frames func(frames []byte) error

	// Outcome is set by the stage that answers; for a deferred answer, on the request the
	// deferred work answers.
	Outcome Outcome

	ID     uint16
	Flags  uint16 // header flags as received (opcode and rcode bits included)
	Opcode uint8

	// QName is the question name in wire form as received; empty when the message has no question.
	QName  []byte
	QType  uint16
	QClass uint16
	// QuestionEnd is the offset in Wire just past the question, 0 when there is none.
	QuestionEnd int

	lower    [MaxNameLen]byte
	lowerLen int

	// EDNS(0) from the OPT record, when HasEDNS.
	HasEDNS     bool
	UDPSize     uint16 // as requested, before any clamping
	DO          bool   // DNSSEC OK
	EDNSVersion uint8
	// HasTSIG says the message ends with a TSIG record (RFC 8945): its answer must be signed, or
	// refused, by the stage that holds the keys.
	HasTSIG bool

	// Cookie is the first COOKIE option of the OPT record (RFC 7873): the client cookie, then
	// the server cookie when the client had one. CookieLen is 0 without the option; a malformed
	// one (a length other than 8 or 16..40) sets BadCookie instead, for the cookie stage to
	// answer FORMERR when cookies are on, as BIND and Knot do.
	Cookie    [ClientCookieLen + MaxServerCookieLen]byte
	CookieLen uint8
	BadCookie bool
}

// ClientCookie returns the client cookie, nil when the query has none. The slice aliases the
// Request.
func (r *Request) ClientCookie() []byte {
	if r.CookieLen == 0 {
		return nil
	}
	return r.Cookie[:ClientCookieLen]
}

// ServerCookie returns the server cookie the client presented, nil when it sent none.
func (r *Request) ServerCookie() []byte {
	if r.CookieLen <= ClientCookieLen {
		return nil
	}
	return r.Cookie[ClientCookieLen:r.CookieLen]
}

// Lower returns the question name in wire form, lower-cased. The slice aliases the Request.
func (r *Request) Lower() []byte { return r.lower[:r.lowerLen] }

// reset clears everything Parse sets, keeping the buffers.
func (r *Request) reset() {
	r.ID, r.Flags, r.Opcode = 0, 0, 0
	r.QName, r.QType, r.QClass, r.QuestionEnd = nil, 0, 0, 0
	r.lowerLen = 0
	r.HasEDNS, r.UDPSize, r.DO, r.EDNSVersion = false, 0, false, 0
	r.HasTSIG = false
	r.CookieLen, r.BadCookie = 0, false
	r.Outcome = Outcome{}
}

// Parse reads the header, the question and the OPT record of r.Wire. It reads the other records only
// far enough to step over them, and it never allocates.
func (r *Request) Parse() Verdict {
	r.reset()
	msg := r.Wire
	if len(msg) < HeaderLen {
		return Drop
	}
	r.ID = binary.BigEndian.Uint16(msg[0:])
	r.Flags = binary.BigEndian.Uint16(msg[2:])
	if r.Flags&FlagQR != 0 {
		// Answering a response invites reflection loops.
		return Drop
	}
	r.Opcode = uint8(r.Flags>>11) & 0xF
	qd := binary.BigEndian.Uint16(msg[4:])
	an := binary.BigEndian.Uint16(msg[6:])
	ns := binary.BigEndian.Uint16(msg[8:])
	ar := binary.BigEndian.Uint16(msg[10:])
	if qd > 1 {
		return Drop
	}
	off := HeaderLen
	if qd == 1 {
		end, ok := r.parseQuestion(msg, off)
		if !ok {
			return Drop
		}
		off = end
	}
	var ok bool
	for i := 0; i < int(an)+int(ns); i++ {
		var rr rrInfo
		if off, ok = skipRR(msg, off, &rr); !ok || rr.typ == typeOPT {
			return r.formErr()
		}
	}
	seenOPT := false
	for i := 0; i < int(ar); i++ {
		var rr rrInfo
		if off, ok = skipRR(msg, off, &rr); !ok {
			return r.formErr()
		}
		if rr.typ == typeTSIG {
			// Only as the last record (RFC 8945 §5.1); anywhere else the message is broken.
			if i != int(ar)-1 {
				return r.formErr()
			}
			r.HasTSIG = true
			continue
		}
		if rr.typ != typeOPT {
			continue
		}
		if seenOPT || !validOptions(rr.rdata) {
			return r.formErr() // RFC 6891 §6.1.1: at most one OPT
		}
		seenOPT = true
		r.HasEDNS = true
		r.UDPSize = rr.class
		r.EDNSVersion = uint8(rr.ttl >> 16)
		r.DO = rr.ttl&(1<<15) != 0
		r.readCookie(rr.rdata)
	}
	if off != len(msg) {
		return r.formErr()
	}
	if r.HasEDNS && r.EDNSVersion != 0 {
		return BadVers
	}
	if qd == 0 {
		return FormErr // the OPT record, when there is one, is echoed
	}
	return Accept
}

// formErr: a broken record means the OPT record cannot be trusted either; none is echoed.
func (r *Request) formErr() Verdict {
	r.HasEDNS, r.DO = false, false
	r.CookieLen, r.BadCookie = 0, false
	return FormErr
}

// readCookie copies the first COOKIE option of rdata, whose options validOptions has checked.
func (r *Request) readCookie(rdata []byte) {
	for len(rdata) >= 4 {
		code := binary.BigEndian.Uint16(rdata)
		n := int(binary.BigEndian.Uint16(rdata[2:]))
		if code == optionCookie {
			if n == ClientCookieLen || n >= ClientCookieLen+MinServerCookieLen && n <= ClientCookieLen+MaxServerCookieLen {
				r.CookieLen = uint8(copy(r.Cookie[:], rdata[4:4+n]))
			} else {
				r.BadCookie = true
			}
			return
		}
		rdata = rdata[4+n:]
	}
}

// validOptions checks that the options of an OPT record tile its rdata exactly.
func validOptions(rdata []byte) bool {
	for len(rdata) > 0 {
		if len(rdata) < 4 {
			return false
		}
		n := 4 + int(binary.BigEndian.Uint16(rdata[2:]))
		if n > len(rdata) {
			return false
		}
		rdata = rdata[n:]
	}
	return true
}

// parseQuestion reads one question at off; names in a question may not be compressed.
func (r *Request) parseQuestion(msg []byte, off int) (int, bool) {
	start := off
	for {
		if off >= len(msg) {
			return 0, false
		}
		l := int(msg[off])
		if l&0xC0 != 0 {
			return 0, false
		}
		if off-start+l+1 > MaxNameLen || off+1+l > len(msg) {
			return 0, false
		}
		off += l + 1
		if l == 0 {
			break
		}
	}
	if off+4 > len(msg) {
		return 0, false
	}
	r.QName = msg[start:off]
	r.lowerLen = lowerName(&r.lower, r.QName)
	r.QType = binary.BigEndian.Uint16(msg[off:])
	r.QClass = binary.BigEndian.Uint16(msg[off+2:])
	r.QuestionEnd = off + 4
	return off + 4, true
}

// lowerName copies the wire name src into dst, ASCII letters in lower case, and returns its length.
// Length bytes go through unchanged, as they are at most 63, below 'A'. The name is read eight bytes
// at a time: byte by byte, this loop was a tenth of a cache hit.
func lowerName(dst *[MaxNameLen]byte, src []byte) int {
	n := copy(dst[:], src)
	i := 0
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], lowerWord(binary.LittleEndian.Uint64(dst[i:])))
	}
	for ; i < n; i++ {
		dst[i] = toLower(dst[i])
	}
	return n
}

// lowerWord lower-cases the ASCII letters among the eight bytes of x. For each byte b with its top
// bit clear, b&0x7F + 0x80-'A' has its top bit set when b >= 'A', and b&0x7F + 0x80-'Z'-1 when
// b > 'Z'; neither sum carries into the next byte. Where the first is set and the second and b's
// own top bit are not, the 0x20 bit (0x80>>2) is set, which upper-case letters have clear.
func lowerWord(x uint64) uint64 {
	const ones = 0x0101010101010101
	a := x & (0x7F * ones)
	ge := a + (0x80-'A')*ones
	gt := a + (0x80-'Z'-1)*ones
	return x | (ge&^gt&^x&(0x80*ones))>>2
}

type rrInfo struct {
	typ   uint16
	class uint16
	ttl   uint32
	rdata []byte
}

// skipRR steps over one resource record, following the name syntax (compression allowed) so that a
// malformed record is noticed. Like Knot, an OPT record is taken whatever its owner name.
func skipRR(msg []byte, off int, info *rrInfo) (int, bool) {
	for {
		if off >= len(msg) {
			return 0, false
		}
		l := int(msg[off])
		if l&0xC0 == 0xC0 {
			if off+2 > len(msg) {
				return 0, false
			}
			off += 2
			break
		}
		if l&0xC0 != 0 {
			return 0, false
		}
		off += l + 1
		if l == 0 {
			break
		}
	}
	if off+10 > len(msg) {
		return 0, false
	}
	rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
	if off+10+rdlen > len(msg) {
		return 0, false
	}
	info.typ = binary.BigEndian.Uint16(msg[off:])
	info.class = binary.BigEndian.Uint16(msg[off+2:])
	info.ttl = binary.BigEndian.Uint32(msg[off+4:])
	info.rdata = msg[off+10 : off+10+rdlen]
	return off + 10 + rdlen, true
}

func toLower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
