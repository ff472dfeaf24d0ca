package tsig

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

var now = time.Unix(1_790_000_000, 0)

func query(t testing.TB, id uint16) []byte {
	t.Helper()
	m := dns.NewMsg("example.test.", dns.TypeAXFR)
	m.ID = id
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	return m.Data
}

func mustKey(t testing.TB, spec string) Key {
	t.Helper()
	k, err := ParseKey(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"xfr:hmac-sha256:c2VjcmV0", ""},
		{"XFR.Example:hmac-sha512.:c2VjcmV0", ""},
		{"xfr:hmac-md5:c2VjcmV0", `algorithm "hmac-md5"`},
		{"xfr:hmac-sha256:not base64!", `secret of key "xfr": not base64`},
		{"xfr:hmac-sha256", "want NAME:ALGORITHM:BASE64SECRET"},
		{":hmac-sha256:c2VjcmV0", "name is empty"},
		{"a..b:hmac-sha256:c2VjcmV0", `name "a..b"`},
		{"xfr:hmac-sha1:", "is empty"},
	} {
		k, err := ParseKey(tc.spec)
		if tc.want == "" {
			if err != nil {
				t.Errorf("ParseKey(%q): %v", tc.spec, err)
			} else if k.Name != strings.ToLower(strings.SplitN(tc.spec, ":", 2)[0])+"." || !strings.HasSuffix(k.Algorithm, ".") {
				t.Errorf("ParseKey(%q) = %+v", tc.spec, k)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseKey(%q) = %v, want error containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestKeyring(t *testing.T) {
	a, b := mustKey(t, "a:hmac-sha256:c2VjcmV0"), mustKey(t, "A.:hmac-sha1:c2VjcmV0")
	if _, err := NewKeyring(a, b); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Fatalf("duplicate keys: %v", err)
	}
	r, err := NewKeyring(a)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := r.Get("A."); !ok || k.Name != "a." {
		t.Fatalf("Get(A.) = %v, %v", k, ok)
	}
}

func tsigErr(err error) (uint16, uint16) {
	var e *Error
	if errors.As(err, &e) {
		return e.Rcode, e.TSIGError
	}
	return 0, 0
}

func TestSignVerify(t *testing.T) {
	for _, alg := range []string{"hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"} {
		k := mustKey(t, "xfr:"+alg+":c2VjcmV0IGtleSBmb3IgdGVzdHM=")
		ring, _ := NewKeyring(k)
		req := query(t, 4711)
		signed, mac, err := Sign(req, k, nil, false, now)
		if err != nil {
			t.Fatal(err)
		}
		v, err := Verify(signed, ring, nil, false, now.Add(299*time.Second))
		if err != nil || !v.Signed || string(v.Stripped) != string(req) || string(v.MAC) != string(mac) {
			t.Fatalf("%s: verify = %+v, %v", alg, v, err)
		}
		// The response digest starts with the request's MAC.
		resp, _, err := Sign(req, k, mac, false, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(resp, ring, mac, false, now); err != nil {
			t.Fatalf("%s: response: %v", alg, err)
		}
		if _, err := Verify(resp, ring, nil, false, now); !isCode(err, RcodeNotAuth, BadSig) {
			t.Fatalf("%s: response without the prior MAC: %v", alg, err)
		}
		tampered := append([]byte(nil), signed...)
		tampered[13] ^= 0x20
		if _, err := Verify(tampered, ring, nil, false, now); !isCode(err, RcodeNotAuth, BadSig) {
			t.Fatalf("%s: tampered: %v", alg, err)
		}
		if _, err := Verify(signed, ring, nil, false, now.Add(301*time.Second)); !isCode(err, RcodeNotAuth, BadTime) {
			t.Fatalf("%s: late: %v", alg, err)
		}
		other, _ := NewKeyring(mustKey(t, "other:"+alg+":c2VjcmV0"))
		if _, err := Verify(signed, other, nil, false, now); !isCode(err, RcodeNotAuth, BadKey) {
			t.Fatalf("%s: unknown key: %v", alg, err)
		}
		wrong, _ := NewKeyring(mustKey(t, "xfr:"+alg+":d3Jvbmc="))
		if _, err := Verify(signed, wrong, nil, false, now); !isCode(err, RcodeNotAuth, BadSig) {
			t.Fatalf("%s: wrong secret: %v", alg, err)
		}
	}
}

func isCode(err error, rcode, tsigError uint16) bool {
	rc, te := tsigErr(err)
	return err != nil && rc == rcode && te == tsigError
}

func TestUnsigned(t *testing.T) {
	req := query(t, 1)
	v, err := Verify(req, nil, nil, false, now)
	if err != nil || v.Signed || string(v.Stripped) != string(req) {
		t.Fatalf("unsigned: %+v, %v", v, err)
	}
}

// truncated signs msg like Sign but sends only the first n bytes of the MAC.
func truncated(t *testing.T, msg []byte, k Key, n int) []byte {
	rec := Record{KeyName: k.Name, Algorithm: k.Algorithm, TimeSigned: unixTime(now), Fudge: Fudge, OrigID: binary.BigEndian.Uint16(msg)}
	h := k.mac()
	h.Write(msg)
	writeVariables(h, rec, false)
	rec.MAC = h.Sum(nil)[:n]
	out, err := appendTSIG(msg, rec)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTruncatedMAC(t *testing.T) {
	k := mustKey(t, "xfr:hmac-sha256:c2VjcmV0")
	ring, _ := NewKeyring(k)
	req := query(t, 9)
	for _, tc := range []struct {
		n     int
		rcode uint16
	}{{32, 0}, {16, 0}, {20, 0}, {15, RcodeFormErr}, {8, RcodeFormErr}} {
		_, err := Verify(truncated(t, req, k, tc.n), ring, nil, false, now)
		if rc, _ := tsigErr(err); rc != tc.rcode || (tc.rcode == 0) != (err == nil) {
			t.Errorf("MAC of %d bytes: %v", tc.n, err)
		}
	}
}

func TestMalformed(t *testing.T) {
	k := mustKey(t, "xfr:hmac-sha256:c2VjcmV0")
	ring, _ := NewKeyring(k)
	signed, _, err := Sign(query(t, 3), k, nil, false, now)
	if err != nil {
		t.Fatal(err)
	}
	for i := 12; i < len(signed); i++ {
		if _, err := Verify(signed[:i], ring, nil, false, now); err == nil {
			t.Fatalf("message cut at %d verified", i)
		}
	}
	if _, err := Verify(append(signed, 0), ring, nil, false, now); !isCode(err, RcodeFormErr, 0) {
		t.Fatalf("trailing byte: %v", err)
	}
}

func TestSignError(t *testing.T) {
	k := mustKey(t, "xfr:hmac-sha256:c2VjcmV0")
	ring, _ := NewKeyring(k)
	req := query(t, 77)
	signed, reqMAC, _ := Sign(req, k, nil, false, now)
	v, err := Verify(signed, ring, nil, false, now.Add(time.Hour))
	if !isCode(err, RcodeNotAuth, BadTime) {
		t.Fatalf("want BADTIME, got %v", err)
	}
	resp := append([]byte(nil), req...)
	resp[2] |= 0x80
	resp[3] = RcodeNotAuth
	out, err := SignError(resp, v, BadTime, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// The client, at its own clock, checks the signature and learns the server's time.
	_, err = Verify(out, ring, reqMAC, false, now)
	if !isCode(err, RcodeNotAuth, BadTime) || !strings.Contains(err.Error(), "peer reported BADTIME") {
		t.Fatalf("client reading BADTIME: %v", err)
	}
	_, rec, _ := findTSIG(out)
	if len(rec.Other) != 6 || rec.TimeSigned != unixTime(now) {
		t.Fatalf("BADTIME record: %+v", rec)
	}
	out, err = SignError(resp, v, BadSig, now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(out, ring, reqMAC, false, now)
	if !isCode(err, RcodeNotAuth, BadSig) || !strings.Contains(err.Error(), "peer reported BADSIG") {
		t.Fatalf("client reading BADSIG: %v", err)
	}
}

// signCovering signs msg as a later message of a stream whose MAC also covers the unsigned
// messages before it.
func signCovering(t *testing.T, k Key, prior []byte, unsigned [][]byte, msg []byte) ([]byte, []byte) {
	rec := Record{KeyName: k.Name, Algorithm: k.Algorithm, TimeSigned: unixTime(now), Fudge: Fudge, OrigID: binary.BigEndian.Uint16(msg)}
	h := k.mac()
	writePrior(h, prior)
	for _, u := range unsigned {
		h.Write(u)
	}
	h.Write(msg)
	writeVariables(h, rec, true)
	rec.MAC = h.Sum(nil)
	out, err := appendTSIG(msg, rec)
	if err != nil {
		t.Fatal(err)
	}
	return out, rec.MAC
}

func TestStreamVerifier(t *testing.T) {
	k := mustKey(t, "xfr:hmac-sha384:c2VjcmV0")
	reqMAC := []byte("request mac")
	msgs := [][]byte{query(t, 5), query(t, 5), query(t, 5), query(t, 5)}
	first, mac1, _ := Sign(msgs[0], k, reqMAC, false, now)
	last, _ := signCovering(t, k, mac1, msgs[1:3], msgs[3])

	v := NewStreamVerifier(k, reqMAC)
	for i, m := range [][]byte{first, msgs[1], msgs[2], last} {
		out, err := v.Next(m, now)
		if err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		if string(out) != string(msgs[i]) {
			t.Fatalf("message %d: stripped differs", i+1)
		}
	}
	if err := v.Done(); err != nil {
		t.Fatal(err)
	}

	v = NewStreamVerifier(k, reqMAC)
	v.Next(first, now)
	v.Next(msgs[1], now)
	if err := v.Done(); err == nil || !strings.Contains(err.Error(), "last message") {
		t.Fatalf("unsigned end: %v", err)
	}
	v = NewStreamVerifier(k, reqMAC)
	if _, err := v.Next(msgs[0], now); err == nil {
		t.Fatal("unsigned first message accepted")
	}
	v = NewStreamVerifier(k, reqMAC)
	v.Next(first, now)
	if _, err := v.Next(last, now); !isCode(err, RcodeNotAuth, BadSig) {
		t.Fatalf("skipped messages: %v", err)
	}
	v = NewStreamVerifier(k, reqMAC)
	v.Next(first, now)
	for i := range MaxUnsigned {
		if _, err := v.Next(msgs[1], now); err != nil {
			t.Fatalf("unsigned %d: %v", i+1, err)
		}
	}
	if _, err := v.Next(msgs[1], now); err == nil {
		t.Fatal("100th unsigned message accepted")
	}
}

// A StreamSigner signs a response's messages exactly as Sign does, message after message with the
// previous MAC, and StreamVerifier accepts them.
func TestStreamSignerMatchesSign(t *testing.T) {
	k := Key{Name: "Xfr.Example", Algorithm: "HMAC-SHA256", Secret: []byte("0123456789abcdef")}
	requestMAC := []byte("the request's mac")
	s, err := NewStreamSigner(k, requestMAC)
	if err != nil {
		t.Fatal(err)
	}
	verifier := NewStreamVerifier(k, requestMAC)
	prior := requestMAC
	now := time.Unix(1_800_000_000, 0)
	for i := range 4 {
		msg := make([]byte, 12, 512) // room for the TSIG: signed in place
		msg[0], msg[1], msg[2], msg[3] = 0x12, byte(i), 0x84, byte(i)
		want, mac, err := Sign(slices.Clone(msg), k, prior, i > 0, now)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Sign(msg, now)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: stream signer wrote\n%x\nSign wrote\n%x", i, got, want)
		}
		if &got[0] != &msg[0] {
			t.Fatalf("message %d was copied, not signed in place", i)
		}
		if _, err := verifier.Next(got, now); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		prior = mac
	}
	if err := verifier.Done(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStreamSigner(Key{Name: "k.", Algorithm: "hmac-md4", Secret: []byte("x")}, nil); err == nil {
		t.Fatal("an unsupported algorithm was accepted")
	}
}
