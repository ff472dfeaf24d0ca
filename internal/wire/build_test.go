package wire

import (
	"bytes"
	"testing"

	"codeberg.org/miekg/dns"
)

// TestRdataNotCompressed: rdata copied out of a packed message must not hold compression pointers,
// which would point into that message.
func TestRdataNotCompressed(t *testing.T) {
	for _, text := range []string{
		"x.example. 60 IN MINFO admin.example. errors.admin.example.",
		"x.example. 60 IN SOA ns1.example. hostmaster.ns1.example. 1 2 3 4 5",
		"x.example. 60 IN MX 10 mail.example.",
	} {
		rr, err := dns.New(text)
		if err != nil {
			t.Fatal(err)
		}
		rd, err := Rdata(rr)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(rd); {
			// Walk the names at the start of the rdata; none may be a pointer.
			if rd[off]&0xC0 == 0xC0 {
				t.Fatalf("%s: compression pointer at rdata offset %d: % x", text, off, rd)
			}
			if rd[off] == 0 {
				break
			}
			off += int(rd[off]) + 1
		}
		if !bytes.Contains(rd, []byte("\x06errors\x05admin\x07example\x00")) && dns.RRToType(rr) == dns.TypeMINFO {
			t.Fatalf("%s: second name not written whole: % x", text, rd)
		}
	}
}

// TestUnpackKeepsUnknownTypes: records of types the DNS library does not know keep their type in
// every section, beside an OPT record that the library takes out of the additional section.
func TestUnpackKeepsUnknownTypes(t *testing.T) {
	m := dns.NewMsg("x.example.", dns.TypeA)
	for _, s := range []struct {
		section *[]dns.RR
		text    string
	}{
		{&m.Answer, `x.example. 60 IN TYPE65280 \# 3 010203`},
		{&m.Answer, `x.example. 60 IN A 192.0.2.1`},
		{&m.Ns, `example. 60 IN TYPE65281 \# 0`},
		{&m.Extra, `y.example. 60 IN TYPE65282 \# 1 ff`},
	} {
		rr, err := dns.New(s.text)
		if err != nil {
			t.Fatal(err)
		}
		*s.section = append(*s.section, rr)
	}
	m.UDPSize = 1232 // an OPT record among the additional records
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	got, err := Unpack(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rr   dns.RR
		want uint16
	}{{got.Answer[0], 65280}, {got.Answer[1], dns.TypeA}, {got.Ns[0], 65281}, {got.Extra[0], 65282}} {
		if typ := dns.RRToType(c.rr); typ != c.want {
			t.Errorf("%s: type %d, want %d", c.rr, typ, c.want)
		}
	}
	if _, err := Unpack(m.Data[:len(m.Data)-3]); err == nil {
		t.Error("a message cut short unpacked")
	}
}
