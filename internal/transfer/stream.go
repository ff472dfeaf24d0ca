package transfer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/tsig"
	"warden/internal/wire"
	"warden/internal/zone"
)

// Question is the question of a transfer request as it arrived.
type Question struct {
	Name  []byte // wire form, in the letter case the client sent
	Type  uint16
	Class uint16
}

// Request is what a Writer needs to know of the AXFR or IXFR request it answers.
type Request struct {
	ID       uint16
	Question Question
	// Key signs every response message when set; RequestMAC is the MAC of the verified request.
	Key        *tsig.Key
	RequestMAC []byte
	// MaxMessage bounds each message in bytes, TSIG included; 0 means 16 KiB, and it is never
	// above 65535.
	MaxMessage int
}

const (
	defaultMaxMessage = 16 << 10
	minMaxMessage     = 512
	// tsigMACRoom is the largest MAC (HMAC-SHA512) a TSIG record may carry.
	tsigMACRoom = 64
)

// Writer packs the records of one transfer response into messages and hands each finished one,
// signed when the request was, to send. Names are compressed within each message. send must not
// keep msg after it returns: the buffer is reused.
type Writer struct {
	req      *Request
	send     func(msg []byte) error
	max      int // bytes for header, question and answers: MaxMessage less the TSIG's room
	buf      []byte
	qEnd     int // end of the question: where answers start
	count    int // answer records in buf
	comp     compressor
	signer   *tsig.StreamSigner // nil when the request was not signed
	messages int
	err      error
	now      func() time.Time
	// frames, when write is set, gathers finished messages behind their two-byte lengths until
	// there are framedBatch bytes to write at once.
	frames []byte
	write  func(frames []byte) error
	// lastOwner and lastOwnerAt are the previous record's owner and where it was written: records
	// come node by node, so most owners repeat the one before and become a pointer at once.
	lastOwner   string
	lastOwnerAt int // 0: none in this message
}

// NewWriter starts the response to req.
func NewWriter(req *Request, send func(msg []byte) error) *Writer {
	w := &Writer{req: req, send: send, now: time.Now}
	size := req.MaxMessage
	if size <= 0 {
		size = defaultMaxMessage
	}
	size = min(max(size, minMaxMessage), 0xFFFF)
	w.max = size
	if req.Key != nil {
		// The TSIG record: owner, type/class/TTL/rdlength, algorithm, 16 bytes of fixed fields.
		w.max -= len(req.Key.Name) + 2 + 10 + len(req.Key.Algorithm) + 2 + 16 + tsigMACRoom
		signer, err := tsig.NewStreamSigner(*req.Key, req.RequestMAC)
		if err != nil {
			w.err = fmt.Errorf("transfer response: %w", err)
		}
		w.signer = signer
	}
	if err := wire.CheckName(req.Question.Name); err != nil {
		w.err = fmt.Errorf("transfer response: question: %w", err)
		req.Question.Name = []byte{0}
	}
	w.buf = make([]byte, 0, size)
	w.start()
	return w
}

// framedBatch is about how many bytes of framed messages NewFramedWriter gathers for one write:
// four 16 KiB messages, the most a loopback or GSO segment carries, so that a transfer of a
// million records costs a few hundred system calls rather than one per message.
const framedBatch = 64 << 10

// NewFramedWriter starts the response to req for a stream transport (TCP, TLS, QUIC): write
// receives one or more messages, each behind its two-byte length (RFC 1035 §4.2.2), and must not
// keep frames after it returns.
func NewFramedWriter(req *Request, write func(frames []byte) error) *Writer {
	w := NewWriter(req, nil)
	w.write = write
	// frames grows as messages come: an IXFR of a few records, the most common transfer, takes
	// a few hundred bytes, a whole zone about framedBatch and one message more.
	return w
}

// start begins a message: header, the question echoed, and the question name as the first
// compression target.
func (w *Writer) start() {
	w.buf = w.buf[:0]
	var h [12]byte
	binary.BigEndian.PutUint16(h[0:], w.req.ID)
	h[2] = 0x84 // QR, opcode QUERY, AA
	binary.BigEndian.PutUint16(h[4:], 1)
	w.buf = append(w.buf, h[:]...)
	w.comp.reset()
	w.buf = w.comp.write(w.buf, w.req.Question.Name)
	w.buf = binary.BigEndian.AppendUint16(w.buf, w.req.Question.Type)
	w.buf = binary.BigEndian.AppendUint16(w.buf, w.req.Question.Class)
	w.qEnd, w.count, w.lastOwnerAt = len(w.buf), 0, 0
}

