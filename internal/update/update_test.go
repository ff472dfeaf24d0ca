package update

import (
	"slices"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"
)

// applyCase is one update against baseZone (or zone, when set). Records are zone-file text with
// owners relative to example.test.; serial is the SOA serial the diff leads to.
type applyCase struct {
	name    string
	zone    string
	update  string
	rcode   uint16
	reason  string // a failure's Reason must contain this
	removed string
	added   string
	// serial is the SOA serial the diff leads to; with no records removed or added, 0 says the
	// update must change nothing (Diff nil).
	serial uint32
}

func runCases(t *testing.T, cases []applyCase) {
	t.Helper()
	base := loadZone(t, baseZone)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			z := base
			if c.zone != "" {
				z = loadZone(t, c.zone)
			}
			all := recordStrings(slices.Collect(z.All()))
			r := Apply(z, updateMsg(t, c.update))
			if !slices.Equal(all, recordStrings(slices.Collect(z.All()))) {
				t.Fatal("Apply changed the zone it was given")
			}
			if r.Rcode != c.rcode {
				t.Fatalf("rcode %s (%s), want %s", rcodeName(r.Rcode), r.Reason, rcodeName(c.rcode))
			}
			if c.rcode != dns.RcodeSuccess {
				if r.Diff != nil {
					t.Fatalf("a failed update has a diff: %+v", r.Diff)
				}
				if !strings.Contains(r.Reason, c.reason) || c.reason == "" {
					t.Fatalf("reason %q, want it to contain %q", r.Reason, c.reason)
				}
				return
			}
			if r.Reason != "" {
				t.Errorf("reason %q on success", r.Reason)
			}
			if c.serial == 0 && c.removed == "" && c.added == "" {
				if r.Diff != nil {
					t.Fatalf("diff for an update that changes nothing: removed %v added %v to %v",
						r.Diff.Removed, r.Diff.Added, r.Diff.To)
				}
				return
			}
			if r.Diff == nil {
				t.Fatal("no diff")
			}
			if got, want := recordStrings(r.Diff.Removed), zoneText(t, c.removed); !slices.Equal(got, want) {
				t.Errorf("removed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if got, want := recordStrings(r.Diff.Added), zoneText(t, c.added); !slices.Equal(got, want) {
				t.Errorf("added:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if r.Diff.To.Serial != c.serial {
				t.Errorf("serial %d, want %d", r.Diff.To.Serial, c.serial)
			}
			if _, err := applyDiff(t, z, r.Diff); err != nil {
				t.Errorf("diff does not apply: %v", err)
			}
		})
	}
}

func TestZoneSection(t *testing.T) {
	runCases(t, []applyCase{
		{name: "type A", update: "zone example.test. A", rcode: dns.RcodeFormatError, reason: "type A, want SOA"},
		{name: "class CH", update: "zone example.test. SOA CH", rcode: dns.RcodeNotAuth, reason: "class CH"},
		{name: "another zone", update: "zone example.org.", rcode: dns.RcodeNotAuth, reason: "is not zone example.test."},
		{name: "a name inside the zone", update: "zone www.example.test.", rcode: dns.RcodeNotAuth, reason: "is not zone"},
		{name: "zone name in another case", update: "zone EXAMPLE.Test.\nupdate new 300 IN A 192.0.2.1", rcode: dns.RcodeSuccess,
			added: "new 300 IN A 192.0.2.1", serial: 101},
		{name: "empty update", update: "", rcode: dns.RcodeSuccess},
	})

	z := loadZone(t, baseZone)
	query := dns.NewMsg(origin, dns.TypeSOA)
	if r := Apply(z, query); r.Rcode != dns.RcodeFormatError || !strings.Contains(r.Reason, "opcode QUERY") {
		t.Errorf("a query: %s %q, want FORMERR naming the opcode", rcodeName(r.Rcode), r.Reason)
	}
	two := &dns.Msg{Question: []dns.RR{query.Question[0], query.Question[0]}}
	two.Opcode = dns.OpcodeUpdate
	if r := Apply(z, two); r.Rcode != dns.RcodeFormatError || !strings.Contains(r.Reason, "zone section: 2 records") {
		t.Errorf("two zones: %s %q, want FORMERR", rcodeName(r.Rcode), r.Reason)
	}
	none := &dns.Msg{}
	none.Opcode = dns.OpcodeUpdate
	if r := Apply(z, none); r.Rcode != dns.RcodeFormatError || !strings.Contains(r.Reason, "0 records") {
		t.Errorf("no zone: %s %q, want FORMERR", rcodeName(r.Rcode), r.Reason)
	}
}

