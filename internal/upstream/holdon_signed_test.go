package upstream

import (
	"context"
	"crypto"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"
	"codeberg.org/miekg/dns/rdata"

	"warden/internal/validator"
	"warden/internal/wire"
)

// signedZone is a zone signed at test time with one ECDSA key (KSK and ZSK in one): the injecting
// server answers from it, every A record signed over the real address, so that a forged reply
// carries a signature that does not verify.
type signedZone struct {
	origin string
	key    *dns.DNSKEY
	priv   crypto.Signer
	keySig *dns.RRSIG

	mu   sync.Mutex
	sigs map[string]*dns.RRSIG // of the A RRset with realAddr, by lower-case owner
}

func newSignedZone(t testing.TB, origin string) *signedZone {
	t.Helper()
	k := &dns.DNSKEY{Hdr: dns.Header{Name: origin, Class: dns.ClassINET, TTL: 3600}}
	k.Flags, k.Protocol, k.Algorithm = 257, 3, dns.ECDSAP256SHA256
	priv, err := k.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	z := &signedZone{origin: origin, key: k, priv: priv.(crypto.Signer), sigs: map[string]*dns.RRSIG{}}
	if z.keySig, err = z.sign(k); err != nil {
		t.Fatal(err)
	}
	return z
}

func (z *signedZone) sign(rr dns.RR) (*dns.RRSIG, error) {
	h := rr.Header()
	sig := &dns.RRSIG{Hdr: dns.Header{Name: h.Name, Class: dns.ClassINET, TTL: h.TTL}}
	sig.Algorithm, sig.KeyTag, sig.SignerName = z.key.Algorithm, z.key.KeyTag(), z.origin
	now := time.Now()
	sig.Inception, sig.Expiration = uint32(now.Add(-time.Hour).Unix()), uint32(now.Add(time.Hour).Unix())
	sig.OrigTTL, sig.Labels = h.TTL, uint8(dnsutil.Labels(h.Name))
	err := sig.Sign(z.priv, []dns.RR{rr.Clone()}, &dns.SignOption{})
	return sig, err
}

// sigFor is the signature of name's A RRset with the real address.
func (z *signedZone) sigFor(name string) *dns.RRSIG {
	name = strings.ToLower(name)
	z.mu.Lock()
	defer z.mu.Unlock()
	if s := z.sigs[name]; s != nil {
		return s
	}
	s, err := z.sign(&dns.A{Hdr: dns.Header{Name: name, Class: dns.ClassINET, TTL: 300}, A: rdata.A{Addr: realAddr}})
	if err != nil {
		return nil
	}
	z.sigs[name] = s
	return s
}

