package signer

import (
	"testing"

	"codeberg.org/miekg/dns"
)

// FuzzKeyFiles feeds key files from a key directory, which the operator may have edited or
// copied from another server, to the readers: they must refuse what is wrong without panicking.
func FuzzKeyFiles(f *testing.F) {
	f.Add([]byte("; comment\nexample.test. 3600 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n"),
		[]byte("Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: GU6SnQ/Ou+xC5RumuIUIuJZteXT2z0O/ok1s38Et6mQ=\nCreated: 20261207000000\n"))
	f.Add([]byte("example.test. IN DNSKEY 256 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n"), []byte("Private-key-format: v1.2\nAlgorithm: 15 (ED25519)\nPrivateKey: ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=\n"))
	f.Add([]byte(""), []byte("Activate: 99999999999999\n"))
	f.Add([]byte(""), []byte("Publish: 20261207000000\nActivate: 20261207000100\nInactive: 20261208000000\nDelete: 20261209000000\nSyncPublish: 20261207000200\nSyncDelete: 20261208000000\nDSPublish: 20261207010000\nDSRemoved: 20261208000000\n"))
	f.Fuzz(func(t *testing.T, pub, priv []byte) {
		// What a rollover writes back (saveTiming) reads as it was.
		if tm, err := parseTiming(priv, "K.private"); err == nil {
			k := &Key{Timing: tm}
			if again, err := parseTiming([]byte(timingLines(k)), "K.private"); err != nil || again != tm {
				t.Fatalf("timing %+v written and read back is %+v, %v", tm, again, err)
			}
		}
		key, err := parseDNSKEY(pub, "K.key", "example.test.")
		if _, terr := parseTiming(priv, "K.private"); terr != nil && err == nil {
			// A timing error must stop the key from loading.
			if _, _, perr := parsePrivate(priv, "K.private", key); perr == nil {
				t.Fatalf("timing error %v, but the private file loads", terr)
			}
		}
		if err != nil {
			return
		}
		if signer, _, err := parsePrivate(priv, "K.private", key); err == nil {
			if matches(key, signer) != nil {
				t.Fatal("a private key that does not match its public key was accepted")
			}
			if key.Flags&dns.FlagZONE == 0 {
				t.Fatal("a non-zone key was accepted")
			}
		}
	})
}