// Add appends rr to the response, sending the current message first when rr does not fit.
func (w *Writer) Add(rr dns.RR) error {
	if w.err != nil {
		return w.err
	}
	at := len(w.buf)
	err := w.appendRR(rr)
	if err == nil && len(w.buf) <= w.max {
		w.count++
		return nil
	}
	w.buf = w.buf[:at]
	if err != nil {
		return w.fail(fmt.Errorf("transfer response: pack %s: %w", rr, err))
	}
	if w.count == 0 {
		return w.fail(fmt.Errorf("transfer response: %s does not fit in a message of %d bytes", rr, w.max))
	}
	if err := w.flush(); err != nil {
		return err
	}
	return w.Add(rr)
}

func (w *Writer) fail(err error) error {
	w.err = err
	return err
}

// Close sends the last message. A response without records still sends one message, so the
// client is not left waiting.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.count > 0 || w.messages == 0 {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if err := w.writeFrames(); err != nil {
		return err
	}
	w.err = errors.New("transfer response: writer is closed")
	return nil
}

func (w *Writer) flush() error {
	binary.BigEndian.PutUint16(w.buf[6:], uint16(w.count))
	msg := w.buf
	if w.signer != nil {
		signed, err := w.signer.Sign(msg, w.now())
		if err != nil {
			return w.fail(fmt.Errorf("transfer response: %w", err))
		}
		msg = signed
	}
	w.messages++
	if w.write != nil {
		w.frames = binary.BigEndian.AppendUint16(w.frames, uint16(len(msg)))
		w.frames = append(w.frames, msg...)
		if len(w.frames) >= framedBatch {
			if err := w.writeFrames(); err != nil {
				return err
			}
		}
	} else if err := w.send(msg); err != nil {
		return w.fail(fmt.Errorf("transfer response: send message %d: %w", w.messages, err))
	}
	w.start()
	return nil
}

func (w *Writer) writeFrames() error {
	if len(w.frames) == 0 {
		return nil
	}
	err := w.write(w.frames)
	w.frames = w.frames[:0]
	if err != nil {
		return w.fail(fmt.Errorf("transfer response: send up to message %d: %w", w.messages, err))
	}
	return nil
}

// WriteAXFR sends a whole zone: records yields the SOA first (as zone.Zone.All does), and the SOA
// is sent again at the end, as RFC 5936 §2.2 asks.
func WriteAXFR(w *Writer, records iter.Seq[dns.RR]) error {
	var soa dns.RR
	for rr := range records {
		if soa == nil {
			if _, ok := rr.(*dns.SOA); !ok {
				return w.fail(fmt.Errorf("AXFR: first record is %s, not the SOA", rr))
			}
			soa = rr
		}
		if err := w.Add(rr); err != nil {
			return err
		}
	}
	if soa == nil {
		return w.fail(errors.New("AXFR: no records"))
	}
	if err := w.Add(soa); err != nil {
		return err
	}
	return w.Close()
}

// WriteIXFR sends the incremental form of RFC 1995 §4: the current SOA, then each diff as its old
// SOA, the records removed, its new SOA, the records added, and the current SOA again. With no
// diffs it sends the current SOA alone, which tells the client it is up to date.
func WriteIXFR(w *Writer, current *dns.SOA, diffs []zone.Diff) error {
	if current == nil {
		return w.fail(errors.New("IXFR: no current SOA"))
	}
	if err := w.Add(current); err != nil {
		return err
	}
	for i, d := range diffs {
		if d.From == nil || d.To == nil {
			return w.fail(fmt.Errorf("IXFR: diff %d lacks its SOA", i+1))
		}
		if err := w.Add(d.From); err != nil {
			return err
		}
		for _, rr := range d.Removed {
			if err := w.Add(rr); err != nil {
				return err
			}
		}
		if err := w.Add(d.To); err != nil {
			return err
		}
		for _, rr := range d.Added {
			if err := w.Add(rr); err != nil {
				return err
			}
		}
	}
	if len(diffs) > 0 {
		if err := w.Add(current); err != nil {
			return err
		}
	}
	return w.Close()
}

