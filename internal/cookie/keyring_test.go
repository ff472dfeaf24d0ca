package cookie

import (
	"net/netip"
	"testing"
)

// After a rotation the retired secret's cookies stay valid but are not sent back (the client is
// given one under the new secret); once the secret is dropped they are no longer valid.
func TestKeyringRotation(t *testing.T) {
	oldSecret, _ := ParseSecret("00112233445566778899aabbccddeeff")
	newSecret, _ := ParseSecret("ffeeddccbbaa99887766554433221100")
	client := []byte("abcdefgh")
	addr := netip.MustParseAddr("192.0.2.7")
	const now = 1_800_000_000
	var underOld, underNew [Len]byte
	oldSecret.Make(&underOld, client, addr, now)
	rotated := NewKeyring(newSecret, oldSecret)
	rotated.Make(&underNew, client, addr, now)
	if v, _ := newSecret.Check(client, underNew[:], addr, now); !v {
		t.Fatal("the keyring does not make cookies with its current secret")
	}
	for _, c := range []struct {
		note          string
		keys          *Keyring
		cookie        []byte
		valid, reused bool
	}{
		{"old cookie before the rotation", NewKeyring(oldSecret), underOld[:], true, true},
		{"old cookie after the rotation", rotated, underOld[:], true, false},
		{"new cookie after the rotation", rotated, underNew[:], true, true},
		{"old cookie once the old secret is dropped", NewKeyring(newSecret), underOld[:], false, false},
	} {
		v, r := c.keys.Check(client, c.cookie, addr, now+10)
		if v != c.valid || r != c.reused {
			t.Errorf("%s: valid %t reuse %t, want %t %t", c.note, v, r, c.valid, c.reused)
		}
	}
	if v, _ := rotated.Check(client, underOld[:], netip.MustParseAddr("192.0.2.8"), now); v {
		t.Error("an old cookie is valid from another address")
	}
}

func TestKeyringEqualAndBound(t *testing.T) {
	a, _ := ParseSecret("00112233445566778899aabbccddeeff")
	b, _ := ParseSecret("ffeeddccbbaa99887766554433221100")
	if !NewKeyring(a, b).Equal(NewKeyring(a, b)) || NewKeyring(a, b).Equal(NewKeyring(a)) ||
		NewKeyring(a).Equal(NewKeyring(b)) || NewKeyring(a).Equal(nil) || !(*Keyring)(nil).Equal(nil) {
		t.Error("Equal disagrees with the secrets")
	}
	if k := NewKeyring(a, b, b, b, b, b); len(k.previous) != MaxPrevious {
		t.Errorf("%d previous secrets kept, want at most %d", len(k.previous), MaxPrevious)
	}
}

// BenchmarkKeyringCheck is the check of a valid current cookie, the path of a client that
// presents one: one SipHash, no allocation, whatever the retired secrets.
func BenchmarkKeyringCheck(b *testing.B) {
	cur, _ := NewSecret()
	old, _ := NewSecret()
	k := NewKeyring(cur, old)
	client := []byte("12345678")
	addr := netip.MustParseAddr("192.0.2.1")
	var c [Len]byte
	k.Make(&c, client, addr, 1_800_000_000)
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := k.Check(client, c[:], addr, 1_800_000_000); !v {
			b.Fatal("invalid")
		}
	}
}
