package update

import (
	"slices"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
)

// knotSteps is a series of updates sent, in order, both to Knot and to Apply; each sees the zone
// the ones before it made. The rcode is what both must answer, except where knotAnswers says what
// Knot answers instead.
var knotSteps = []struct {
	name   string
	update string
	rcode  uint16
}{
	// §3.1 zone section.
	{"zone name not served", "zone other.test.\nupdate new.example.test. 300 IN A 192.0.2.1", dns.RcodeNotAuth},
	{"zone type not SOA", "zone example.test. A\nupdate new.example.test. 300 IN A 192.0.2.1", dns.RcodeFormatError},

	// §3.4.2.2 additions.
	{"add at a new name", "update new.example.test. 300 IN A 192.0.2.100", dns.RcodeSuccess},
	{"add a duplicate", "update new.example.test. 300 IN A 192.0.2.100", dns.RcodeSuccess},
	{"add to an RRset", "update www.example.test. 300 IN A 192.0.2.82", dns.RcodeSuccess},
	{"add below the empty non-terminal", "update c.b.ent.example.test. 300 IN TXT \"c\"", dns.RcodeSuccess},
	{"add with mixed-case owner", "update MiXeD.Example.Test. 300 IN A 192.0.2.101", dns.RcodeSuccess},
	{"add several types at once", "update multi.example.test. 300 IN A 192.0.2.102\nupdate multi.example.test. 300 IN AAAA 2001:db8::102\nupdate multi.example.test. 300 IN MX 10 mail.example.test.", dns.RcodeSuccess},

	{"add with another TTL sets the RRset's TTL", "update ns2.example.test. 60 IN A 192.0.2.55", dns.RcodeSuccess},
	{"add with empty RDATA", "update empty.example.test. 300 IN A", dns.RcodeFormatError},

	// §3.2 prerequisites.
	{"prereq name in use: yes", "prereq www.example.test. 0 ANY ANY\nupdate www.example.test. 300 IN TXT \"in use\"", dns.RcodeSuccess},
	{"prereq name in use: no", "prereq nothere.example.test. 0 ANY ANY\nupdate nothere.example.test. 300 IN A 192.0.2.1", dns.RcodeNameError},
	{"prereq name in use: empty non-terminal", "prereq ent.example.test. 0 ANY ANY\nupdate ent.example.test. 300 IN A 192.0.2.1", dns.RcodeNameError},
	{"prereq name not in use: yes", "prereq fresh.example.test. 0 NONE ANY\nupdate fresh.example.test. 300 IN A 192.0.2.103", dns.RcodeSuccess},
	{"prereq name not in use: no", "prereq www.example.test. 0 NONE ANY\nupdate www.example.test. 300 IN A 192.0.2.1", dns.RcodeYXDomain},
	{"prereq name not in use: empty non-terminal", "prereq b.ent.example.test. 0 NONE ANY\nupdate x.example.test. 300 IN A 192.0.2.104", dns.RcodeSuccess},
	{"prereq RRset exists: yes", "prereq mail.example.test. 0 ANY MX\nupdate mail.example.test. 300 IN MX 20 www.example.test.", dns.RcodeSuccess},
	{"prereq RRset exists: no", "prereq mail.example.test. 0 ANY AAAA\nupdate mail.example.test. 300 IN AAAA 2001:db8::25", dns.RcodeNXRrset},
	{"prereq RRset does not exist: yes", "prereq mail.example.test. 0 NONE AAAA\nupdate mail.example.test. 300 IN AAAA 2001:db8::25", dns.RcodeSuccess},
	{"prereq RRset does not exist: no", "prereq mail.example.test. 0 NONE A\nupdate mail.example.test. 300 IN A 192.0.2.26", dns.RcodeYXRrset},
	{"prereq RRset equals: yes, duplicates and case", "prereq WWW.example.test. 0 IN A 192.0.2.80\nprereq www.example.test. 0 IN A 192.0.2.81\nprereq www.example.test. 0 IN A 192.0.2.82\nprereq www.example.test. 0 IN A 192.0.2.80\nupdate eq.example.test. 300 IN A 192.0.2.105", dns.RcodeSuccess},
	{"prereq RRset equals: subset", "prereq www.example.test. 0 IN A 192.0.2.80\nupdate eq2.example.test. 300 IN A 192.0.2.1", dns.RcodeNXRrset},
	{"prereq RRset equals: absent", "prereq nothere.example.test. 0 IN A 192.0.2.80\nupdate eq2.example.test. 300 IN A 192.0.2.1", dns.RcodeNXRrset},
	{"prereq RRset equals: names in RDATA compare without case", "prereq alias.example.test. 0 IN CNAME WWW.EXAMPLE.TEST.\nupdate eq3.example.test. 300 IN A 192.0.2.106", dns.RcodeSuccess},
	{"prereq with a TTL", "prereq www.example.test. 300 ANY A\nupdate www.example.test. 300 IN A 192.0.2.1", dns.RcodeFormatError},
	{"prereq outside the zone", "prereq www.other.test. 0 ANY A\nupdate www.example.test. 300 IN A 192.0.2.1", dns.RcodeNotZone},
	{"prereq ANY with RDATA", "prereq www.example.test. 0 ANY A 192.0.2.80\nupdate www.example.test. 300 IN A 192.0.2.1", dns.RcodeFormatError},
	{"prereq NONE with RDATA", "prereq www.example.test. 0 NONE A 192.0.2.80\nupdate www.example.test. 300 IN A 192.0.2.1", dns.RcodeFormatError},
	{"prereq class CH", "prereq www.example.test. 0 CH A\nupdate www.example.test. 300 IN A 192.0.2.1", dns.RcodeFormatError},
	{"failed prereq before a bad update", "prereq nothere.example.test. 0 ANY ANY\nupdate www.other.test. 300 IN A 192.0.2.1", dns.RcodeNameError},

	// §3.4.1 prescan: nothing changes when any record is bad, even after good ones.
	{"update outside the zone after a good one", "update good.example.test. 300 IN A 192.0.2.1\nupdate www.other.test. 300 IN A 192.0.2.1", dns.RcodeNotZone},
	{"add of type ANY", "update good.example.test. 300 IN A 192.0.2.1\nupdate good.example.test. 300 IN ANY", dns.RcodeFormatError},
	{"delete RRset with RDATA", "update good.example.test. 300 IN A 192.0.2.1\nupdate www.example.test. 0 ANY A 192.0.2.80", dns.RcodeFormatError},
	{"delete RRset of type AXFR", "update www.example.test. 0 ANY AXFR", dns.RcodeFormatError},
	{"delete RR with a TTL", "update www.example.test. 300 NONE A 192.0.2.80", dns.RcodeFormatError},
	{"delete RR of type ANY", "update www.example.test. 0 NONE ANY", dns.RcodeFormatError},
	{"update class CH", "update www.example.test. 0 CH A", dns.RcodeFormatError},

	// §3.4.2.3 and §3.4.2.4 deletions.
	{"delete an RRset", "update www.example.test. 0 ANY AAAA", dns.RcodeSuccess},
	{"delete one RR", "update www.example.test. 0 NONE A 192.0.2.82", dns.RcodeSuccess},
	{"delete one RR, owner and RDATA name in other case", "update MAIL.example.test. 0 NONE MX 20 WWW.example.test.", dns.RcodeSuccess},
	{"delete an RR that is not there", "update www.example.test. 0 NONE A 192.0.2.99", dns.RcodeSuccess},
	{"delete a name", "update mail.example.test. 0 ANY ANY", dns.RcodeSuccess},
	{"delete the only name below an empty non-terminal", "update a.b.ent.example.test. 0 ANY ANY", dns.RcodeSuccess},
	{"delete a name that does not exist", "update nothere.example.test. 0 ANY ANY", dns.RcodeSuccess},
	{"delete everything at the apex keeps SOA and NS", "update example.test. 0 ANY ANY", dns.RcodeSuccess},
	{"delete the apex NS RRset is ignored", "update example.test. 0 ANY NS", dns.RcodeSuccess},
	{"delete the apex SOA RRset is ignored", "update example.test. 0 ANY SOA", dns.RcodeSuccess},
	{"delete the SOA record is ignored", "update example.test. 0 NONE SOA ns1.example.test. hostmaster.example.test. 100 7200 3600 1209600 300", dns.RcodeSuccess},
	{"delete one of two apex NS", "update example.test. 0 NONE NS ns2.example.test.", dns.RcodeSuccess},
	{"delete the last apex NS is ignored", "update example.test. 0 NONE NS ns1.example.test.", dns.RcodeSuccess},
	{"delete a delegation", "update sub.example.test. 0 ANY NS", dns.RcodeSuccess},

	// CNAME and DNAME rules.
	{"CNAME at a name with data is ignored", "update www.example.test. 300 IN CNAME txt.example.test.", dns.RcodeSuccess},
	{"data at a CNAME is ignored", "update alias.example.test. 300 IN A 192.0.2.1", dns.RcodeSuccess},
	{"CNAME replaces a CNAME", "update alias.example.test. 300 IN CNAME txt.example.test.", dns.RcodeSuccess},
	{"CNAME at a new name", "update alias2.example.test. 300 IN CNAME www.example.test.", dns.RcodeSuccess},
	{"CNAME after deleting the name's data", "update txt.example.test. 0 ANY ANY\nupdate txt.example.test. 300 IN CNAME www.example.test.", dns.RcodeSuccess},
	// Knot 3.2.6 stops answering when an update replaces a DNAME, so that case is only in the
	// table tests.
	{"data below a DNAME is ignored", "update x.dn.example.test. 300 IN A 192.0.2.1", dns.RcodeSuccess},
	{"DNAME above data is ignored", "update ent.example.test. 300 IN DNAME other.test.", dns.RcodeSuccess},

	// SOA.
	{"SOA with an older serial is ignored", "update example.test. 300 IN SOA ns1.example.test. h.example.test. 50 1 2 3 4", dns.RcodeSuccess},
	{"SOA below the apex is ignored", "update www.example.test. 300 IN SOA ns1.example.test. h.example.test. 5000 1 2 3 4", dns.RcodeSuccess},
	{"SOA with a newer serial replaces it", "update example.test. 600 IN SOA ns2.example.test. h.example.test. 5000 7200 3600 1209600 60", dns.RcodeSuccess},
	{"SOA with the same serial is ignored", "update example.test. 600 IN SOA ns1.example.test. x.example.test. 5000 1 2 3 4", dns.RcodeSuccess},
	{"SOA set with other changes", "update example.test. 600 IN SOA ns2.example.test. h.example.test. 6000 7200 3600 1209600 60\nupdate soa.example.test. 300 IN A 192.0.2.107", dns.RcodeSuccess},

	// Each update sees the ones before it.
	{"add then delete in one message changes nothing", "update tmp.example.test. 300 IN A 192.0.2.1\nupdate tmp.example.test. 0 ANY A", dns.RcodeSuccess},
	{"delete then add back in one message changes nothing", "update ns1.example.test. 0 ANY A\nupdate ns1.example.test. 3600 IN A 192.0.2.53", dns.RcodeSuccess},
	{"add a delegation with glue", "update deleg.example.test. 300 IN NS ns.deleg.example.test.\nupdate ns.deleg.example.test. 300 IN A 192.0.2.110", dns.RcodeSuccess},
}

