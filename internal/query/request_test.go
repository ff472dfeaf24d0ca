package query

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// queryWith builds a query for "a." A with an OPT record holding options.
func queryWith(options []byte) []byte {
	m := []byte{0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 'a', 0, 0, 1, 0, 1}
	m = append(m, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0)
	m = binary.BigEndian.AppendUint16(m, uint16(len(options)))
	return append(m, options...)
}

func cookieOption(n int) []byte {
	o := []byte{0, 10, 0, byte(n)}
	for i := range n {
		o = append(o, byte(i+1))
	}
	return o
}

func TestParseCookie(t *testing.T) {
	for _, c := range []struct {
		name    string
		options []byte
		verdict Verdict
		client  int // length of ClientCookie()
		server  int
		bad     bool
	}{
		{"none", nil, Accept, 0, 0, false},
		{"client only", cookieOption(8), Accept, 8, 0, false},
		{"client and server", cookieOption(24), Accept, 8, 16, false},
		{"longest server cookie", cookieOption(40), Accept, 8, 32, false},
		{"shortest server cookie", cookieOption(16), Accept, 8, 8, false},
		{"too short", cookieOption(5), Accept, 0, 0, true},
		{"server cookie too short", cookieOption(12), Accept, 0, 0, true},
		{"too long", cookieOption(41), Accept, 0, 0, true},
		{"after another option", append([]byte{0, 3, 0, 0}, cookieOption(8)...), Accept, 8, 0, false},
		{"the first of two", append(cookieOption(8), cookieOption(5)...), Accept, 8, 0, false},
	} {
		var r Request
		r.Wire = queryWith(c.options)
		if v := r.Parse(); v != c.verdict {
			t.Errorf("%s: verdict %d, want %d", c.name, v, c.verdict)
			continue
		}
		if len(r.ClientCookie()) != c.client || len(r.ServerCookie()) != c.server || r.BadCookie != c.bad {
			t.Errorf("%s: client %d server %d bad %t, want %d %d %t", c.name,
				len(r.ClientCookie()), len(r.ServerCookie()), r.BadCookie, c.client, c.server, c.bad)
		}
		if c.client > 0 && !bytes.Equal(r.ClientCookie(), []byte{1, 2, 3, 4, 5, 6, 7, 8}) {
			t.Errorf("%s: client cookie %x", c.name, r.ClientCookie())
		}
	}
	// A request reused for a query without the option forgets the last one.
	var r Request
	r.Wire = queryWith(cookieOption(24))
	r.Parse()
	r.Wire = queryWith(nil)
	r.Parse()
	if r.CookieLen != 0 || r.BadCookie {
		t.Fatal("cookie kept from the previous query")
	}
}

func TestParseCookieAllocs(t *testing.T) {
	var r Request
	r.Wire = queryWith(cookieOption(24))
	if n := testing.AllocsPerRun(100, func() { r.Parse() }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// FuzzParse feeds arbitrary messages to Parse: it must not panic, and a cookie it reports must
// have a length RFC 7873 allows and be the bytes of the message's option.
func FuzzParse(f *testing.F) {
	f.Add(queryWith(nil))
	f.Add(queryWith(cookieOption(8)))
	f.Add(queryWith(cookieOption(24)))
	f.Add(queryWith(cookieOption(5)))
	f.Add(queryWith(append([]byte{0, 3, 0, 0}, cookieOption(40)...)))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var r Request
		r.Wire = msg
		r.Parse()
		n := int(r.CookieLen)
		if n != 0 && n != ClientCookieLen && (n < ClientCookieLen+MinServerCookieLen || n > ClientCookieLen+MaxServerCookieLen) {
			t.Fatalf("cookie of %d bytes", n)
		}
		if n > 0 && (r.BadCookie || !r.HasEDNS || !bytes.Contains(msg, r.Cookie[:n])) {
			t.Fatalf("cookie %x not from the message (bad %t, edns %t)", r.Cookie[:n], r.BadCookie, r.HasEDNS)
		}
	})
}