// appendRR packs rr at the end of the message. The common types are packed here, without the
// allocations of packing through a dns.Msg; the rest go through wire.Rdata.
func (w *Writer) appendRR(rr dns.RR) error {
	h := rr.Header()
	if w.lastOwnerAt > 0 && h.Name == w.lastOwner {
		w.buf = append(w.buf, 0xC0|byte(w.lastOwnerAt>>8), byte(w.lastOwnerAt))
	} else {
		at := len(w.buf)
		if err := w.appendName(h.Name, true); err != nil {
			return err
		}
		w.lastOwner, w.lastOwnerAt = h.Name, 0
		if at < 0x3FFF {
			w.lastOwnerAt = at
		}
	}
	typ := dns.RRToType(rr)
	var fixed [10]byte
	binary.BigEndian.PutUint16(fixed[0:], typ)
	binary.BigEndian.PutUint16(fixed[2:], h.Class)
	binary.BigEndian.PutUint32(fixed[4:], h.TTL)
	w.buf = append(w.buf, fixed[:]...)
	rdAt := len(w.buf)
	if err := w.appendRdata(rr); err != nil {
		return err
	}
	rdlen := len(w.buf) - rdAt
	if rdlen > 0xFFFF {
		return fmt.Errorf("rdata of %d bytes", rdlen)
	}
	binary.BigEndian.PutUint16(w.buf[rdAt-2:], uint16(rdlen))
	return nil
}

func (w *Writer) appendRdata(rr dns.RR) error {
	switch x := rr.(type) {
	case *dns.A:
		if !x.Addr.Is4() {
			return errors.New("A record without an IPv4 address")
		}
		a := x.Addr.As4()
		w.buf = append(w.buf, a[:]...)
	case *dns.AAAA:
		if !x.Addr.Is6() {
			return errors.New("AAAA record without an IPv6 address")
		}
		a := x.Addr.As16()
		w.buf = append(w.buf, a[:]...)
	case *dns.NS:
		return w.appendName(x.Ns, true)
	case *dns.CNAME:
		return w.appendName(x.Target, true)
	case *dns.PTR:
		return w.appendName(x.Ptr, true)
	case *dns.MX:
		w.buf = binary.BigEndian.AppendUint16(w.buf, x.Preference)
		return w.appendName(x.Mx, true)
	case *dns.SOA:
		if err := w.appendName(x.Ns, true); err != nil {
			return err
		}
		if err := w.appendName(x.Mbox, true); err != nil {
			return err
		}
		for _, v := range [...]uint32{x.Serial, x.Refresh, x.Retry, x.Expire, x.Minttl} {
			w.buf = binary.BigEndian.AppendUint32(w.buf, v)
		}
	case *dns.SRV:
		w.buf = binary.BigEndian.AppendUint16(w.buf, x.Priority)
		w.buf = binary.BigEndian.AppendUint16(w.buf, x.Weight)
		w.buf = binary.BigEndian.AppendUint16(w.buf, x.Port)
		return w.appendName(x.Target, false) // RFC 2782: the target is never compressed
	case *dns.TXT:
		if !w.appendTXT(x.Txt) {
			return w.appendOther(rr)
		}
	case *dns.MINFO:
		// Its two names could compress against each other in a one-record message; written
		// plainly here, so no pointer ever refers into another message.
		if err := w.appendName(x.Rmail, false); err != nil {
			return err
		}
		return w.appendName(x.Email, false)
	default:
		return w.appendOther(rr)
	}
	return nil
}

// appendTXT writes character strings that hold no escapes; it reports false, having written
// nothing, for strings that need the library's unescaping.
func (w *Writer) appendTXT(txt []string) bool {
	for _, s := range txt {
		if len(s) > 255 || strings.IndexByte(s, '\\') >= 0 {
			return false
		}
	}
	for _, s := range txt {
		w.buf = append(w.buf, byte(len(s)))
		w.buf = append(w.buf, s...)
	}
	return true
}

func (w *Writer) appendOther(rr dns.RR) error {
	rd, err := wire.Rdata(rr)
	if err != nil {
		return err
	}
	w.buf = append(w.buf, rd...)
	return nil
}

// appendName writes a presentation-form name, compressed against earlier names of the message
// when compress is set.
func (w *Writer) appendName(name string, compress bool) error {
	if compress {
		var err error
		w.buf, err = w.comp.writeText(w.buf, name)
		return err
	}
	var err error
	w.buf, err = wire.AppendName(w.buf, name)
	return err
}