func TestPrerequisites(t *testing.T) {
	const add = "\nupdate new 300 IN A 192.0.2.1"
	const added = "new 300 IN A 192.0.2.1"
	runCases(t, []applyCase{
		{name: "name in use", update: "prereq www.example.test. 0 ANY ANY" + add, added: added, serial: 101},
		{name: "name in use: absent", update: "prereq nothere.example.test. 0 ANY ANY" + add, rcode: dns.RcodeNameError,
			reason: "prerequisite 1: nothere.example.test. ANY ANY: name is not in use"},
		{name: "name in use: empty non-terminal", update: "prereq b.ent.example.test. 0 ANY ANY" + add, rcode: dns.RcodeNameError, reason: "not in use"},
		{name: "name in use: CNAME", update: "prereq alias.example.test. 0 ANY ANY" + add, added: added, serial: 101},
		{name: "name not in use", update: "prereq nothere.example.test. 0 NONE ANY" + add, added: added, serial: 101},
		{name: "name not in use: empty non-terminal", update: "prereq ent.example.test. 0 NONE ANY" + add, added: added, serial: 101},
		{name: "name not in use: in use", update: "prereq www.example.test. 0 NONE ANY" + add, rcode: dns.RcodeYXDomain, reason: "name is in use"},
		{name: "RRset exists", update: "prereq www.example.test. 0 ANY AAAA" + add, added: added, serial: 101},
		{name: "RRset exists: absent", update: "prereq www.example.test. 0 ANY MX" + add, rcode: dns.RcodeNXRrset,
			reason: "prerequisite 1: www.example.test. ANY MX: RRset does not exist"},
		{name: "RRset does not exist", update: "prereq www.example.test. 0 NONE MX" + add, added: added, serial: 101},
		{name: "RRset does not exist: exists", update: "prereq www.example.test. 0 NONE A" + add, rcode: dns.RcodeYXRrset, reason: "RRset exists"},
		{name: "RRset equals, TTL aside", update: "prereq www.example.test. 0 IN A 192.0.2.81\nprereq www.example.test. 0 IN A 192.0.2.80" + add,
			added: added, serial: 101},
		{name: "RRset equals: duplicates collapse", update: "prereq www.example.test. 0 IN A 192.0.2.81\nprereq www.example.test. 0 IN A 192.0.2.80\nprereq www.example.test. 0 IN A 192.0.2.81" + add,
			added: added, serial: 101},
		{name: "RRset equals: subset", update: "prereq txt.example.test. 0 ANY TXT\nprereq www.example.test. 0 IN A 192.0.2.80" + add,
			rcode: dns.RcodeNXRrset, reason: "prerequisite 2: www.example.test. A: RRset differs"},
		{name: "RRset equals: superset", update: "prereq www.example.test. 0 IN A 192.0.2.80\nprereq www.example.test. 0 IN A 192.0.2.81\nprereq www.example.test. 0 IN A 192.0.2.82" + add,
			rcode: dns.RcodeNXRrset, reason: "prerequisite 1: www.example.test. A: RRset differs"},
		{name: "RRset equals: absent", update: "prereq nothere.example.test. 0 IN A 192.0.2.80" + add, rcode: dns.RcodeNXRrset, reason: "RRset does not exist"},
		{name: "RRset equals: names in RDATA without case", update: "prereq mail.example.test. 0 IN MX 10 MAIL.EXAMPLE.TEST." + add, added: added, serial: 101},
		{name: "RRset equals is checked after every other prerequisite", update: "prereq www.example.test. 0 IN A 192.0.2.80\nprereq nothere.example.test. 0 ANY ANY" + add,
			rcode: dns.RcodeNameError, reason: "prerequisite 2"},
		{name: "TTL", update: "prereq www.example.test. 1 ANY A" + add, rcode: dns.RcodeFormatError, reason: "TTL 1, want 0"},
		{name: "outside the zone", update: "prereq www.example.org. 0 ANY A" + add, rcode: dns.RcodeNotZone, reason: "outside zone"},
		{name: "the parent of the zone", update: "prereq test. 0 ANY ANY" + add, rcode: dns.RcodeNotZone, reason: "outside zone"},
		{name: "ANY with RDATA", update: "prereq www.example.test. 0 ANY A 192.0.2.80" + add, rcode: dns.RcodeFormatError, reason: "RDATA must be empty"},
		{name: "NONE with RDATA", update: "prereq www.example.test. 0 NONE TXT \"x\"" + add, rcode: dns.RcodeFormatError, reason: "RDATA must be empty"},
		{name: "class CH", update: "prereq www.example.test. 0 CH A" + add, rcode: dns.RcodeFormatError, reason: "class 3"},
		{name: "failed prerequisite before a bad update", update: "prereq nothere.example.test. 0 ANY ANY\nupdate www.example.org. 300 IN A 192.0.2.1",
			rcode: dns.RcodeNameError, reason: "prerequisite 1"},
		{name: "a name with escapes is never in use", update: "prereq a\\.b.example.test. 0 NONE ANY" + add, added: added, serial: 101},
	})
}

