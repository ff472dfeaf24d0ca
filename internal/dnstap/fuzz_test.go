package dnstap

import (
	"bytes"
	"net"
	"testing"
)

// FuzzReadControl feeds readControl what a collector might send: it must return a frame or an
// error, never panic, and a frame it returns must survive being written and read again.
func FuzzReadControl(f *testing.F) {
	f.Add(appendControl(nil, controlAccept, ContentType))
	f.Add(appendControl(nil, controlFinish, ""))
	f.Add(append(appendControl(nil, controlAccept, "a"), 0, 0, 0, 1))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 5, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := readControl(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(c.contentTypes) > maxControlLen/8 {
			t.Fatalf("%d content types from at most %d bytes", len(c.contentTypes), maxControlLen)
		}
		if len(c.contentTypes) == 1 && len(c.contentTypes[0]) > 0 {
			again, err := readControl(bytes.NewReader(appendControl(nil, c.typ, string(c.contentTypes[0]))))
			if err != nil || again.typ != c.typ || !again.accepts(string(c.contentTypes[0])) {
				t.Fatalf("%+v written and read again: %+v %v", c, again, err)
			}
		}
	})
}

// netPipe is a connected pair of unix sockets, closed with the test.
func netPipe(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}
