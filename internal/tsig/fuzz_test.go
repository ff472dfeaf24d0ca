package tsig

import (
	"testing"
)

func FuzzVerify(f *testing.F) {
	k := mustKey(f, "xfr:hmac-sha256:c2VjcmV0")
	ring, _ := NewKeyring(k)
	signed, mac, _ := Sign(query(f, 1), k, nil, false, now)
	f.Add(signed)
	resp, _, _ := Sign(query(f, 2), k, mac, false, now)
	f.Add(resp)
	f.Add(query(f, 3))
	f.Fuzz(func(t *testing.T, msg []byte) {
		v, err := Verify(msg, ring, nil, false, now)
		if err == nil && v.Signed && len(v.Stripped) >= len(msg) {
			t.Fatalf("stripped message not shorter: %d >= %d", len(v.Stripped), len(msg))
		}
		sv := NewStreamVerifier(k, mac)
		_, _ = sv.Next(msg, now)
		_, _ = sv.Next(msg, now)
		_ = sv.Done()
	})
}