func TestPrescan(t *testing.T) {
	const good = "update good 300 IN A 192.0.2.1\n"
	runCases(t, []applyCase{
		{name: "outside the zone", update: good + "update www.example.org. 300 IN A 192.0.2.1", rcode: dns.RcodeNotZone,
			reason: "update 2: www.example.org. A: name is outside zone example.test."},
		{name: "add of type ANY", update: good + "update good.example.test. 300 IN ANY", rcode: dns.RcodeFormatError, reason: "type ANY cannot be added"},
		{name: "add of type AXFR", update: good + "update good.example.test. 300 IN AXFR", rcode: dns.RcodeFormatError, reason: "type AXFR"},
		{name: "add of type OPT", update: good + "update good.example.test. 300 IN OPT", rcode: dns.RcodeFormatError, reason: "type OPT"},
		{name: "add with empty RDATA", update: good + "update good.example.test. 300 IN A", rcode: dns.RcodeFormatError, reason: "RDATA is empty"},
		{name: "delete RRset with a TTL", update: good + "update www.example.test. 300 ANY A", rcode: dns.RcodeFormatError, reason: "TTL 300, want 0"},
		{name: "delete RRset with RDATA", update: good + "update www.example.test. 0 ANY A 192.0.2.80", rcode: dns.RcodeFormatError, reason: "RDATA must be empty"},
		{name: "delete RRset of type MAILA", update: good + "update www.example.test. 0 ANY TYPE254", rcode: dns.RcodeFormatError, reason: "type TYPE254 cannot be deleted"},
		{name: "delete RR with a TTL", update: good + "update www.example.test. 300 NONE A 192.0.2.80", rcode: dns.RcodeFormatError, reason: "TTL 300"},
		{name: "delete RR of type ANY", update: good + "update www.example.test. 0 NONE ANY", rcode: dns.RcodeFormatError, reason: "type ANY cannot be deleted"},
		{name: "class CH", update: good + "update www.example.test. 0 CH A", rcode: dns.RcodeFormatError, reason: "class 3 is not IN, ANY or NONE"},
		{name: "add at a name with escapes", update: good + "update a\\.b.example.test. 300 IN A 192.0.2.1", rcode: dns.RcodeRefused, reason: "escapes"},
		{name: "delete at a name with escapes deletes nothing", update: "update a\\.b.example.test. 0 ANY ANY", rcode: dns.RcodeSuccess},
	})
}

