package dnstap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame Streams (the fstrm library's protocol, which dnstap travels in): data frames are a
// 32-bit big-endian length and the payload; a length of 0 escapes a control frame, which is a
// 32-bit length, a 32-bit type and fields, each a 32-bit type, a 32-bit length and its bytes.
const (
	controlAccept = 0x01
	controlStart  = 0x02
	controlStop   = 0x03
	controlReady  = 0x04
	controlFinish = 0x05

	fieldContentType = 0x01

	// maxControlLen is the longest control frame a peer may send (fstrm's own bound).
	maxControlLen = 512
)

// ContentType is the one content type Warden writes.
const ContentType = "protobuf:dnstap.Dnstap"

// control is one control frame.
type control struct {
	typ          uint32
	contentTypes [][]byte
}

func controlName(t uint32) string {
	switch t {
	case controlAccept:
		return "ACCEPT"
	case controlStart:
		return "START"
	case controlStop:
		return "STOP"
	case controlReady:
		return "READY"
	case controlFinish:
		return "FINISH"
	}
	return fmt.Sprintf("type %#x", t)
}

// accepts reports whether c names the content type ct.
func (c *control) accepts(ct string) bool {
	for _, t := range c.contentTypes {
		if string(t) == ct {
			return true
		}
	}
	return false
}

// appendControl appends a control frame of type typ carrying ct (none when empty), escape
// included.
func appendControl(b []byte, typ uint32, ct string) []byte {
	n := 4
	if ct != "" {
		n += 8 + len(ct)
	}
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, typ)
	if ct != "" {
		b = binary.BigEndian.AppendUint32(b, fieldContentType)
		b = binary.BigEndian.AppendUint32(b, uint32(len(ct)))
		b = append(b, ct...)
	}
	return b
}

// errNotControl means a data frame came where the protocol allows control frames only.
var errNotControl = errors.New("frame streams: a data frame where a control frame was expected")

// readControl reads one control frame, escape included, from a collector. Everything in it is
// outside input: lengths are checked against the frame and the frame against maxControlLen.
func readControl(r io.Reader) (control, error) {
	var head [8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return control{}, fmt.Errorf("frame streams: reading a control frame: %w", err)
	}
	if binary.BigEndian.Uint32(head[:4]) != 0 {
		return control{}, errNotControl
	}
	n := binary.BigEndian.Uint32(head[4:])
	if n > maxControlLen {
		return control{}, fmt.Errorf("frame streams: control frame of %d bytes (at most %d)", n, maxControlLen)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return control{}, fmt.Errorf("frame streams: control frame of %d bytes cut short: %w", n, err)
	}
	return parseControl(body)
}

// parseControl reads the type and fields of a control frame's body.
func parseControl(b []byte) (control, error) {
	if len(b) < 4 {
		return control{}, fmt.Errorf("frame streams: control frame of %d bytes has no type", len(b))
	}
	c := control{typ: binary.BigEndian.Uint32(b)}
	for off := 4; off < len(b); {
		if len(b)-off < 8 {
			return control{}, fmt.Errorf("frame streams: %s frame: field header cut short at byte %d", controlName(c.typ), off)
		}
		ft, fl := binary.BigEndian.Uint32(b[off:]), binary.BigEndian.Uint32(b[off+4:])
		off += 8
		if uint64(fl) > uint64(len(b)-off) {
			return control{}, fmt.Errorf("frame streams: %s frame: field of %d bytes at byte %d runs past the frame's end", controlName(c.typ), fl, off-8)
		}
		// Unknown fields are skipped, as the protocol asks, so that a newer collector still works.
		if ft == fieldContentType {
			c.contentTypes = append(c.contentTypes, bytes.Clone(b[off:off+int(fl)]))
		}
		off += int(fl)
	}
	return c, nil
}
