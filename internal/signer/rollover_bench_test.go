package signer

import (
	"testing"
	"time"
)

// BenchmarkRekey re-signs a 10,000-record zone for the two events of a ZSK rollover: the new
// key's publication (the apex key sets and the SOA only) and its switch (every signature the
// old ZSK made); beside BenchmarkSign, it shows what a key event costs against signing whole.
// go test -run '^$' -bench Rekey -benchmem ./internal/signer/
func BenchmarkRekey(b *testing.B) {
	p := Policy{DNSKEYTTL: 300, PropagationDelay: time.Minute, ZSKLifetime: 3 * time.Hour}.Defaults()
	u := loadZone(b, benchZone(10000))
	dir := b.TempDir()
	open := func(at time.Time) *KeySet {
		keys, _, err := OpenKeys(dir, u.Origin, p, at)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Roll(keys, dir, p, TTLsOf(u), at); err != nil {
			b.Fatal(err)
		}
		return keys
	}
	start := now.Add(-4 * time.Hour)
	s0, err := Sign(u, open(start), p, start, 1)
	if err != nil {
		b.Fatal(err)
	}
	publish := start.Add(3 * time.Hour)
	published := open(publish)
	s1, _, err := Rekey(s0, published, publish)
	if err != nil {
		b.Fatal(err)
	}
	switchAt := published.NextEvent(p, publish)
	switched := open(switchAt)
	for _, ev := range []struct {
		name string
		prev *Signed
		keys *KeySet
		at   time.Time
	}{{"publish", s0, published, publish}, {"switch", s1, switched, switchAt}} {
		b.Run(ev.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := Rekey(ev.prev, ev.keys, ev.at); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
