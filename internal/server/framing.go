package server

import (
	"encoding/binary"
	"errors"
	"io"

	"warden/internal/query"
)

// The framing of the stream transports: TCP and DoT (RFC 7766) and each DoQ stream (RFC 9250
// §4.2) carry a message behind its two-byte length (RFC 1035 §4.2.2). These functions read from
// an io.Reader so that the fuzz targets drive them with any bytes, split anywhere.

// errEmptyMessage is a length of 0, which carries no message; a TCP connection that sends one
// is closed.
var errEmptyMessage = errors.New("message of length 0")

// errDoQProtocol is a DoQ query that breaks RFC 9250 §4.2.1: shorter than a header, or a
// message ID other than 0. The connection is closed with DOQ_PROTOCOL_ERROR.
var errDoQProtocol = errors.New("doq query shorter than a header or with a message ID other than 0")

// readMessage reads one length-prefixed message from r into buf, which it replaces by a larger
// one when the message does not fit; the result aliases the buffer used. The length is read into
// buf too: a local array would escape through the io.Reader and cost an allocation per message.
// io.EOF means the stream ended cleanly between two messages; io.ErrUnexpectedEOF that it ended
// inside one.
func readMessage(r io.Reader, buf []byte) ([]byte, error) {
	if cap(buf) < 2 {
		buf = make([]byte, 2, 512)
	}
	if _, err := io.ReadFull(r, buf[:2]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(buf[:2]))
	if n == 0 {
		return nil, errEmptyMessage
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// readDoQQuery reads the query of one DoQ stream: a message framed as on TCP, at least a header
// long, with message ID 0. What follows it on the stream is not read.
func readDoQQuery(r io.Reader, buf []byte) ([]byte, error) {
	msg, err := readMessage(r, buf)
	switch {
	case errors.Is(err, errEmptyMessage):
		return nil, errDoQProtocol
	case err != nil:
		return nil, err
	case len(msg) < query.HeaderLen || binary.BigEndian.Uint16(msg) != 0:
		return nil, errDoQProtocol
	}
	return msg, nil
}
