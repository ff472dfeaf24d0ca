package update

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/zone"
)

// baseZone is the zone the tests update: a two-NS apex, hosts, a CNAME, an empty non-terminal
// (b.ent above a.b.ent), a delegation with glue and a DNAME.
const baseZone = `$ORIGIN example.test.
$TTL 3600
@        IN SOA   ns1 hostmaster 100 7200 3600 1209600 300
@        IN NS    ns1
@        IN NS    ns2
@        IN A     192.0.2.1
@        IN TXT   "apex"
ns1      IN A     192.0.2.53
ns2      IN A     192.0.2.54
www  300 IN A     192.0.2.80
www  300 IN A     192.0.2.81
www  600 IN AAAA  2001:db8::80
mail     IN A     192.0.2.25
mail     IN MX    10 mail
alias    IN CNAME www
txt      IN TXT   "hello"
a.b.ent  IN A     192.0.2.90
sub      IN NS    ns.sub
ns.sub   IN A     192.0.2.201
dn       IN DNAME other.test.
`

const origin = "example.test."

func loadZone(t testing.TB, text string) *zone.Zone {
	t.Helper()
	z, _, err := zone.Load(origin, "test.zone", []byte(text))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return z
}

// updateMsg packs an update written as dnstest.UpdateWire text and parses it back, as the server
// would hand it over. Without a zone line the zone section is origin SOA IN; names are relative
// to origin.
func updateMsg(t testing.TB, text string) *dns.Msg {
	t.Helper()
	if !strings.Contains(text, "zone ") {
		text = "zone " + origin + "\n" + text
	}
	text = "origin " + origin + "\n" + text
	wire, err := dnstest.UpdateWire(0x1234, text)
	if err != nil {
		t.Fatal(err)
	}
	m := &dns.Msg{Data: wire}
	if err := m.Unpack(); err != nil {
		t.Fatalf("unpack update: %v", err)
	}
	return m
}

// applyDiff builds the zone that z becomes under d (the way the server will), checking that d
// applies cleanly: every removed record is in z, no added record is, the SOA it starts from is
// z's, and the result passes the zone checks.
func applyDiff(t testing.TB, z *zone.Zone, d *zone.Diff) (*zone.Zone, error) {
	t.Helper()
	if d.From == nil || d.To == nil || d.From.Serial != z.Serial() {
		return nil, fmt.Errorf("diff SOAs: from %v to %v, zone serial %d", d.From, d.To, z.Serial())
	}
	all := slices.Collect(z.All())
	for _, rr := range slices.Concat(d.Removed, d.Added) {
		if _, ok := rr.(*dns.SOA); ok {
			return nil, fmt.Errorf("SOA in the diff's records: %s", rr)
		}
	}
	for _, rr := range d.Removed {
		if !inZone(all, rr) {
			return nil, fmt.Errorf("removed record %s is not in the zone", rr)
		}
	}
	for _, rr := range d.Added {
		if inZone(all, rr) {
			return nil, fmt.Errorf("added record %s is already in the zone", rr)
		}
	}
	next := []dns.RR{d.To}
	for _, rr := range all[1:] {
		if !inZone(d.Removed, rr) {
			next = append(next, rr)
		}
	}
	next = append(next, d.Added...)
	nz, _, err := zone.Build(z.Origin, "diff", next)
	return nz, err
}

// inZone says whether rrs, records of many owners, hold rr: same owner (any case), type, RDATA
// and TTL.
func inZone(rrs []dns.RR, rr dns.RR) bool {
	for _, o := range rrs {
		if strings.EqualFold(o.Header().Name, rr.Header().Name) && containsExact([]dns.RR{o}, rr) {
			return true
		}
	}
	return false
}

// recordStrings returns rrs in presentation form, sorted, owners and the names in RDATA that
// compare without case lower-cased (Knot lower-cases them as it takes an update in; Warden keeps
// the case it was given).
func recordStrings(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		c := lowerNames(rr.Clone())
		c.Header().Name = strings.ToLower(c.Header().Name)
		out = append(out, strings.Join(strings.Fields(c.String()), " "))
	}
	slices.Sort(out)
	return out
}

// zoneText parses master-file lines (owners relative to origin allowed) into presentation form.
func zoneText(t testing.TB, text string) []string {
	t.Helper()
	var rrs []dns.RR
	zp := dns.NewZoneParser(strings.NewReader(text), origin, "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("expected records: %v", err)
	}
	return recordStrings(rrs)
}

func rcodeName(r uint16) string { return dns.RcodeToString[r] }
