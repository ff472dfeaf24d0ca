package probe

import (
	"encoding/binary"
	"testing"

	"codeberg.org/miekg/dns"
)

// replyWithEDE packs an NXDOMAIN reply to www.example. A carrying the given Extended DNS Errors.
// The OPT record is written here byte by byte: codeberg.org/miekg/dns v0.6.0 packs an EDE's
// EXTRA-TEXT as zero bytes of the right length (its unpacking is sound).
func replyWithEDE(t testing.TB, edes ...*dns.EDE) []byte {
	t.Helper()
	q := dns.NewMsg("www.example.", dns.TypeA)
	r := parseZone(t, "").reply(q)
	if err := r.Pack(); err != nil {
		t.Fatal(err)
	}
	var opts []byte
	for _, e := range edes {
		opts = binary.BigEndian.AppendUint16(opts, dns.CodeEDE)
		opts = binary.BigEndian.AppendUint16(opts, uint16(2+len(e.ExtraText)))
		opts = binary.BigEndian.AppendUint16(opts, e.InfoCode)
		opts = append(opts, e.ExtraText...)
	}
	b := append([]byte(nil), r.Data...)
	b = append(b, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0) // root owner, OPT, 1232 bytes, TTL 0
	b = binary.BigEndian.AppendUint16(b, uint16(len(opts)))
	b = append(b, opts...)
	binary.BigEndian.PutUint16(b[10:], binary.BigEndian.Uint16(b[10:])+1) // ARCOUNT
	return b
}

// The filtering codes are read from a reply's OPT record, the first of them kept; other
// Extended DNS Errors (18 Prohibited, 3 Stale Answer) are not a declaration of filtering.
func TestParseAnswerFilter(t *testing.T) {
	tests := []struct {
		edes []*dns.EDE
		want string // "" for no filter
	}{
		{nil, ""},
		{[]*dns.EDE{{InfoCode: 15, ExtraText: "malware"}}, `EDE 15 (Blocked) "malware"`},
		{[]*dns.EDE{{InfoCode: 16, ExtraText: "court order 12/2026"}}, `EDE 16 (Censored) "court order 12/2026"`},
		{[]*dns.EDE{{InfoCode: 17}}, `EDE 17 (Filtered)`},
		{[]*dns.EDE{{InfoCode: 18, ExtraText: "not allowed"}}, ""},
		{[]*dns.EDE{{InfoCode: 3}, {InfoCode: 16}, {InfoCode: 15}}, `EDE 16 (Censored)`},
	}
	for _, tt := range tests {
		a, err := parseAnswer(replyWithEDE(t, tt.edes...), dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if a.Filter != nil {
			got = a.Filter.String()
		}
		if got != tt.want {
			t.Errorf("%v: filter %q, want %q", tt.edes, got, tt.want)
		}
	}
}

// judge: a declared filter outranks the comparison with the trusted channel, but not the proofs
// of injection (two replies, a dark address, a forged address).
func TestJudgeFiltered(t *testing.T) {
	filtered := Answer{Rcode: dns.RcodeNameError, Filter: &ExtendedError{Code: 16, Text: "order"}}
	one := raceOutcome{replies: []seen{{answer: filtered, copies: 1}}}
	trusted := trustedAnswer{a: Answer{Rcode: dns.RcodeSuccess}, ok: true}
	if v, ev := judge(false, one, trusted, nil, "trusted"); v != Filtered || ev != `resolver declares filtering: EDE 16 (Censored) "order"; answer NXDOMAIN` {
		t.Errorf("one filtered reply: %s, %s", v, ev)
	}
	if v, _ := judge(true, one, trusted, nil, "trusted"); v != Injected {
		t.Errorf("filtered reply from a dark address: %s, want injected", v)
	}
	two := raceOutcome{replies: []seen{{answer: filtered, copies: 1}, {answer: Answer{Rcode: dns.RcodeSuccess}, copies: 1}}}
	if v, _ := judge(false, two, trusted, nil, "trusted"); v != Injected {
		t.Errorf("two replies, one filtered: %s, want injected", v)
	}
	if Filtered.Tampered() {
		t.Error("filtered counts as tampering")
	}
}
