package update

import (
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
)

// FuzzApply: no update message may make Apply panic; a failure never carries a diff, a success
// without a diff carries no reason, and every diff applies cleanly to the zone and yields a zone
// that passes the zone checks.
func FuzzApply(f *testing.F) {
	for _, text := range []string{
		"update new 300 IN A 192.0.2.1",
		"prereq www 0 ANY ANY\nupdate www 0 ANY A\nupdate www 300 IN CNAME txt",
		"prereq www 0 IN A 192.0.2.80\nprereq www 0 IN A 192.0.2.81\nupdate @ 0 ANY ANY",
		"update @ 300 IN SOA ns1 h 200 1 2 3 4\nupdate @ 0 NONE NS ns2\nupdate @ 0 NONE NS ns1",
		"update ent 300 IN DNAME other.test.\nupdate a.b.ent 0 ANY ANY\nupdate ent 300 IN DNAME x.test.",
		"update alias 300 IN CNAME mail\nupdate alias 300 IN A 192.0.2.1\nupdate x.dn 300 IN A 192.0.2.1",
		"update priv 300 IN TYPE65280 \\# 2 abcd\nupdate www 0 NONE A 192.0.2.80",
	} {
		wire, err := dnstest.UpdateWire(1, "origin "+origin+"\nzone "+origin+"\n"+text)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	z := loadZone(f, baseZone)
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &dns.Msg{Data: data}
		if m.Unpack() != nil {
			return
		}
		r := Apply(z, m)
		if r.Rcode != dns.RcodeSuccess {
			if r.Diff != nil {
				t.Fatalf("%s with a diff", rcodeName(r.Rcode))
			}
			if r.Reason == "" {
				t.Fatalf("%s without a reason", rcodeName(r.Rcode))
			}
			return
		}
		if r.Reason != "" {
			t.Fatalf("success with a reason: %s", r.Reason)
		}
		if r.Diff == nil {
			return
		}
		if _, err := applyDiff(t, z, r.Diff); err != nil {
			t.Fatalf("diff does not apply: %v\nupdate:\n%v", err, m)
		}
	})
}
