package validator

import (
	"encoding/json"
	"testing"
	"time"

	"codeberg.org/miekg/dns"
)

// keyRRset is a zone's DNSKEY RRset of pubs, signed at `at` by each of signers.
func keyRRset(tb testing.TB, zone string, pubs []*dns.DNSKEY, at time.Time, signers ...signingKey) ([]*dns.DNSKEY, []*dns.RRSIG) {
	tb.Helper()
	set := make([]dns.RR, len(pubs))
	for i, k := range pubs {
		set[i] = k
	}
	var sigs []*dns.RRSIG
	for _, s := range signers {
		sig := &dns.RRSIG{Hdr: dns.Header{Name: zone, Class: dns.ClassINET, TTL: 3600}}
		sig.Algorithm, sig.KeyTag, sig.SignerName = s.pub.Algorithm, s.pub.KeyTag(), zone
		sig.Inception, sig.Expiration = uint32(at.Add(-time.Hour).Unix()), uint32(at.Add(14*24*time.Hour).Unix())
		sig.OrigTTL, sig.Labels = 3600, uint8(countLabels(zone))
		cp := make([]dns.RR, len(set))
		for i, r := range set {
			cp[i] = r.Clone()
		}
		if err := sig.Sign(s.priv, cp, &dns.SignOption{}); err != nil {
			tb.Fatal(err)
		}
		sigs = append(sigs, sig)
	}
	return pubs, sigs
}

func revoked(k signingKey) signingKey {
	pub := k.pub.Clone().(*dns.DNSKEY)
	pub.Flags |= dns.FlagREVOKE
	return signingKey{pub: pub, priv: k.priv}
}

func anchorKeys(a *Anchor) map[uint16]bool {
	out := map[uint16]bool{}
	for _, k := range a.Keys {
		out[k.KeyTag()] = true
	}
	return out
}