// knotAnswers holds the deliberate differences: steps where Knot answers otherwise, and neither
// server changes the zone. RFC 6672 §5.2 and Knot from 3.3 ignore data added below a DNAME and a
// DNAME added above data; Knot 3.2 refuses the whole update.
var knotAnswers = map[string]uint16{
	"data below a DNAME is ignored": dns.RcodeRefused,
	"DNAME above data is ignored":   dns.RcodeRefused,
}

// TestAgainstKnot sends each step to Knot and to Apply and compares the rcode and, after each
// step, the whole zone (Knot's by AXFR, Warden's built from the diffs).
func TestAgainstKnot(t *testing.T) {
	addr := dnstest.StartKnotUpdate(t, origin, baseZone)
	z := loadZone(t, baseZone)
	for i, step := range knotSteps {
		text := step.update
		if !strings.HasPrefix(text, "zone ") {
			text = "zone " + origin + "\n" + text
		}
		wire, err := dnstest.UpdateWire(uint16(i+1), text)
		if err != nil {
			t.Fatalf("step %d %s: %v", i+1, step.name, err)
		}
		resp, err := dnstest.ExchangeTCP(addr, wire)
		if err != nil {
			t.Fatalf("step %d %s: Knot: %v", i+1, step.name, err)
		}
		m := &dns.Msg{Data: wire}
		if err := m.Unpack(); err != nil {
			t.Fatalf("step %d %s: %v", i+1, step.name, err)
		}
		r := Apply(z, m)
		knotWant, differs := knotAnswers[step.name]
		if !differs {
			knotWant = step.rcode
		}
		if resp.Rcode != knotWant || r.Rcode != step.rcode {
			t.Errorf("step %d %s: rcode Knot %s, Warden %s (%s), want %s", i+1, step.name,
				rcodeName(resp.Rcode), rcodeName(r.Rcode), r.Reason, rcodeName(step.rcode))
			if differs {
				t.Logf("Knot is expected to answer %s here", rcodeName(knotWant))
			}
		}
		if r.Diff != nil {
			if z, err = applyDiff(t, z, r.Diff); err != nil {
				t.Fatalf("step %d %s: diff does not apply: %v", i+1, step.name, err)
			}
		}
		knot, err := dnstest.AXFRTCP(addr, origin)
		if err != nil {
			t.Fatalf("step %d %s: %v", i+1, step.name, err)
		}
		if d := diffRecords(recordStrings(knot), recordStrings(slices.Collect(z.All()))); d != "" {
			t.Fatalf("step %d %s: zones differ after the update (- Knot only, + Warden only):\n%s", i+1, step.name, d)
		}
	}
}

// diffRecords lists the records only in a (-) and only in b (+), or "".
func diffRecords(a, b []string) string {
	var out strings.Builder
	for _, s := range a {
		if !slices.Contains(b, s) {
			out.WriteString("- " + s + "\n")
		}
	}
	for _, s := range b {
		if !slices.Contains(a, s) {
			out.WriteString("+ " + s + "\n")
		}
	}
	return out.String()
}
