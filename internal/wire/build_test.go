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
