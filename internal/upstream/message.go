package upstream

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"warden/internal/query"
	"warden/internal/wire"
)

const (
	headerLen  = 12
	maxNameLen = 255
	typeOPT    = 41
	classINET  = 1
	// maxMsgLen is the largest DNS message any transport can carry (TCP's 16-bit length).
	maxMsgLen = 65535
)

// NewQuery returns a query for a presentation-format name ("www.example.", the final dot may be
// left out) of class IN. Escapes (\. and \DDD) are refused with an error rather than guessed at:
// names that need them have to be given in wire format in Query.Name.
func NewQuery(name string, qtype uint16) (*Query, error) {
	wire, err := nameToWire(name)
	if err != nil {
		return nil, err
	}
	return &Query{Name: wire, Type: qtype, Class: classINET}, nil
}

// WireName is name (text, fully qualified or not) in uncompressed wire format, as Query.Name and
// Query.Zone hold it.
func WireName(name string) ([]byte, error) { return nameToWire(name) }

func nameToWire(name string) ([]byte, error) {
	if strings.ContainsRune(name, '\\') {
		return nil, fmt.Errorf("%w: name %q: escapes are not supported", ErrBadQuery, name)
	}
	fq := name
	if !strings.HasSuffix(fq, ".") {
		fq += "."
	}
	out, err := wire.AppendName(make([]byte, 0, len(fq)+1), fq)
	if err != nil {
		// Name the name as given, and say what is wrong with it.
		for _, why := range []error{wire.ErrEmptyLabel, wire.ErrLongLabel, wire.ErrLongName} {
			if errors.Is(err, why) {
				return nil, fmt.Errorf("%w: name %q: %w", ErrBadQuery, strings.TrimSuffix(name, "."), why)
			}
		}
		return nil, fmt.Errorf("%w: %w", ErrBadQuery, err)
	}
	return out, nil
}

// outgoing is a packed query and what its reply must echo.
type outgoing struct {
	msg  []byte
	qend int // end of the question section: msg[:2] and msg[headerLen:qend] must come back
	zone []byte
}

// pack builds the query message with the given ID. With mix, every letter of the name gets a
// random case (0x20, draft-vixie-dnsext-dns0x20): an off-path forger must then guess one more bit
// per letter, and the reply must echo the exact pattern.
func (q *Query) pack(id uint16, mix bool) (outgoing, error) {
	if q == nil {
		return outgoing{}, fmt.Errorf("%w: nil query", ErrBadQuery)
	}
	if err := wire.CheckName(q.Name); err != nil {
		return outgoing{}, fmt.Errorf("%w: %w", ErrBadQuery, err)
	}
	class := q.Class
	if class == 0 {
		class = classINET
	}
	msg := make([]byte, headerLen, headerLen+len(q.Name)+4+11)
	binary.BigEndian.PutUint16(msg[0:], id)
	var flags uint16
	if q.RD {
		flags |= query.FlagRD
	}
	if q.CD {
		flags |= query.FlagCD
	}
	binary.BigEndian.PutUint16(msg[2:], flags)
	binary.BigEndian.PutUint16(msg[4:], 1)
	start := len(msg)
	msg = append(msg, q.Name...)
	if mix {
		randomCase(msg[start:])
	}
	msg = binary.BigEndian.AppendUint16(msg, q.Type)
	msg = binary.BigEndian.AppendUint16(msg, class)
	qend := len(msg)
	if !q.NoEDNS {
		binary.BigEndian.PutUint16(msg[10:], 1)
		size := q.UDPSize
		if size == 0 {
			size = DefaultUDPSize
		}
		var ttl uint32 // extended rcode 0, version 0
		if q.DO {
			ttl |= 1 << 15
		}
		msg = append(msg, 0) // root owner name
		msg = binary.BigEndian.AppendUint16(msg, typeOPT)
		msg = binary.BigEndian.AppendUint16(msg, size)
		msg = binary.BigEndian.AppendUint32(msg, ttl)
		msg = binary.BigEndian.AppendUint16(msg, 0)
	}
	return outgoing{msg: msg, qend: qend, zone: q.Zone}, nil
}