func TestAdditions(t *testing.T) {
	runCases(t, []applyCase{
		{name: "new name", update: "update new 300 IN A 192.0.2.1", added: "new 300 IN A 192.0.2.1", serial: 101},
		{name: "below an empty non-terminal", update: "update c.b.ent 300 IN A 192.0.2.1", added: "c.b.ent 300 IN A 192.0.2.1", serial: 101},
		{name: "owner case folds", update: "update NeW.Example.TEST. 300 IN A 192.0.2.1", added: "new 300 IN A 192.0.2.1", serial: 101},
		{name: "to an RRset", update: "update www 300 IN A 192.0.2.82", added: "www 300 IN A 192.0.2.82", serial: 101},
		{name: "duplicate", update: "update www 300 IN A 192.0.2.80"},
		{name: "duplicate in another case", update: "update mail 3600 IN MX 10 MAIL.example.test."},
		{name: "twice in one message", update: "update new 300 IN A 192.0.2.1\nupdate new 300 IN A 192.0.2.1", added: "new 300 IN A 192.0.2.1", serial: 101},
		{name: "another TTL sets the RRset's", update: "update www 60 IN A 192.0.2.82",
			removed: "www 300 IN A 192.0.2.80\nwww 300 IN A 192.0.2.81",
			added:   "www 60 IN A 192.0.2.80\nwww 60 IN A 192.0.2.81\nwww 60 IN A 192.0.2.82", serial: 101},
		{name: "duplicate with another TTL sets the RRset's", update: "update www 60 IN A 192.0.2.80",
			removed: "www 300 IN A 192.0.2.80\nwww 300 IN A 192.0.2.81",
			added:   "www 60 IN A 192.0.2.80\nwww 60 IN A 192.0.2.81", serial: 101},
		{name: "a type the DNS library does not know", update: "update priv 300 IN TYPE65280 \\# 2 abcd\nupdate priv 300 IN TYPE65281 \\# 2 abcd",
			added: "priv 300 IN TYPE65280 \\# 2 abcd\npriv 300 IN TYPE65281 \\# 2 abcd", serial: 101},
		{name: "apex NS", update: "update @ 3600 IN NS ns3.example.org.", added: "@ 3600 IN NS ns3.example.org.", serial: 101},
		{name: "delegation", update: "update d 300 IN NS ns.d\nupdate ns.d 300 IN A 192.0.2.9",
			added: "d 300 IN NS ns.d\nns.d 300 IN A 192.0.2.9", serial: 101},
	})
}

func TestCNAMEAndDNAME(t *testing.T) {
	runCases(t, []applyCase{
		{name: "CNAME at a name with data", update: "update www 300 IN CNAME txt"},
		{name: "CNAME at the apex", update: "update @ 300 IN CNAME txt"},
		{name: "data at a CNAME", update: "update alias 300 IN A 192.0.2.1"},
		{name: "CNAME replaces a CNAME", update: "update alias 300 IN CNAME txt",
			removed: "alias 3600 IN CNAME www", added: "alias 300 IN CNAME txt", serial: 101},
		{name: "the same CNAME", update: "update alias 3600 IN CNAME WWW.example.test."},
		{name: "the same CNAME with another TTL", update: "update alias 60 IN CNAME www",
			removed: "alias 3600 IN CNAME www", added: "alias 60 IN CNAME www", serial: 101},
		{name: "CNAME at a new name", update: "update c 300 IN CNAME www", added: "c 300 IN CNAME www", serial: 101},
		{name: "CNAME at an empty non-terminal", update: "update ent 300 IN CNAME www", added: "ent 300 IN CNAME www", serial: 101},
		{name: "CNAME after deleting the name's data", update: "update txt 0 ANY ANY\nupdate txt 300 IN CNAME www",
			removed: "txt 3600 IN TXT \"hello\"", added: "txt 300 IN CNAME www", serial: 101},
		{name: "data after deleting the CNAME", update: "update alias 0 ANY CNAME\nupdate alias 300 IN A 192.0.2.1",
			removed: "alias 3600 IN CNAME www", added: "alias 300 IN A 192.0.2.1", serial: 101},
		{name: "data below a DNAME", update: "update x.dn 300 IN A 192.0.2.1"},
		{name: "CNAME below a DNAME", update: "update x.y.dn 300 IN CNAME www"},
		{name: "data beside a DNAME", update: "update dn 300 IN TXT \"x\"", added: "dn 300 IN TXT \"x\"", serial: 101},
		{name: "CNAME beside a DNAME", update: "update dn 300 IN CNAME www"},
		{name: "DNAME replaces a DNAME", update: "update dn 300 IN DNAME another.test.",
			removed: "dn 3600 IN DNAME other.test.", added: "dn 300 IN DNAME another.test.", serial: 101},
		{name: "DNAME above data", update: "update ent 300 IN DNAME other.test."},
		{name: "DNAME above a delegation", update: "update sub.example.test. 0 ANY A\nupdate @ 300 IN DNAME other.test."},
		{name: "DNAME above data deleted first", update: "update a.b.ent 0 ANY ANY\nupdate ent 300 IN DNAME other.test.",
			removed: "a.b.ent 3600 IN A 192.0.2.90", added: "ent 300 IN DNAME other.test.", serial: 101},
		{name: "DNAME beside a CNAME", update: "update alias 300 IN DNAME other.test."},
		{name: "DNAME below a DNAME", update: "update x.dn 300 IN DNAME other.test."},
	})
}