// TestTrackerRollover: a KSK rollover of an anchored zone followed as RFC 5011 says: the new
// key trusted only after the 30-day hold-down, the old one dropped when it signs its own
// revocation, nothing taken from an RRset that does not validate, and the state surviving a
// round trip through its JSON.
func TestTrackerRollover(t *testing.T) {
	zone := "."
	ksk1 := newKey(t, zone, 257, dns.ECDSAP256SHA256)
	ksk2 := newKey(t, zone, 257, dns.ECDSAP256SHA256)
	zsk := newKey(t, zone, 256, dns.ECDSAP256SHA256)
	stranger := newKey(t, zone, 257, dns.ECDSAP256SHA256)
	start := testNow
	o := func(at time.Time) Options { return Options{Now: func() time.Time { return at }} }
	tr := NewTracker(&Anchor{Zone: zone, Keys: []*dns.DNSKEY{ksk1.pub}}, start)

	keys, sigs := keyRRset(t, zone, []*dns.DNSKEY{ksk1.pub, zsk.pub}, start, ksk1)
	if changed, err := tr.Update(o(start), keys, sigs, start); err != nil || changed {
		t.Fatalf("the same keys: changed %t, %v", changed, err)
	}
	// A stranger's RRset changes nothing.
	keys, sigs = keyRRset(t, zone, []*dns.DNSKEY{stranger.pub, zsk.pub}, start, stranger)
	if _, err := tr.Update(o(start), keys, sigs, start); err == nil {
		t.Fatal("an RRset signed by an unknown key was taken")
	}
	// The new KSK is published, signed by the old one.
	at := start.Add(24 * time.Hour)
	keys, sigs = keyRRset(t, zone, []*dns.DNSKEY{ksk1.pub, ksk2.pub, zsk.pub}, at, ksk1)
	if changed, err := tr.Update(o(at), keys, sigs, at); err != nil || !changed {
		t.Fatalf("new key: changed %t, %v", changed, err)
	}
	if a := anchorKeys(tr.Anchor()); a[ksk2.pub.KeyTag()] {
		t.Fatal("the new key is trusted before the hold-down")
	}
	at = start.Add(24*time.Hour + HoldDown - time.Hour)
	keys, sigs = keyRRset(t, zone, []*dns.DNSKEY{ksk1.pub, ksk2.pub, zsk.pub}, at, ksk1)
	tr.Update(o(at), keys, sigs, at)
	if a := anchorKeys(tr.Anchor()); a[ksk2.pub.KeyTag()] {
		t.Fatal("the new key is trusted an hour before the hold-down ends")
	}
	at = start.Add(24*time.Hour + HoldDown)
	keys, sigs = keyRRset(t, zone, []*dns.DNSKEY{ksk1.pub, ksk2.pub, zsk.pub}, at, ksk1)
	if changed, err := tr.Update(o(at), keys, sigs, at); err != nil || !changed {
		t.Fatalf("hold-down over: changed %t, %v", changed, err)
	}
	if a := anchorKeys(tr.Anchor()); !a[ksk1.pub.KeyTag()] || !a[ksk2.pub.KeyTag()] {
		t.Fatalf("after the hold-down: anchors %v, want both keys", a)
	}
	// The state is written and read back.
	data, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	var back Tracker
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Load(); err != nil {
		t.Fatal(err)
	}
	tr = &back
	// The revoked bit without the key's own signature is not a revocation.
	rev := revoked(ksk1)
	at = at.Add(time.Hour)
	keys, sigs = keyRRset(t, zone, []*dns.DNSKEY{rev.pub, ksk2.pub, zsk.pub}, at, ksk2)
	tr.Update(o(at), keys, sigs, at)
	if a := anchorKeys(tr.Anchor()); !a[ksk1.pub.KeyTag()] {
		t.Fatal("a revoked bit the key did not sign took the key away")
	}
	// Signed by the revoked key itself, it is.
	keys, sigs = keyRRset(t, zone, []*dns.DNSKEY{rev.pub, ksk2.pub, zsk.pub}, at, ksk2, rev)
	if changed, err := tr.Update(o(at), keys, sigs, at); err != nil || !changed {
		t.Fatalf("revocation: changed %t, %v", changed, err)
	}
	if a := anchorKeys(tr.Anchor()); a[ksk1.pub.KeyTag()] || !a[ksk2.pub.KeyTag()] {
		t.Fatalf("after the revocation: anchors %v, want the new key alone", a)
	}
	// The old key can no longer vouch for anything.
	keys, sigs = keyRRset(t, zone, []*dns.DNSKEY{ksk1.pub, zsk.pub}, at, ksk1)
	if _, err := tr.Update(o(at), keys, sigs, at); err == nil {
		t.Fatal("an RRset signed by the revoked key alone was taken")
	}
	// A pending key that goes away before the hold-down is forgotten.
	ksk3 := newKey(t, zone, 257, dns.ECDSAP256SHA256)
	keys, sigs = keyRRset(t, zone, []*dns.DNSKEY{ksk2.pub, ksk3.pub, zsk.pub}, at, ksk2)
	tr.Update(o(at), keys, sigs, at)
	keys, sigs = keyRRset(t, zone, []*dns.DNSKEY{ksk2.pub, zsk.pub}, at, ksk2)
	tr.Update(o(at), keys, sigs, at)
	if tr.find(ksk3.pub) >= 0 {
		t.Error("a pending key that went away is still tracked")
	}
}

// TestTrackerFromDS: an anchor given as DS becomes the key it matches on the first fetch.
func TestTrackerFromDS(t *testing.T) {
	zone := "."
	ksk := newKey(t, zone, 257, dns.ECDSAP256SHA256)
	tr := NewTracker(&Anchor{Zone: zone, DS: []*dns.DS{ksk.pub.ToDS(dns.SHA256)}}, testNow)
	keys, sigs := keyRRset(t, zone, []*dns.DNSKEY{ksk.pub}, testNow, ksk)
	if changed, err := tr.Update(testOptions(), keys, sigs, testNow); err != nil || !changed {
		t.Fatalf("changed %t, %v", changed, err)
	}
	if a := anchorKeys(tr.Anchor()); !a[ksk.pub.KeyTag()] {
		t.Errorf("the DS's key is not an anchor: %v", a)
	}
}

func TestTrackerLoadRejectsDamage(t *testing.T) {
	for _, text := range []string{
		`{"zone":".","keys":[{"key":"not a record","state":"valid"}]}`,
		`{"zone":".","keys":[{"key":". IN A 192.0.2.1","state":"valid"}]}`,
		`{"zone":".","keys":[{"key":". IN DNSKEY 257 3 13 AAAA","state":"bored"}]}`,
		`{"zone":".","ds":["nonsense"],"keys":[]}`,
	} {
		var tr Tracker
		if err := json.Unmarshal([]byte(text), &tr); err != nil {
			continue
		}
		if err := tr.Load(); err == nil {
			t.Errorf("%s: loaded", text)
		}
	}
}