// randomCase flips each ASCII letter of the wire name n to a random case. Label length bytes are
// skipped so that a length that happens to equal a letter's code is never touched.
func randomCase(n []byte) {
	var bits [(maxNameLen + 7) / 8]byte
	rand.Read(bits[:(len(n)+7)/8])
	for off := range wire.Labels(n) {
		for i := off + 1; i < off+1+int(n[off]); i++ {
			c := n[i] | 0x20
			if c < 'a' || c > 'z' {
				continue
			}
			if bits[i/8]&(1<<(i%8)) != 0 {
				c &^= 0x20
			}
			n[i] = c
		}
	}
}

// randomID returns a query ID from the system's CSPRNG, so that IDs cannot be predicted from
// earlier ones.
func randomID() uint16 {
	var b [2]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint16(b[:])
}

// Reasons a reply is not accepted. All of them are counted as mismatches.
var (
	errShort       = errors.New("shorter than its header and question")
	errNotResponse = errors.New("QR bit clear")
	errID          = errors.New("ID differs")
	errOpcode      = errors.New("opcode is not QUERY")
	errQDCount     = errors.New("question count is not 1")
	errQuestion    = errors.New("question differs (name, case, type or class)")
	errMalformed   = errors.New("malformed record section")
	errTwoOPT      = errors.New("more than one OPT record")
)

// validate checks that b answers the query sent as out: a response (QR=1) with the same ID,
// opcode QUERY, exactly one question equal byte for byte (so also in letter case) to the one sent,
// and record sections that parse. It returns the reply's header fields; b is not retained.
//
// A reply without the question (QDCOUNT 0, as some old servers send with FORMERR to an EDNS
// query) is dropped too: nothing in it ties it to this query. The caller sees a timeout and may
// retry with Query.NoEDNS.
func validate(b []byte, out outgoing) (Reply, error) {
	r, err := validateHead(b, out)
	if err != nil {
		return Reply{}, err
	}
	if err := scanRecords(b, out.qend, &r); err != nil {
		return Reply{}, err
	}
	return r, nil
}

// validateHead checks the header and question of b against out: enough to know that b answers
// out, even when the records after the question were cut off.
func validateHead(b []byte, out outgoing) (Reply, error) {
	if len(b) < out.qend || len(out.msg) < out.qend || out.qend < headerLen {
		return Reply{}, errShort
	}
	flags := binary.BigEndian.Uint16(b[2:])
	switch {
	case flags&query.FlagQR == 0:
		return Reply{}, errNotResponse
	case b[0] != out.msg[0] || b[1] != out.msg[1]:
		return Reply{}, errID
	case (flags>>11)&0xf != 0:
		return Reply{}, errOpcode
	case binary.BigEndian.Uint16(b[4:]) != 1:
		return Reply{}, errQDCount
	case !bytes.Equal(b[headerLen:out.qend], out.msg[headerLen:out.qend]):
		return Reply{}, errQuestion
	}
	return Reply{Flags: flags, Rcode: flags & 0xf}, nil
}

// scanRecords walks the answer, authority and additional sections starting at off, checking that
// every record fits in b, and takes the extended rcode and payload from the OPT record. Bytes after
// the last record are tolerated: some servers pad, and they cannot change what was parsed.
func scanRecords(b []byte, off int, r *Reply) error {
	an := int(binary.BigEndian.Uint16(b[6:]))
	ns := int(binary.BigEndian.Uint16(b[8:]))
	ar := int(binary.BigEndian.Uint16(b[10:]))
	for i := range an + ns + ar {
		next, err := wire.SkipName(b, off)
		if err != nil || next+10 > len(b) {
			return errMalformed
		}
		rtype := binary.BigEndian.Uint16(b[next:])
		class := binary.BigEndian.Uint16(b[next+2:])
		ttl := binary.BigEndian.Uint32(b[next+4:])
		rdlen := int(binary.BigEndian.Uint16(b[next+8:]))
		end := next + 10 + rdlen
		if end > len(b) {
			return errMalformed
		}
		if rtype == typeOPT && i >= an+ns {
			if r.EDNS {
				return errTwoOPT
			}
			r.EDNS = true
			r.UDPSize = class
			r.Rcode |= uint16(ttl>>24) << 4
		}
		off = end
	}
	return nil
}
