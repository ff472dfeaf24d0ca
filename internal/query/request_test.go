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

// FuzzParse feeds arbitrary messages to Parse: it must not panic, a cookie it reports must have a
// length RFC 7873 allows and be the bytes of the message's option, and the lower-case name must be
// the question name's letters lowered one by one.
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
		if len(r.Lower()) != len(r.QName) {
			t.Fatalf("lower-case name of %d bytes for a name of %d", len(r.Lower()), len(r.QName))
		}
		for i, c := range r.QName {
			if r.Lower()[i] != toLower(c) {
				t.Fatalf("lower-case name %x for %x", r.Lower(), r.QName)
			}
		}
	})
}

// lowerWord lower-cases exactly the bytes 'A' to 'Z' of a word, whatever their neighbours: every
// byte value is tried at every position, among neighbours that could carry or borrow.
func TestLowerWord(t *testing.T) {
	for _, fill := range []byte{0x00, 'A', 'Z', '@', '[', 0x7F, 0x80, 0xC1, 0xDA, 0xFF} {
		for pos := range 8 {
			for b := range 256 {
				var in [8]byte
				for i := range in {
					in[i] = fill
				}
				in[pos] = byte(b)
				got := binary.LittleEndian.Uint64(in[:])
				got = lowerWord(got)
				for i := range in {
					want := toLower(in[i])
					if g := byte(got >> (8 * i)); g != want {
						t.Fatalf("byte %d of %x: got %#x, want %#x", i, in, g, want)
					}
				}
			}
		}
	}
}

// The question name is kept in lower case, whatever its length and letter case, and QName keeps
// the letters as sent.
func TestParseLowersName(t *testing.T) {
	long := "\x1eABCDEFGHIJKLMNOPQRSTUVWXYZ@[`{\x1eabcdefghijklmnopqrstuvwxyz0123\x04-_\x80\xC1\x00"
	for _, name := range []string{"\x00", "\x01A\x00", "\x03WwW\x07ExAmPlE\x03oRg\x00", long} {
		msg := append([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, name...)
		msg = append(msg, 0, 1, 0, 1)
		var r Request
		r.Wire = msg
		if v := r.Parse(); v != Accept {
			t.Fatalf("%q: verdict %d", name, v)
		}
		if string(r.QName) != name {
			t.Errorf("QName %q, want %q", r.QName, name)
		}
		want := []byte(name)
		for i, c := range want {
			if c >= 'A' && c <= 'Z' {
				want[i] = c + 'a' - 'A'
			}
		}
		if string(r.Lower()) != string(want) {
			t.Errorf("Lower %q, want %q", r.Lower(), want)
		}
	}
}
