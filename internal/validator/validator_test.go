package validator

import (
	"context"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// standardWorld is a root, a TLD and leaves for each case the validator must tell apart.
func standardWorld(tb testing.TB) *world {
	tb.Helper()
	leaf := func(origin string, mod func(*testZone), extra ...string) *testZone {
		z := &testZone{origin: origin, records: append([]string{
			origin + " 300 IN SOA ns." + origin + " host.invalid. 1 3600 600 86400 300",
			origin + " 300 IN NS ns." + origin,
			"ns." + origin + " 300 IN A 192.0.2.1",
			"www." + origin + " 300 IN A 192.0.2.10",
			"*.wild." + origin + " 300 IN A 192.0.2.20",
			"a.b.c." + origin + " 300 IN A 192.0.2.30",
		}, extra...)}
		if mod != nil {
			mod(z)
		}
		return z
	}
	tld := &testZone{origin: "test.", records: []string{
		"test. 300 IN SOA ns.test. host.invalid. 1 3600 600 86400 300",
		"test. 300 IN NS ns.test.",
		"ns.test. 300 IN A 192.0.2.2",
	}}
	children := []string{"secure", "nsec3", "insecure", "expired", "future", "wrongds", "unknownalg", "optout", "iters", "rsa", "ed25519"}
	for _, c := range children {
		tld.records = append(tld.records, c+".test. 300 IN NS ns."+c+".test.")
	}
	tld.records = append(tld.records,
		// A DS for a key the child does not have.
		"wrongds.test. 300 IN DS 12345 13 2 0000000000000000000000000000000000000000000000000000000000000000",
		// Only an algorithm no validator knows (private, RFC 4034 A.1).
		"unknownalg.test. 300 IN DS 12345 253 2 0000000000000000000000000000000000000000000000000000000000000000")
	root := &testZone{origin: ".", records: []string{
		". 300 IN SOA ns.root. host.invalid. 1 3600 600 86400 300",
		". 300 IN NS ns.root.",
		"test. 300 IN NS ns.test.",
	}}
	return buildWorld(tb, root, tld,
		leaf("secure.test.", nil, "alias.secure.test. 300 IN CNAME www.nsec3.test.", "toinsecure.secure.test. 300 IN CNAME www.insecure.test.",
			"h1.secure.test. 300 IN A 192.0.2.41", "h2.secure.test. 300 IN A 192.0.2.42", "h3.secure.test. 300 IN A 192.0.2.43"),
		leaf("nsec3.test.", func(z *testZone) { z.nsec3 = true }),
		leaf("insecure.test.", func(z *testZone) { z.unsigned = true }),
		leaf("expired.test.", func(z *testZone) { z.from, z.until = -40*24*time.Hour, -10*24*time.Hour }),
		leaf("future.test.", func(z *testZone) { z.from, z.until = 10*24*time.Hour, 40*24*time.Hour }),
		leaf("wrongds.test.", nil),
		leaf("unknownalg.test.", nil),
		leaf("optout.test.", func(z *testZone) { z.nsec3, z.optOut = true, true }, "child.optout.test. 300 IN NS ns.child.optout.test."),
		&testZone{origin: "child.optout.test.", unsigned: true, records: []string{
			"child.optout.test. 300 IN SOA ns.child.optout.test. host.invalid. 1 3600 600 86400 300",
			"www.child.optout.test. 300 IN A 192.0.2.40",
		}},
		leaf("iters.test.", func(z *testZone) { z.nsec3, z.iters = true, 200 }),
		leaf("rsa.test.", func(z *testZone) { z.alg = dns.RSASHA256 }),
		leaf("ed25519.test.", func(z *testZone) { z.alg = dns.ED25519 }),
	)
}

func testOptions() Options { return Options{Now: func() time.Time { return testNow }} }

// ask resolves name in the world as a resolver would, following CNAMEs, and returns the final
// rcode and sections.
func ask(tb testing.TB, w *world, name string, qtype uint16) (uint16, []dns.RR, []dns.RR) {
	tb.Helper()
	var answer []dns.RR
	for range 8 {
		r, err := w.Fetch(context.Background(), name, qtype)
		if err != nil {
			tb.Fatal(err)
		}
		answer = append(answer, r.Answer...)
		target := ""
		for _, x := range r.Answer {
			if c, ok := x.(*dns.CNAME); ok && sameName(c.Hdr.Name, name) && qtype != dns.TypeCNAME {
				target = c.Target
			}
		}
		if target == "" {
			return r.Rcode, answer, r.Ns
		}
		name = target
	}
	tb.Fatalf("CNAME loop at %s", name)
	return 0, nil, nil
}

func TestResponses(t *testing.T) {
	w := standardWorld(t)
	chain := NewChain(testOptions(), anchorFor(t, w.zones["."]), w)
	cases := []struct {
		name  string
		qtype uint16
		rcode uint16
		state State
		ede   uint16
	}{
		{"www.secure.test.", dns.TypeA, dns.RcodeSuccess, Secure, 0},
		{"WWW.Secure.TEST.", dns.TypeA, dns.RcodeSuccess, Secure, 0},
		{"nope.secure.test.", dns.TypeA, dns.RcodeNameError, Secure, 0},
		{"www.secure.test.", dns.TypeTXT, dns.RcodeSuccess, Secure, 0},
		{"b.c.secure.test.", dns.TypeA, dns.RcodeSuccess, Secure, 0}, // an empty non-terminal
		{"x.wild.secure.test.", dns.TypeA, dns.RcodeSuccess, Secure, 0},
		{"x.wild.secure.test.", dns.TypeTXT, dns.RcodeSuccess, Secure, 0}, // wildcard NODATA
		{"secure.test.", dns.TypeDNSKEY, dns.RcodeSuccess, Secure, 0},
		{"secure.test.", dns.TypeDS, dns.RcodeSuccess, Secure, 0},
		{"alias.secure.test.", dns.TypeA, dns.RcodeSuccess, Secure, 0},
		{"toinsecure.secure.test.", dns.TypeA, dns.RcodeSuccess, Insecure, 0},
		{"www.nsec3.test.", dns.TypeA, dns.RcodeSuccess, Secure, 0},
		{"nope.nsec3.test.", dns.TypeA, dns.RcodeNameError, Secure, 0},
		{"www.nsec3.test.", dns.TypeTXT, dns.RcodeSuccess, Secure, 0},
		{"b.c.nsec3.test.", dns.TypeA, dns.RcodeSuccess, Secure, 0},
		{"x.wild.nsec3.test.", dns.TypeA, dns.RcodeSuccess, Secure, 0},
		{"x.wild.nsec3.test.", dns.TypeTXT, dns.RcodeSuccess, Secure, 0},
		{"nope.test.", dns.TypeA, dns.RcodeNameError, Secure, 0},
		{"www.insecure.test.", dns.TypeA, dns.RcodeSuccess, Insecure, 0},
		{"insecure.test.", dns.TypeDS, dns.RcodeSuccess, Secure, 0}, // the proof itself is signed
		{"www.expired.test.", dns.TypeA, dns.RcodeSuccess, Bogus, EDESignatureExpired},
		{"www.future.test.", dns.TypeA, dns.RcodeSuccess, Bogus, EDESignatureNotYetValid},
		{"www.wrongds.test.", dns.TypeA, dns.RcodeSuccess, Bogus, EDEDNSKEYMissing},
		{"www.unknownalg.test.", dns.TypeA, dns.RcodeSuccess, Insecure, EDEUnsupportedAlgorithm},
		{"www.child.optout.test.", dns.TypeA, dns.RcodeSuccess, Insecure, 0},
		{"www.optout.test.", dns.TypeA, dns.RcodeSuccess, Secure, 0},
		{"nope.iters.test.", dns.TypeA, dns.RcodeNameError, Insecure, 0},
		{"www.iters.test.", dns.TypeA, dns.RcodeSuccess, Secure, 0},
		{"www.rsa.test.", dns.TypeA, dns.RcodeSuccess, Secure, 0},
		{"nope.rsa.test.", dns.TypeA, dns.RcodeNameError, Secure, 0},
		{"www.ed25519.test.", dns.TypeA, dns.RcodeSuccess, Secure, 0},
	}
	for _, c := range cases {
		rcode, answer, ns := ask(t, w, c.name, c.qtype)
		if rcode != c.rcode {
			t.Errorf("%s %d: world answered rcode %d, want %d", c.name, c.qtype, rcode, c.rcode)
			continue
		}
		got := chain.Response(context.Background(), c.name, c.qtype, rcode, answer, ns)
		if got.State != c.state || got.EDE != c.ede {
			t.Errorf("%s %s: %v (EDE %d), want %v (EDE %d)", c.name, dns.TypeToString[c.qtype], got, got.EDE, c.state, c.ede)
		}
	}
}

// TestTamperedResponses: what a validator sees when a reply was changed on the way.
func TestTamperedResponses(t *testing.T) {
	w := standardWorld(t)
	chain := NewChain(testOptions(), anchorFor(t, w.zones["."]), w)
	ctx := context.Background()
	_, answer, _ := ask(t, w, "www.secure.test.", dns.TypeA)

	t.Run("changed data", func(t *testing.T) {
		// Validated once, the genuine answer is remembered; the forged one must not pass
		// for it.
		if got := chain.Response(ctx, "www.secure.test.", dns.TypeA, 0, answer, nil); got.State != Secure {
			t.Fatalf("genuine answer: %v", got)
		}
		forged := rr(t, "www.secure.test. 300 IN A 203.0.113.66")
		var set []dns.RR
		for _, x := range answer {
			if _, ok := x.(*dns.RRSIG); ok {
				set = append(set, x)
			}
		}
		set = append(set, forged)
		if got := chain.Response(ctx, "www.secure.test.", dns.TypeA, 0, set, nil); got.State != Bogus || got.EDE != EDEBogus {
			t.Errorf("forged A: %v (EDE %d), want bogus (6)", got, got.EDE)
		}
	})
	t.Run("signatures stripped", func(t *testing.T) {
		var set []dns.RR
		for _, x := range answer {
			if _, ok := x.(*dns.RRSIG); !ok {
				set = append(set, x)
			}
		}
		if got := chain.Response(ctx, "www.secure.test.", dns.TypeA, 0, set, nil); got.State != Bogus || got.EDE != EDERRSIGsMissing {
			t.Errorf("unsigned A: %v (EDE %d), want bogus (10)", got, got.EDE)
		}
	})
	t.Run("denial stripped", func(t *testing.T) {
		rcode, _, ns := ask(t, w, "nope.secure.test.", dns.TypeA)
		var soaOnly []dns.RR
		for _, x := range ns {
			if !isDenial(x) {
				soaOnly = append(soaOnly, x)
			}
		}
		if got := chain.Response(ctx, "nope.secure.test.", dns.TypeA, rcode, nil, soaOnly); got.State != Bogus || got.EDE != EDENSECMissing {
			t.Errorf("NXDOMAIN without NSEC: %v (EDE %d), want bogus (12)", got, got.EDE)
		}
	})
	t.Run("NXDOMAIN for a name that exists", func(t *testing.T) {
		_, _, ns := ask(t, w, "nope.secure.test.", dns.TypeA)
		if got := chain.Response(ctx, "www.secure.test.", dns.TypeA, dns.RcodeNameError, nil, ns); got.State != Bogus {
			t.Errorf("NXDOMAIN for www: %v, want bogus", got)
		}
	})
	t.Run("NODATA for a type that exists", func(t *testing.T) {
		_, _, ns := ask(t, w, "www.secure.test.", dns.TypeTXT)
		if got := chain.Response(ctx, "www.secure.test.", dns.TypeA, dns.RcodeSuccess, nil, ns); got.State != Bogus {
			t.Errorf("NODATA for www A: %v, want bogus", got)
		}
	})
	t.Run("wildcard answer for a name that exists", func(t *testing.T) {
		_, wild, _ := ask(t, w, "x.wild.secure.test.", dns.TypeA)
		var renamed []dns.RR
		for _, x := range wild {
			c := x.Clone()
			c.Header().Name = "www.secure.test."
			renamed = append(renamed, c)
		}
		if got := chain.Response(ctx, "www.secure.test.", dns.TypeA, 0, renamed, nil); got.State != Bogus {
			t.Errorf("wildcard without proof: %v, want bogus", got)
		}
	})
	t.Run("a proof stuffed with NSEC records", func(t *testing.T) {
		rcode, _, ns := ask(t, w, "nope.secure.test.", dns.TypeA)
		var stuffed []dns.RR
		for _, x := range ns {
			if !isDenial(x) {
				stuffed = append(stuffed, x)
			}
		}
		for _, x := range w.zones["secure.test."].rrs {
			if isDenial(x) {
				stuffed = append(stuffed, x) // the whole chain, every record and signature
			}
		}
		if got := chain.Response(ctx, "nope.secure.test.", dns.TypeA, rcode, nil, stuffed); got.State != Bogus || !strings.Contains(got.Why, "more than") {
			t.Errorf("NXDOMAIN with the whole chain: %v, want bogus for too many records", got)
		}
	})
	t.Run("unsigned NXDOMAIN in a signed zone", func(t *testing.T) {
		soa := rr(t, "secure.test. 300 IN SOA ns.secure.test. host.invalid. 1 3600 600 86400 300")
		if got := chain.Response(ctx, "nope.secure.test.", dns.TypeA, dns.RcodeNameError, nil, []dns.RR{soa}); got.State != Bogus {
			t.Errorf("unsigned NXDOMAIN: %v, want bogus", got)
		}
	})
}

func TestNoAnchorIsIndeterminate(t *testing.T) {
	w := standardWorld(t)
	other, err := ParseAnchors(strings.NewReader(w.zones["secure.test."].ksk.pub.ToDS(dns.SHA256).String()), "x")
	if err != nil {
		t.Fatal(err)
	}
	chain := NewChain(testOptions(), other, w)
	_, answer, _ := ask(t, w, "www.nsec3.test.", dns.TypeA)
	if got := chain.Response(context.Background(), "www.nsec3.test.", dns.TypeA, 0, answer, nil); got.State != Indeterminate {
		t.Errorf("outside the anchor: %v, want indeterminate", got)
	}
	// The anchor may sit below the root: its zone validates on its own.
	_, answer, _ = ask(t, w, "www.secure.test.", dns.TypeA)
	if got := chain.Response(context.Background(), "www.secure.test.", dns.TypeA, 0, answer, nil); got.State != Secure {
		t.Errorf("under an anchor for secure.test.: %v, want secure", got)
	}
}

// TestChainRemembers: a second answer from the same zones asks for no key again, and a bogus
// link is fetched again once the bogus TTL has passed.
func TestChainRemembers(t *testing.T) {
	w := standardWorld(t)
	now := testNow
	opts := Options{Now: func() time.Time { return now }}
	chain := NewChain(opts, anchorFor(t, w.zones["."]), w)
	ctx := context.Background()
	_, answer, _ := ask(t, w, "www.secure.test.", dns.TypeA)
	w.calls = 0
	chain.Response(ctx, "www.secure.test.", dns.TypeA, 0, answer, nil)
	first := w.calls
	if first == 0 {
		t.Fatal("no key fetched")
	}
	chain.Response(ctx, "www.secure.test.", dns.TypeA, 0, answer, nil)
	if w.calls != first {
		t.Errorf("second validation fetched %d more", w.calls-first)
	}
	_, bad, _ := ask(t, w, "www.wrongds.test.", dns.TypeA)
	w.calls = 0
	chain.Response(ctx, "www.wrongds.test.", dns.TypeA, 0, bad, nil)
	chain.Response(ctx, "www.wrongds.test.", dns.TypeA, 0, bad, nil)
	once := w.calls
	now = now.Add(DefaultBogusTTL + time.Second)
	chain.Response(ctx, "www.wrongds.test.", dns.TypeA, 0, bad, nil)
	if w.calls == once {
		t.Errorf("the bogus link was not fetched again after the bogus TTL")
	}
}

func TestSkew(t *testing.T) {
	w := standardWorld(t)
	_, answer, _ := ask(t, w, "www.expired.test.", dns.TypeA)
	var set []dns.RR
	var sigs []*dns.RRSIG
	for _, x := range answer {
		if s, ok := x.(*dns.RRSIG); ok {
			sigs = append(sigs, s)
		} else {
			set = append(set, x)
		}
	}
	keys := []*dns.DNSKEY{w.zones["expired.test."].zsk.pub}
	// The window is 30 days, a tenth is 3 days, capped at the 24 hours of val-sig-skew-max.
	expired := testNow.Add(-10 * 24 * time.Hour)
	for _, c := range []struct {
		at   time.Time
		want State
	}{
		{expired.Add(23 * time.Hour), Secure},
		{expired.Add(25 * time.Hour), Bogus},
	} {
		o := Options{Now: func() time.Time { return c.at }}
		if got := o.VerifyRRset(set, sigs, keys); got.State != c.want {
			t.Errorf("at expiry + %v: %v, want %v", c.at.Sub(expired), got, c.want)
		}
	}
}

func TestAnchors(t *testing.T) {
	a, err := IANARoot()
	if err != nil {
		t.Fatal(err)
	}
	root := a.Closest("www.example.com.")
	if root == nil || root.Zone != "." || len(root.DS) != 2 || len(root.Keys) != 2 {
		t.Fatalf("built-in anchor: %+v", root)
	}
	tags := map[uint16]bool{}
	for _, k := range root.Keys {
		tags[k.KeyTag()] = true
		ds := k.ToDS(dns.SHA256)
		found := false
		for _, d := range root.DS {
			found = found || strings.EqualFold(d.Digest, ds.Digest)
		}
		if !found {
			t.Errorf("root key %d has no matching DS", k.KeyTag())
		}
	}
	if !tags[20326] || !tags[38696] {
		t.Errorf("root key tags %v, want 20326 and 38696", tags)
	}
	for _, bad := range []string{
		"",
		"example. 300 IN A 192.0.2.1",
		"example. 300 IN DNSKEY 256 2 8 AwEAAQ==",
		"example. 300 IN DNSKEY 0 3 8 AwEAAQ==",
		"example. 300 CH DS 1 8 2 00",
		"example. 300 IN DS 1 8",
	} {
		if _, err := ParseAnchors(strings.NewReader(bad), "anchors.txt"); err == nil || !strings.Contains(err.Error(), "anchors.txt") {
			t.Errorf("%q: error %v, want one naming the file", bad, err)
		}
	}
}

// TestNegativeTrustAnchor: under a negative trust anchor bogus data is insecure, until the
// anchor expires or is removed; data elsewhere is validated as before.
func TestNegativeTrustAnchor(t *testing.T) {
	w := standardWorld(t)
	now := testNow
	nta := NewNegativeAnchors()
	opts := Options{Now: func() time.Time { return now }, Negative: nta}
	chain := NewChain(opts, anchorFor(t, w.zones["."]), w)
	ctx := context.Background()
	_, expired, _ := ask(t, w, "www.expired.test.", dns.TypeA)
	_, good, _ := ask(t, w, "www.secure.test.", dns.TypeA)
	check := func(what string, answer []dns.RR, name string, want State) {
		t.Helper()
		if got := chain.Response(ctx, name, dns.TypeA, 0, answer, nil); got.State != want {
			t.Errorf("%s: %s is %v, want %v", what, name, got, want)
		}
	}
	v := nta.Version()
	if err := nta.Add("Expired.Test", now.Add(time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if nta.Version() == v {
		t.Error("the version did not change with Add")
	}
	check("under the anchor", expired, "www.expired.test.", Insecure)
	check("beside the anchor", good, "www.secure.test.", Secure)
	if l := nta.List(now); len(l) != 1 || l[0].Domain != "expired.test." {
		t.Errorf("list: %+v", l)
	}
	// The configuration's anchors are replaced by a reload; one added by hand stays.
	if err := nta.SetConfigured([]NTA{{Domain: "secure.test.", Expiry: now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	check("configured anchor", good, "www.secure.test.", Insecure)
	if err := nta.SetConfigured(nil); err != nil {
		t.Fatal(err)
	}
	check("configured anchor gone", good, "www.secure.test.", Secure)
	check("hand-added anchor kept", expired, "www.expired.test.", Insecure)
	now = now.Add(2 * time.Hour)
	check("after expiry", expired, "www.expired.test.", Bogus)
	if l := nta.List(now); len(l) != 0 {
		t.Errorf("expired anchors listed: %+v", l)
	}
	if err := nta.Add("expired.test.", now.Add(time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if ok, err := nta.Remove("expired.test"); !ok || err != nil {
		t.Errorf("remove: %t %v", ok, err)
	}
	check("after removal", expired, "www.expired.test.", Bogus)
	for _, bad := range []string{"", "a..b", strings.Repeat("x", 64) + ".test."} {
		if err := nta.Add(bad, now.Add(time.Hour), false); err == nil {
			t.Errorf("Add(%q): no error", bad)
		}
	}
}

// TestMemoForgetsWithdrawnKeys: a signature remembered as verified counts only while its key is
// trusted; with other keys it is checked again, and fails.
func TestMemoForgetsWithdrawnKeys(t *testing.T) {
	w := standardWorld(t)
	chain := NewChain(testOptions(), anchorFor(t, w.zones["."]), w)
	_, answer, _ := ask(t, w, "www.secure.test.", dns.TypeA)
	var set []dns.RR
	var sigs []*dns.RRSIG
	for _, x := range answer {
		if s, ok := x.(*dns.RRSIG); ok {
			sigs = append(sigs, s)
		} else {
			set = append(set, x)
		}
	}
	z := w.zones["secure.test."]
	if v := chain.verify(set, sigs, []*dns.DNSKEY{z.zsk.pub}); v.State != Secure {
		t.Fatalf("first check: %v", v)
	}
	if v := chain.verify(set, sigs, []*dns.DNSKEY{z.zsk.pub}); v.State != Secure {
		t.Fatalf("remembered: %v", v)
	}
	other := w.zones["nsec3.test."].zsk.pub
	if v := chain.verify(set, sigs, []*dns.DNSKEY{other}); v.State != Bogus {
		t.Errorf("with the key withdrawn: %v, want bogus", v)
	}
}

// TestAggressiveNSEC: once a negative answer was proved with NSEC, other names in the same
// span get NXDOMAIN, and other types of a name the NSEC matches NODATA, from the records alone
// (RFC 8198); names the records do not speak for and names under a negative trust anchor are
// asked.
func TestAggressiveNSEC(t *testing.T) {
	w := standardWorld(t)
	now := testNow
	nta := NewNegativeAnchors()
	chain := NewChain(Options{Now: func() time.Time { return now }, Negative: nta}, anchorFor(t, w.zones["."]), w)
	ctx := context.Background()
	if _, ok := chain.Synthesise("nope.secure.test.", dns.TypeA); ok {
		t.Fatal("synthesised before anything was validated")
	}
	validate := func(name string, qtype uint16) {
		t.Helper()
		rcode, answer, ns := ask(t, w, name, qtype)
		if r := chain.Response(ctx, name, qtype, rcode, answer, ns); r.State != Secure {
			t.Fatalf("%s: %v", name, r)
		}
	}
	validate("nope.secure.test.", dns.TypeA)
	validate("www.secure.test.", dns.TypeMX)
	validate("nope.nsec3.test.", dns.TypeA)

	// The answers are checked as any other: the validator itself must find them secure.
	check := func(name string, qtype uint16, want uint16) {
		t.Helper()
		syn, ok := chain.Synthesise(name, qtype)
		if !ok {
			t.Errorf("%s %s: not synthesised", name, dns.TypeToString[qtype])
			return
		}
		if syn.Rcode != want {
			t.Errorf("%s: rcode %d, want %d", name, syn.Rcode, want)
		}
		fresh := NewChain(testOptions(), anchorFor(t, w.zones["."]), w)
		if r := fresh.Response(ctx, name, qtype, syn.Rcode, nil, syn.Ns); r.State != Secure {
			t.Errorf("%s: the synthesised answer does not validate: %v", name, r)
		}
	}
	check("nope.secure.test.", dns.TypeAAAA, dns.RcodeNameError)
	check("zzz.secure.test.", dns.TypeA, dns.RcodeNameError)   // the last span, seen with www.
	check("nope2.secure.test.", dns.TypeA, dns.RcodeNameError) // in the same span as nope.
	check("www.secure.test.", dns.TypeTXT, dns.RcodeSuccess)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.secure.test.", dns.TypeA},  // exists
		{"p.secure.test.", dns.TypeA},    // another span (ns. to toinsecure.), not seen
		{"www.secure.test.", dns.TypeDS}, // DS is the parent's
		{"b.c.secure.test.", dns.TypeA},  // never proved
	} {
		if syn, ok := chain.Synthesise(q.name, q.qtype); ok {
			t.Errorf("%s %s: synthesised %+v", q.name, dns.TypeToString[q.qtype], syn)
		}
	}
	if err := nta.Add("secure.test.", now.Add(time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if _, ok := chain.Synthesise("nope.secure.test.", dns.TypeA); ok {
		t.Error("synthesised under a negative trust anchor")
	}
	if _, err := nta.Remove("secure.test."); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if _, ok := chain.Synthesise("nope.secure.test.", dns.TypeA); ok {
		t.Error("synthesised from records past their TTL")
	}
}

// TestTTLsCappedBySignature: a validated RRset keeps its TTL no longer than its signature
// lasts, nor beyond the signature's original TTL.
func TestTTLsCappedBySignature(t *testing.T) {
	w := standardWorld(t)
	_, answer, _ := ask(t, w, "www.secure.test.", dns.TypeA)
	var set []dns.RR
	var sigs []*dns.RRSIG
	for _, x := range answer {
		if s, ok := x.(*dns.RRSIG); ok {
			sigs = append(sigs, s.Clone().(*dns.RRSIG))
		} else {
			set = append(set, x.Clone())
		}
	}
	keys := []*dns.DNSKEY{w.zones["secure.test."].zsk.pub}
	// 100 seconds before the signature's end (within the skew nothing else changes).
	at := time.Unix(int64(sigs[0].Expiration), 0).Add(-100 * time.Second)
	o := Options{Now: func() time.Time { return at }}
	v := o.VerifyRRset(set, sigs, keys)
	if v.State != Secure {
		t.Fatal(v)
	}
	v.capTTLs(set, sigs, at)
	if ttl := set[0].Header().TTL; ttl > 100 {
		t.Errorf("TTL %d, want at most the 100 s the signature has left", ttl)
	}
	if ttl := sigs[0].Hdr.TTL; ttl > 100 {
		t.Errorf("RRSIG TTL %d, want at most 100", ttl)
	}
	// A TTL above the original TTL is brought down to it.
	set[0].Header().TTL = 86400
	v = testOptions().VerifyRRset(set, sigs, keys)
	v.capTTLs(set, sigs, testNow)
	if ttl := set[0].Header().TTL; ttl != 300 {
		t.Errorf("TTL %d, want the original 300", ttl)
	}
}