// anchors is the trust anchor of the zone: the DS of its key.
func (z *signedZone) anchors(t testing.TB) *validator.Anchors {
	t.Helper()
	a, err := validator.ParseAnchors(strings.NewReader(z.key.ToDS(dns.SHA256).String()), "test anchor")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// answer replies to q from the zone, the A record carrying a (the real or the forged address)
// and always the signature made over the real one; nil for what is not a query.
func (z *signedZone) answer(q []byte, a netip.Addr) []byte {
	m := &dns.Msg{Data: q}
	if m.Unpack() != nil || len(m.Question) != 1 {
		return nil
	}
	name := m.Question[0].Header().Name
	r := &dns.Msg{MsgHeader: dns.MsgHeader{ID: m.ID, Response: true, Authoritative: true, Security: m.Security, UDPSize: 1232}}
	r.Question = m.Question
	switch dns.RRToType(m.Question[0]) {
	case dns.TypeDNSKEY:
		r.Answer = []dns.RR{z.key, z.keySig}
	case dns.TypeA:
		sig := z.sigFor(name)
		if sig == nil {
			return nil
		}
		r.Answer = []dns.RR{&dns.A{Hdr: dns.Header{Name: name, Class: dns.ClassINET, TTL: 300}, A: rdata.A{Addr: a}}, sig}
	}
	if r.Pack() != nil {
		return nil
	}
	return r.Data
}

// tcpFetcher fetches the chain's DNSKEY questions from the test server over TCP, and counts
// them: Hold-On's check must never fetch.
type tcpFetcher struct {
	up    Upstream
	calls atomic.Int32
}

func (f *tcpFetcher) Fetch(ctx context.Context, name string, qtype uint16) (validator.Reply, error) {
	f.calls.Add(1)
	q, err := NewQuery(name, qtype)
	if err != nil {
		return validator.Reply{}, err
	}
	q.DO, q.CD = true, true
	r, err := f.up.Exchange(ctx, q)
	if err != nil {
		return validator.Reply{}, err
	}
	m, err := wire.Unpack(r.Data)
	if err != nil {
		return validator.Reply{}, err
	}
	return validator.Reply{Rcode: m.Rcode, Answer: m.Answer, Ns: m.Ns}, nil
}

// signedSetup starts the injecting server over a signed zone on host and returns it with a
// chain whose keys are learned when learn is set (over TCP, before any exchange under test).
func signedSetup(t *testing.T, host string, learn bool) (*injectingServer, *tcpFetcher, *validator.ReplyCheck) {
	t.Helper()
	z := newSignedZone(t, "signed.test.")
	s := startInjectingWith(t, host, true, z.answer, "blocked.signed.test.")
	f := &tcpFetcher{up: NewTCP(s.addr, Options{Timeout: slow})}
	t.Cleanup(func() { f.up.(*TCP).Close() })
	chain := validator.NewChain(validator.Options{}, z.anchors(t), f)
	if learn {
		ctx, cancel := context.WithTimeout(context.Background(), slow)
		defer cancel()
		if r, _, _ := chain.Keys(ctx, z.origin); r.State != validator.Secure {
			t.Fatalf("keys of %s: %v", z.origin, r)
		}
	}
	check := new(validator.ReplyCheck)
	check.Use(chain)
	return s, f, check
}

// With the zone's keys known, the real signed reply beats the forgery that came first, at once
// and without TCP; the chain fetches nothing while the exchange waits.
func TestHoldOnSignedRealReplyWins(t *testing.T) {
	s, f, check := signedSetup(t, "127.0.38.1", true)
	h := NewHoldOn(nil)
	up := NewPlain(s.addr, Options{Timeout: slow, HoldOn: h, Validates: check.Validates})
	warmUp(t, up)
	fetched, tcp := f.calls.Load(), s.tcpConns.Load()
	for i := range 3 {
		if a, _ := exchangeA(t, up, "Blocked.Signed.Test."); a != realAddr {
			t.Fatalf("query %d: %v, want the real %v", i, a, realAddr)
		}
	}
	if s.forged.Load() != 3 {
		t.Errorf("injector forged %d replies, want 3", s.forged.Load())
	}
	if h.Total() != 3 {
		t.Errorf("%d detections, want 3", h.Total())
	}
	if n := s.tcpConns.Load() - tcp; n != 0 {
		t.Errorf("%d TCP connections, want none: validation decided", n)
	}
	if n := f.calls.Load() - fetched; n != 0 {
		t.Errorf("the chain fetched %d questions during the exchanges", n)
	}
}

// A clean signed reply that validates is used when it arrives, even where every reply is held
// (a process with no history yet waits unknownWindow); with the keys not yet known the same
// reply is held to the end of the window, as before.
func TestHoldOnSignedCleanNotHeld(t *testing.T) {
	s, f, check := signedSetup(t, "127.0.38.2", true)
	s2, _, unknown := signedSetup(t, "127.0.38.3", false)
	for _, c := range []struct {
		what   string
		check  *validator.ReplyCheck
		addr   string
		proven bool
	}{
		{"keys known", check, s.addr, true},
		{"keys not known", unknown, s2.addr, false},
	} {
		up := NewPlain(c.addr, Options{Timeout: slow, HoldOn: NewHoldOn(nil), Validates: c.check.Validates})
		t0 := time.Now()
		if a, _ := exchangeA(t, up, "clean.signed.test."); a != realAddr {
			t.Fatalf("%s: %v, want %v", c.what, a, realAddr)
		}
		took := time.Since(t0)
		if c.proven && took >= unknownWindow {
			t.Errorf("%s: the validated reply was used after %v, held to the window of %v", c.what, took, unknownWindow)
		}
		if !c.proven && took < unknownWindow {
			t.Errorf("%s: the reply was used after %v, before the window of %v closed", c.what, took, unknownWindow)
		}
		t.Logf("%s: %v (server delay %v)", c.what, took, serverDelay)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("the chain fetched %d questions, want the one DNSKEY before the exchanges", n)
	}
}

// With the zone's keys not known, validation cannot tell the replies apart: Hold-On falls back
// to the server's TTL and timing and to TCP, as without validation, and fetches nothing.
func TestHoldOnSignedKeyUnknownFallsBack(t *testing.T) {
	s, f, check := signedSetup(t, "127.0.38.4", false)
	h := NewHoldOn(nil)
	up := NewPlain(s.addr, Options{Timeout: slow, HoldOn: h, Validates: check.Validates})
	warmUp(t, up)
	if a, _ := exchangeA(t, up, "blocked.signed.test."); a != realAddr {
		t.Fatalf("%v, want the real %v", a, realAddr)
	}
	if h.Total() != 1 {
		t.Errorf("%d detections, want 1", h.Total())
	}
	if s.tcpConns.Load() == 0 {
		t.Error("no TCP connection: the two replies were not settled over TCP")
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("the chain fetched %d questions inside exchanges", n)
	}
}