func TestSOA(t *testing.T) {
	const wrapZone = `$ORIGIN example.test.
@ 3600 IN SOA ns1 hostmaster 4294967295 7200 3600 1209600 300
@ 3600 IN NS  ns1
ns1 3600 IN A 192.0.2.53
`
	runCases(t, []applyCase{
		{name: "older serial", update: "update @ 300 IN SOA ns1 h 99 1 2 3 4"},
		{name: "same serial", update: "update @ 300 IN SOA ns9 h 100 1 2 3 4"},
		{name: "newer serial", update: "update @ 600 IN SOA ns2 h 200 1 2 3 4", serial: 200},
		{name: "newer serial and other changes", update: "update @ 600 IN SOA ns2 h 200 1 2 3 4\nupdate new 300 IN A 192.0.2.1",
			added: "new 300 IN A 192.0.2.1", serial: 200},
		{name: "two newer serials: the later must be newer than the earlier", update: "update @ 600 IN SOA ns2 h 300 1 2 3 4\nupdate @ 600 IN SOA ns2 h 200 1 2 3 4",
			serial: 300},
		{name: "below the apex", update: "update www 300 IN SOA ns1 h 500 1 2 3 4"},
		{name: "delete the SOA RRset", update: "update @ 0 ANY SOA"},
		{name: "delete the SOA record", update: "update @ 0 NONE SOA ns1 hostmaster 100 7200 3600 1209600 300"},
		{name: "serial wraps", zone: wrapZone, update: "update new 300 IN A 192.0.2.1", added: "new 300 IN A 192.0.2.1", serial: 0},
		{name: "newer across the wrap", zone: wrapZone, update: "update @ 300 IN SOA ns1 h 5 1 2 3 4", serial: 5},
		{name: "half the serial space away is not newer", zone: wrapZone, update: "update @ 300 IN SOA ns1 h 2147483647 1 2 3 4"},
	})
}

