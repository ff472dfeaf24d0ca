package cache

import (
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
)

// TestSecureAnswersCarryAD: an answer stored as validated gets AD=1 on hits for clients that set
// DO or AD, and only for them (RFC 6840 §5.8); one stored unvalidated never does.
func TestSecureAnswersCarryAD(t *testing.T) {
	c := newCache(Config{}, newClock())
	for _, x := range []struct {
		name   string
		secure bool
	}{{"signed.example.test.", true}, {"unsigned.example.test.", false}} {
		for _, do := range []bool{false, true} {
			a := Answer{Name: request(t, ask{name: x.name, qtype: dns.TypeA}).Lower(), Type: dns.TypeA, Class: dns.ClassINET, DO: do, Secure: x.secure,
				Answer: rrs(t, []string{x.name + " 300 IN A 192.0.2.1"})}
			if err := c.PutAnswer(a, RankAuthAnswer); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, x := range []struct {
		name   string
		do, ad bool
		wantAD bool
	}{
		{"signed.example.test.", false, false, false},
		{"signed.example.test.", true, false, true},
		{"signed.example.test.", false, true, true},
		{"unsigned.example.test.", true, false, false},
		{"unsigned.example.test.", false, true, false},
	} {
		req := request(t, ask{name: x.name, qtype: dns.TypeA, do: x.do})
		if x.ad {
			req.Wire[3] |= byte(query.FlagAD)
			req.Parse()
		}
		out, st := c.Get(req, make([]byte, 0, 65535))
		if !st.Found() {
			t.Fatalf("%s: miss", x.name)
		}
		if got := out[3]&byte(query.FlagAD) != 0; got != x.wantAD {
			t.Errorf("%s DO=%t AD=%t: AD %t, want %t", x.name, x.do, x.ad, got, x.wantAD)
		}
	}
}
