package cache

import (
	"encoding/binary"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
)

// FuzzPut feeds arbitrary bytes to Put, which must never panic; whatever it accepts must render
// back, for a query with the same question, to a message that parses and carries the query's ID.
func FuzzPut(f *testing.F) {
	const soa = "example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 1 7200 900 1209600 300"
	for _, u := range []upstream{
		{qname: "www.example.test.", qtype: dns.TypeA,
			answer: []string{"www.example.test. 300 IN A 192.0.2.1"},
			ns:     []string{"example.test. 300 IN NS ns1.example.test."},
			extra:  []string{"ns1.example.test. 300 IN A 192.0.2.53"}},
		{qname: "x.example.test.", qtype: dns.TypeMX, rcode: dns.RcodeNameError, ns: []string{soa}},
		{qname: "alias.example.test.", qtype: dns.TypeA, do: true,
			answer: []string{"alias.example.test. 300 IN CNAME www.example.test.", "www.example.test. 300 IN A 192.0.2.1"}},
		{qname: "_s._tcp.example.test.", qtype: dns.TypeSRV,
			answer: []string{"_s._tcp.example.test. 300 IN SRV 1 2 3 t.example.test."}},
	} {
		f.Add(u.pack(f))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		c := New(Config{MaxBytes: 1 << 20, Shards: 1})
		if err := c.Put(msg, RankAnswer); err != nil || c.Len() == 0 {
			return
		}
		qend := headerLen
		for msg[qend] != 0 {
			qend += int(msg[qend]) + 1
		}
		qend += 5
		hit := false
		for _, do := range []bool{false, true} {
			q := make([]byte, 0, qend+11)
			q = append(q, 0xBE, 0xEF, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0)
			q = append(q, msg[headerLen:qend]...)
			if do {
				binary.BigEndian.PutUint16(q[10:], 1)
				q = append(q, 0, 0, 41, 4, 0xD0, 0, 0, 0x80, 0, 0, 0)
			}
			for _, tr := range []query.Transport{query.UDP, query.TCP} {
				req := &query.Request{Wire: q, Transport: tr}
				if req.Parse() != query.Accept {
					t.Fatalf("query built from an accepted question does not parse")
				}
				out, st := c.Get(req, nil)
				if !st.Found() {
					continue
				}
				hit = true
				m := &dns.Msg{Data: out}
				if err := m.Unpack(); err != nil {
					t.Fatalf("rendered response does not parse: %v\n% x", err, out)
				}
				if m.ID != 0xBEEF {
					t.Fatalf("ID %d", m.ID)
				}
			}
		}
		if !hit {
			t.Fatalf("accepted response is never served")
		}
	})
}
