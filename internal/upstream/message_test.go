package upstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"codeberg.org/miekg/dns"
)

func TestNewQuery(t *testing.T) {
	tests := []struct {
		in   string
		want []byte // nil: an error is expected
	}{
		{"www.example.", []byte("\x03www\x07example\x00")},
		{"www.example", []byte("\x03www\x07example\x00")},
		{"WwW.Example.", []byte("\x03WwW\x07Example\x00")},
		{".", []byte{0}},
		{"", []byte{0}},
		{"a..b.", nil},
		{`a\.b.`, nil},
		{`a\065.`, nil},
		{string(bytes.Repeat([]byte("x"), 64)) + ".", nil},
		{string(bytes.Repeat([]byte("abcdefg."), 32)), nil}, // 256 bytes in wire form
	}
	for _, tt := range tests {
		q, err := NewQuery(tt.in, dns.TypeA)
		if tt.want == nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Errorf("%q: err %v, want ErrBadQuery", tt.in, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(q.Name, tt.want) || q.Class != dns.ClassINET {
			t.Errorf("%q: %q %v, want %q", tt.in, q.Name, err, tt.want)
		}
	}
}

// TestPack checks the packed query with the DNS library: flags, question and the OPT record.
func TestPack(t *testing.T) {
	q := mustQuery(t, "www.example.", dns.TypeAAAA)
	q.RD, q.CD, q.DO, q.UDPSize = true, true, true, 4000
	out, err := q.pack(0xbeef, false)
	if err != nil {
		t.Fatal(err)
	}
	m := unpack(t, out.msg)
	if m.ID != 0xbeef || !m.RecursionDesired || !m.CheckingDisabled || m.Response || !m.Security || m.UDPSize != 4000 {
		t.Errorf("packed %v", m)
	}
	if len(m.Question) != 1 || m.Question[0].Header().Name != "www.example." || dns.RRToType(m.Question[0]) != dns.TypeAAAA {
		t.Errorf("question %v", m.Question)
	}
	if out.qend != headerLen+len(q.Name)+4 {
		t.Errorf("qend %d", out.qend)
	}

	q.NoEDNS = true
	out, err = q.pack(1, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.msg) != out.qend || binary.BigEndian.Uint16(out.msg[10:]) != 0 {
		t.Errorf("NoEDNS query has an additional section: %q", out.msg)
	}
}

// TestRandomCase: letters change case and nothing else changes; over many runs each letter is
// seen in both cases.
func TestRandomCase(t *testing.T) {
	orig := []byte("\x05a-1Zb\x3fqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\x00")
	upper := make([]bool, len(orig))
	lower := make([]bool, len(orig))
	for range 64 {
		n := bytes.Clone(orig)
		randomCase(n)
		if !bytes.EqualFold(n, orig) {
			t.Fatalf("%q is not %q in another case", n, orig)
		}
		for i, c := range n {
			if c >= 'A' && c <= 'Z' {
				upper[i] = true
			}
			if c >= 'a' && c <= 'z' {
				lower[i] = true
			}
			if (c|0x20 < 'a' || c|0x20 > 'z') && c != orig[i] {
				t.Fatalf("non-letter at %d changed: %q", i, n)
			}
		}
		if n[0] != 5 || n[6] != 0x3f {
			t.Fatalf("length bytes changed: %q", n)
		}
	}
	for i, c := range orig {
		if c|0x20 >= 'a' && c|0x20 <= 'z' && i != 0 && i != 6 && !(upper[i] && lower[i]) {
			t.Errorf("letter at %d never took both cases", i)
		}
	}
}

// reply builds a reply to out with the DNS library from zone-file text records.
func reply(t testing.TB, out outgoing, rcode uint16, ednsSize uint16, records ...string) []byte {
	t.Helper()
	q := &dns.Msg{Data: bytes.Clone(out.msg)}
	if err := q.Unpack(); err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.ID = q.ID
	m.Response = true
	m.Rcode = rcode
	m.Question = q.Question
	m.UDPSize = ednsSize
	for _, s := range records {
		rr, err := dns.New(s)
		if err != nil {
			t.Fatal(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	// The library writes the question name in its own case; put the sent bytes back.
	b := bytes.Clone(m.Data)
	copy(b[headerLen:out.qend], out.msg[headerLen:out.qend])
	return b
}

func TestValidate(t *testing.T) {
	q := mustQuery(t, "www.example.", dns.TypeA)
	out, err := q.pack(0x1234, true)
	if err != nil {
		t.Fatal(err)
	}
	good := reply(t, out, dns.RcodeSuccess, 1232, "www.example. 60 IN A 192.0.2.1")
	r, err := validate(good, out)
	if err != nil {
		t.Fatalf("good reply rejected: %v", err)
	}
	if !r.EDNS || r.UDPSize != 1232 || r.Rcode != 0 {
		t.Errorf("reply %+v", r)
	}
	badvers := reply(t, out, dns.RcodeBadVers, 1232)
	if r, err := validate(badvers, out); err != nil || r.Rcode != dns.RcodeBadVers {
		t.Errorf("BADVERS: rcode %d, %v", r.Rcode, err)
	}

	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	end := out.qend
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errShort},
		{"header only", good[:headerLen], errShort},
		{"QR clear", edit(func(b []byte) []byte { b[2] &^= 0x80; return b }), errNotResponse},
		{"ID", edit(func(b []byte) []byte { b[0]++; return b }), errID},
		{"opcode", edit(func(b []byte) []byte { b[2] |= 0x5 << 3; return b }), errOpcode},
		{"no question", edit(func(b []byte) []byte { b[5] = 0; return b }), errQDCount},
		{"two questions", edit(func(b []byte) []byte { b[5] = 2; return b }), errQDCount},
		{"case", edit(func(b []byte) []byte { b[headerLen+1] ^= 0x20; return b }), errQuestion},
		{"type", edit(func(b []byte) []byte { b[end-3]++; return b }), errQuestion},
		{"class", edit(func(b []byte) []byte { b[end-1]++; return b }), errQuestion},
		{"cut record", good[:len(good)-3], errMalformed},
		{"extra count", edit(func(b []byte) []byte { b[7]++; return b }), errMalformed},
		{"two OPT", edit(func(b []byte) []byte {
			opt := b[len(b)-11:]
			b[11]++
			return append(b, opt...)
		}), errTwoOPT},
		{"bad label type", edit(func(b []byte) []byte { b[end] = 0x80; return b }), errMalformed},
	}
	for _, tt := range tests {
		if _, err := validate(tt.b, out); !errors.Is(err, tt.want) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
	}
}

// FuzzValidateReply feeds random bytes as the reply to a fixed query: validation must never
// panic, and whatever it accepts must really answer the query.
func FuzzValidateReply(f *testing.F) {
	q, err := NewQuery("wWw.ExAmple.", dns.TypeA)
	if err != nil {
		f.Fatal(err)
	}
	out, err := q.pack(0x4242, false)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(answerA(out.msg))
	f.Add(reply(f, out, dns.RcodeBadVers, 4096, "www.example. 60 IN A 192.0.2.1", "www.example. 60 IN TXT \"x\""))
	f.Add(out.msg)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		r, err := validate(b, out)
		if !bytes.Equal(b, in) {
			t.Fatal("validate modified its input")
		}
		if err != nil {
			return
		}
		switch {
		case len(b) < out.qend:
			t.Fatal("accepted a reply shorter than the question")
		case b[0] != 0x42 || b[1] != 0x42:
			t.Fatal("accepted another ID")
		case b[2]&0x80 == 0:
			t.Fatal("accepted a message with QR=0")
		case b[2]&0x78 != 0:
			t.Fatal("accepted another opcode")
		case b[4] != 0 || b[5] != 1:
			t.Fatal("accepted a question count other than 1")
		case !bytes.Equal(b[headerLen:out.qend], out.msg[headerLen:out.qend]):
			t.Fatal("accepted another question")
		case r.Rcode&0xf != uint16(b[3]&0xf) || r.Flags != binary.BigEndian.Uint16(b[2:]):
			t.Fatal("header fields differ from the message")
		case r.UDPSize != 0 && !r.EDNS:
			t.Fatal("payload without an OPT record")
		}
	})
}
