package policy

import (
	"net/netip"
	"testing"

	"codeberg.org/miekg/dns"
)

// FuzzCompileRPZ feeds any zone text to the RPZ loader and evaluates a few questions against what
// compiles: no input may panic.
func FuzzCompileRPZ(f *testing.F) {
	for _, s := range []string{
		head + "a.test CNAME .\n",
		head + "*.a.test CNAME *.\n32.1.2.0.192.rpz-ip CNAME rpz-drop.\n",
		head + "128.1.zz.db8.2001.rpz-nsip CNAME rpz-passthru.\nns.x.rpz-nsdname CNAME .\n",
		head + "24.0.0.0.127.rpz-client-ip A 192.0.2.1\nr.test CNAME *.garden.\n",
		head + "*.rpz-ip CNAME .\n*.rpz-nsdname CNAME .\nrpz-nsip CNAME .\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := LoadRPZ("rpz.", "fuzz.rpz", []byte(text), Options{})
		if err != nil {
			return
		}
		p := New(s)
		for _, name := range []string{"a.test.", "x.a.test.", "."} {
			qq := Query{Client: netip.MustParseAddr("127.0.0.1"), Name: name, Type: dns.TypeA, RD: true}
			p.Question(qq)
			a, _ := dns.New(name + " 60 IN A 192.0.2.1")
			p.Response(qq, Response{Answer: []dns.RR{a}, NSNames: []string{"ns.x."}, NSAddrs: []netip.Addr{netip.MustParseAddr("2001:db8::1")}})
		}
	})
}
