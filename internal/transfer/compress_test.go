package transfer

import (
	"strings"
	"testing"

	"warden/internal/wire"
)

// FuzzCompressor writes a question and then the names of a zone-file text, with some padding that
// pushes later names past where a pointer can reach, and reads every name back: it must be the
// name written (letter case aside, since a pointer may lead to a copy in other case), every
// pointer must lead backwards, and a name the converter refuses must be refused alike.
func FuzzCompressor(f *testing.F) {
	f.Add("www.example.test. mail.example.test. example.test. ns1.provider.net. ns2.provider.net. WWW.Example.TEST. .", uint16(0))
	f.Add("a.b.c.example.test. b.c.example.test. x.c.example.test. ns1.provider.net. a.b.c.example.test.", uint16(17000))
	f.Add("example.test.. a..b. toolong.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa. rel", uint16(3))
	f.Fuzz(func(t *testing.T, names string, pad uint16) {
		var c compressor
		c.reset()
		msg := c.write(make([]byte, 12, 1<<16), []byte("\x07example\x04test\x00"))
		type written struct {
			at   int
			name string
		}
		var ws []written
		for i, n := range strings.Fields(names) {
			if i == 100 {
				break
			}
			if i == 3 {
				msg = append(msg, make([]byte, int(pad)%20000)...)
			}
			at := len(msg)
			out, err := c.writeText(msg, n)
			if _, werr := wire.AppendName(nil, n); (err == nil) != (werr == nil) {
				t.Fatalf("%q: compressor says %v, converter %v", n, err, werr)
			}
			if err != nil {
				if len(out) != at {
					t.Fatalf("%q refused after writing %d bytes", n, len(out)-at)
				}
				continue
			}
			msg = out
			ws = append(ws, written{at, n})
		}
		for _, w := range ws {
			got, _, err := wire.ReadName(msg, w.at, nil, true)
			if err != nil {
				t.Fatalf("%q at %d: %v", w.name, w.at, err)
			}
			if text := wire.NameString(got); !strings.EqualFold(text, w.name) {
				t.Fatalf("%q at %d reads back as %q", w.name, w.at, text)
			}
		}
	})
}