func TestDeletions(t *testing.T) {
	runCases(t, []applyCase{
		{name: "RRset", update: "update www 0 ANY A", removed: "www 300 IN A 192.0.2.80\nwww 300 IN A 192.0.2.81", serial: 101},
		{name: "RRset that is not there", update: "update www 0 ANY MX"},
		{name: "RR", update: "update www 0 NONE A 192.0.2.81", removed: "www 300 IN A 192.0.2.81", serial: 101},
		{name: "RR in another case", update: "update MAIL.example.TEST. 0 NONE MX 10 Mail.Example.Test.", removed: "mail 3600 IN MX 10 mail", serial: 101},
		{name: "RR that is not there", update: "update www 0 NONE A 192.0.2.99"},
		{name: "name", update: "update www 0 ANY ANY", removed: "www 300 IN A 192.0.2.80\nwww 300 IN A 192.0.2.81\nwww 600 IN AAAA 2001:db8::80", serial: 101},
		{name: "name that is not there", update: "update nothere 0 ANY ANY"},
		{name: "empty non-terminal", update: "update b.ent 0 ANY ANY"},
		{name: "apex keeps SOA and NS", update: "update @ 0 ANY ANY", removed: "@ 3600 IN A 192.0.2.1\n@ 3600 IN TXT \"apex\"", serial: 101},
		{name: "apex NS RRset", update: "update @ 0 ANY NS"},
		{name: "one of two apex NS", update: "update @ 0 NONE NS ns2", removed: "@ 3600 IN NS ns2", serial: 101},
		{name: "the last apex NS", update: "update @ 0 NONE NS ns2\nupdate @ 0 NONE NS ns1", removed: "@ 3600 IN NS ns2", serial: 101},
		{name: "the last NS of a delegation", update: "update sub 0 NONE NS ns.sub", removed: "sub 3600 IN NS ns.sub", serial: 101},
		{name: "add then delete", update: "update new 300 IN A 192.0.2.1\nupdate new 0 ANY ANY"},
		{name: "delete then add back", update: "update www 0 ANY A\nupdate www 300 IN A 192.0.2.81\nupdate www 300 IN A 192.0.2.80"},
		{name: "delete then add back with another TTL", update: "update txt 0 ANY TXT\nupdate txt 60 IN TXT \"hello\"",
			removed: "txt 3600 IN TXT \"hello\"", added: "txt 60 IN TXT \"hello\"", serial: 101},
	})
}

// TestMessageBuiltInCode covers a message that was never packed: RDLENGTH is then judged from the
// record's fields.
func TestMessageBuiltInCode(t *testing.T) {
	z := loadZone(t, baseZone)
	msg := func(rr dns.RR) *dns.Msg {
		m := &dns.Msg{Question: []dns.RR{&dns.SOA{Hdr: dns.Header{Name: origin, Class: dns.ClassINET}}}, Ns: []dns.RR{rr}}
		m.Opcode = dns.OpcodeUpdate
		return m
	}
	del := &dns.A{Hdr: dns.Header{Name: "www.example.test.", Class: dns.ClassANY}}
	if r := Apply(z, msg(del)); r.Rcode != dns.RcodeSuccess || r.Diff == nil || len(r.Diff.Removed) != 2 {
		t.Errorf("delete RRset: %s %q %+v", rcodeName(r.Rcode), r.Reason, r.Diff)
	}
	withData, err := dns.New("www.example.test. 0 IN A 192.0.2.80")
	if err != nil {
		t.Fatal(err)
	}
	withData.Header().Class = dns.ClassANY
	if r := Apply(z, msg(withData)); r.Rcode != dns.RcodeFormatError {
		t.Errorf("delete RRset with RDATA: %s %q, want FORMERR", rcodeName(r.Rcode), r.Reason)
	}
}

// A value-dependent prerequisite on a TXT RRset whose strings differ in number from the zone's
// record is a plain mismatch (NXRRSET), not a crash, whichever side has more strings.
func TestTXTPrerequisiteWithOtherStringCount(t *testing.T) {
	for _, tc := range []struct{ zone, prereq string }{
		{`x TXT "a" "b"`, `x.example.test. 0 IN TXT "a"`},
		{`x TXT "a"`, `x.example.test. 0 IN TXT "a" "b"`},
	} {
		z := loadZone(t, "$ORIGIN example.test.\n$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"+tc.zone+"\n")
		p, err := dns.New(tc.prereq)
		if err != nil {
			t.Fatal(err)
		}
		m := &dns.Msg{}
		m.Opcode = dns.OpcodeUpdate
		m.Question = []dns.RR{&dns.SOA{Hdr: dns.Header{Name: "example.test.", Class: dns.ClassINET}}}
		m.Answer = []dns.RR{p}
		if res := Apply(z, m); res.Rcode != dns.RcodeNXRrset || res.Diff != nil {
			t.Fatalf("zone %s, prerequisite %s: Apply = %+v; want NXRRSET and no change", tc.zone, tc.prereq, res)
		}
	}
}
