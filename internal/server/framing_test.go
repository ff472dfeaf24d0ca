package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"warden/internal/query"
)

// chunkReader returns at most size bytes a read, so that a message and its length arrive split
// anywhere, as TCP segments and QUIC frames may split them.
type chunkReader struct {
	data []byte
	size int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.size)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// frameSeeds are streams as clients send them: pipelined queries, and the ways a stream breaks.
func frameSeeds(t testing.TB) [][]byte {
	q1 := newQuery(t, 0, "www.example.org.")
	q2 := newQuery(t, 0x1234, "a.very.long.name.below.example.net.")
	pipelined := append(tcpFrame(q1), tcpFrame(q2)...)
	pipelined = append(pipelined, tcpFrame(q1)...)
	return [][]byte{
		tcpFrame(q1),
		pipelined,
		append(tcpFrame(q1), 0, 0),            // a length of 0 after a query
		append(tcpFrame(q1), 0),               // a stream that ends inside a length
		tcpFrame(q2)[:20],                     // one that ends inside a message
		{0xFF, 0xFF, 1, 2, 3},                 // a length far beyond the stream
		append([]byte{0, 5}, q1[:5]...),       // shorter than a header
		append(tcpFrame(q2), tcpFrame(q1)...), // a DoQ query whose ID is not 0, then another
		append(tcpFrame(make([]byte, 12)), 9), // a bare header, then a stray byte
		{},
	}
}

// FuzzStreamMessages reads a TCP or DoT stream of pipelined queries, split into reads of 1 to 8
// bytes, and checks every message, and the error it stops with, against the framing read
// independently: the message behind each length, errEmptyMessage for a length of 0, io.EOF at
// a clean end, io.ErrUnexpectedEOF inside a length or message. The buffer is reused from one
// message to the next, as the server's pooled jobs reuse theirs.
func FuzzStreamMessages(f *testing.F) {
	for i, s := range frameSeeds(f) {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		r := bufio.NewReaderSize(&chunkReader{data: data, size: int(split%8) + 1}, 16)
		var buf []byte
		for off := 0; ; {
			msg, err := readMessage(r, buf)
			rest := data[off:]
			switch {
			case len(rest) == 0:
				if err != io.EOF {
					t.Fatalf("at the end of the stream: %d bytes, err %v; want io.EOF", len(msg), err)
				}
				return
			case len(rest) == 1:
				if err != io.ErrUnexpectedEOF {
					t.Fatalf("one byte of a length left: err %v; want io.ErrUnexpectedEOF", err)
				}
				return
			}
			n := int(binary.BigEndian.Uint16(rest))
			switch {
			case n == 0:
				if !errors.Is(err, errEmptyMessage) {
					t.Fatalf("at %d, a length of 0: err %v", off, err)
				}
				return
			case 2+n > len(rest):
				if err != io.ErrUnexpectedEOF || msg != nil {
					t.Fatalf("at %d, %d of %d bytes: %d bytes, err %v; want io.ErrUnexpectedEOF", off, len(rest)-2, n, len(msg), err)
				}
				return
			}
			if err != nil || !bytes.Equal(msg, rest[2:2+n]) {
				t.Fatalf("at %d: message %x, err %v; want %x", off, msg, err, rest[2:2+n])
			}
			off += 2 + n
			buf = msg
		}
	})
}

// FuzzDoQQuery reads the query of one DoQ stream: the message behind the first length when it
// is at least a header with ID 0; errDoQProtocol when it is whole but not such a message (or of
// length 0); an I/O error when the stream ends before it is whole. What follows is not read.
func FuzzDoQQuery(f *testing.F) {
	for i, s := range frameSeeds(f) {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		src := &chunkReader{data: data, size: int(split%8) + 1}
		msg, err := readDoQQuery(src, nil)
		if len(data) < 2 {
			if err == nil || errors.Is(err, errDoQProtocol) {
				t.Fatalf("%d bytes: err %v; want an I/O error", len(data), err)
			}
			return
		}
		n := int(binary.BigEndian.Uint16(data))
		switch {
		case n == 0:
			if !errors.Is(err, errDoQProtocol) {
				t.Fatalf("a length of 0: err %v", err)
			}
		case 2+n > len(data):
			if err != io.ErrUnexpectedEOF {
				t.Fatalf("%d of %d bytes: err %v; want io.ErrUnexpectedEOF", len(data)-2, n, err)
			}
		case n < query.HeaderLen || binary.BigEndian.Uint16(data[2:]) != 0:
			if !errors.Is(err, errDoQProtocol) || msg != nil {
				t.Fatalf("message %x: err %v; want errDoQProtocol", data[2:2+n], err)
			}
		default:
			if err != nil || !bytes.Equal(msg, data[2:2+n]) {
				t.Fatalf("message %x, err %v; want %x", msg, err, data[2:2+n])
			}
			// The bytes after the query stay on the stream.
			if unread := len(src.data); unread > len(data)-2-n {
				t.Fatalf("%d bytes unread, but only %d follow the query", unread, len(data)-2-n)
			}
		}
	})
}

// Reading pipelined queries allocates nothing once the buffer is large enough: the length is
// read into the buffer, not into a local array that the io.Reader would make escape.
func TestReadMessageAllocs(t *testing.T) {
	q := tcpFrame(newQuery(t, 1, "www.example.org."))
	stream := bytes.Repeat(q, 200)
	src := bytes.NewReader(stream)
	br := bufio.NewReaderSize(src, 4096)
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		if src.Len() == 0 && br.Buffered() == 0 {
			src.Reset(stream)
		}
		msg, err := readMessage(br, buf)
		if err != nil || len(msg) != len(q)-2 {
			t.Fatalf("message of %d bytes, err %v", len(msg), err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per message", allocs)
	}
}

// BenchmarkReadMessage reads pipelined queries from a buffered stream, as a TCP connection's
// reader does.
func BenchmarkReadMessage(b *testing.B) {
	q := tcpFrame(newQuery(b, 1, "www.example.org."))
	stream := bytes.Repeat(q, 1000)
	src := bytes.NewReader(stream)
	br := bufio.NewReaderSize(src, 4096)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(q)))
	for b.Loop() {
		if src.Len() == 0 && br.Buffered() == 0 {
			src.Reset(stream)
		}
		if _, err := readMessage(br, buf); err != nil {
			b.Fatal(err)
		}
	}
}
