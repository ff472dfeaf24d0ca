package dnstest

import (
	"math/rand/v2"
	"strings"

	"codeberg.org/miekg/dns"

	"warden/internal/query"
)

// Types and classes the corpus uses that the message library has no constant for.
const (
	typeMAILB   uint16 = 253
	typeMAILA   uint16 = 254
	typeTKEY    uint16 = 249
	typeTSIG    uint16 = 250
	typePrivate uint16 = 65280
	classNONE   uint16 = 254
	classHS     uint16 = 4
)

// base is one query before variations: name and type, and what it exercises.
type base struct {
	name  string
	qtype uint16
	note  string
}

// Corpus returns the standard differential-test queries over TestZones. The list is deterministic
// (a fixed seed drives the letter case of names), so a failure names the same query on every run.
//
// Every base query is sent twice: as written without EDNS, and with EDNS 1232 and its name in mixed
// case; every fourth also with EDNS 4096 and the DO bit. Then come the queries that only make sense
// once: classes, opcodes, EDNS edge cases, truncation, TCP, zone transfers and malformed messages.
func Corpus() []Query {
	rng := rand.New(rand.NewPCG(1034, 2308))
	var qs []Query
	for i, b := range baseQueries() {
		qs = append(qs, Query{Name: b.name, Type: b.qtype, Note: b.note})
		qs = append(qs, Query{Name: MixCase(b.name, rng), Type: b.qtype, EDNS: true, RD: i%3 == 0, Note: b.note + ", mixed case"})
		if i%4 == 0 {
			qs = append(qs, Query{Name: b.name, Type: b.qtype, EDNS: true, UDPSize: 4096, DO: true, Note: b.note + ", DO"})
		}
	}
	qs = append(qs, dnameCNAMEQueries()...)
	qs = append(qs, classQueries()...)
	qs = append(qs, opcodeQueries()...)
	qs = append(qs, ednsQueries()...)
	qs = append(qs, sizeQueries()...)
	qs = append(qs, tcpQueries()...)
	qs = append(qs, transferQueries()...)
	qs = append(qs, malformedQueries()...)
	for i := range qs {
		if qs[i].Raw == nil {
			qs[i].ID = uint16(1000 + i)
		}
	}
	return qs
}

// dnameCNAMEQueries asks for the CNAME below each DNAME with the DO bit and in mixed case, which
// the base loop gives only some of them.
func dnameCNAMEQueries() []Query {
	var qs []Query
	for _, n := range []string{"www.dnin." + ex, "nx.dnin." + ex, "www.dnnx." + ex, "www.dnout." + ex} {
		qs = append(qs,
			Query{Name: n, Type: dns.TypeCNAME, EDNS: true, UDPSize: 4096, DO: true, Note: "CNAME question below a DNAME, DO"},
			Query{Name: strings.ToUpper(n[:4]) + n[4:], Type: dns.TypeCNAME, EDNS: true, RD: true, Note: "CNAME question below a DNAME, upper-case first label"})
	}
	return qs
}

// MixCase flips the case of letters at random, so that case handling (echoing the question's case,
// lookups that must ignore case) shows in diffs.
func MixCase(name string, rng *rand.Rand) string {
	b := []byte(name)
	for i, c := range b {
		if c >= 'a' && c <= 'z' && rng.IntN(2) == 0 {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

const (
	ex    = "example.test."
	child = "child.example.test."
	other = "other.test."
	tld   = "test."
)

func baseQueries() []base {
	var bs []base
	add := func(name string, note string, types ...uint16) {
		for _, t := range types {
			bs = append(bs, base{name, t, note})
		}
	}

	// Apex of the parent zone: every type it has, NODATA types, ANY, DS (answered by the zone above).
	add(ex, "apex data", dns.TypeSOA, dns.TypeNS, dns.TypeMX, dns.TypeTXT, dns.TypeA, dns.TypeAAAA, dns.TypeHINFO, dns.TypeCAA)
	add(ex, "apex NODATA", dns.TypeSRV, dns.TypeCNAME, dns.TypeDNSKEY, dns.TypePTR, dns.TypeNSEC)
	add(ex, "apex ANY (RFC 8482)", dns.TypeANY)
	add(ex, "DS at apex of a zone whose parent is served", dns.TypeDS)

	// Hosts: positive answers, NODATA, ANY at a name with several RRsets.
	add("ns1."+ex, "host", dns.TypeA, dns.TypeAAAA, dns.TypeANY)
	add("ns2."+ex, "host with A only", dns.TypeA, dns.TypeAAAA)
	add("www."+ex, "host", dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeANY, dns.TypeCNAME, dns.TypeDS)
	add("multi."+ex, "three A records", dns.TypeA)
	add("v6only."+ex, "AAAA only", dns.TypeA, dns.TypeAAAA)
	add("mail."+ex, "mail host", dns.TypeA, dns.TypeAAAA)
	add("txt."+ex, "TXT with one and two strings", dns.TypeTXT)
	add("ptrname."+ex, "PTR", dns.TypePTR)
	add("anyset."+ex, "which RRset ANY picks", dns.TypeANY, dns.TypeMX)

	// NXDOMAIN at several depths.
	add("nothere."+ex, "NXDOMAIN", dns.TypeA, dns.TypeMX, dns.TypeANY)
	add("deep.nothere."+ex, "NXDOMAIN two labels below", dns.TypeA)
	add("a.b.c.d.e.f."+ex, "NXDOMAIN six labels below", dns.TypeAAAA)

	// Additional section processing.
	add("mx."+ex, "MX with in-zone targets", dns.TypeMX)
	add("mx-nx."+ex, "MX target missing", dns.TypeMX)
	add("mx-cname."+ex, "MX target is a CNAME", dns.TypeMX)
	add("mx-glue."+ex, "MX target is glue below a cut", dns.TypeMX)
	add("mx-out."+ex, "MX target outside every zone", dns.TypeMX)
	add("manymx."+ex, "MX with five targets", dns.TypeMX)
	add("mxfat."+ex, "MX whose additional records exceed 512 bytes", dns.TypeMX)
	add("_sip._udp."+ex, "SRV with in-zone targets", dns.TypeSRV)
	add("_ldap._tcp."+ex, "SRV target is glue below a cut", dns.TypeSRV)
	add("_null._tcp."+ex, "SRV target is the root", dns.TypeSRV)
	add("_udp."+ex, "ENT above an SRV name", dns.TypeSRV)

	// CNAME: chain, loops, cross-zone, out of zone, dangling, NODATA at the end, into a referral.
	add("c1."+ex, "CNAME chain of 3", dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeCNAME, dns.TypeANY)
	add("c2."+ex, "CNAME chain of 2", dns.TypeA)
	add("c3."+ex, "CNAME chain of 1", dns.TypeA)
	add("ch1."+ex, "CNAME chain of 8", dns.TypeA)
	add("ch4."+ex, "CNAME chain of 5", dns.TypeA)
	add("ch3."+ex, "CNAME chain of 6", dns.TypeA)
	add("loop1."+ex, "CNAME loop", dns.TypeA, dns.TypeCNAME)
	add("self."+ex, "CNAME to itself", dns.TypeA)
	add("tocross."+ex, "CNAME to another served zone", dns.TypeA, dns.TypeAAAA)
	add("tochild."+ex, "CNAME to the served child zone", dns.TypeA)
	add("toout."+ex, "CNAME out of every zone", dns.TypeA)
	add("tonx."+ex, "CNAME to a missing in-zone name", dns.TypeA)
	add("tonodata."+ex, "CNAME to a name without the type", dns.TypeA)
	add("todeleg."+ex, "CNAME into a delegation", dns.TypeA)
	add("towild."+ex, "CNAME onto a wildcard", dns.TypeA, dns.TypeTXT)
	add("todname."+ex, "CNAME onto a DNAME-covered name", dns.TypeA)
	add("toent."+ex, "CNAME onto an empty non-terminal", dns.TypeA)
	add("back."+other, "CNAME from another zone into a chain", dns.TypeA)
	add("up."+child, "CNAME from the child into the parent", dns.TypeA)

	// Empty non-terminals without a wildcard above.
	add("ent."+ex, "ENT", dns.TypeA, dns.TypeANY)
	add("b.ent."+ex, "ENT", dns.TypeA, dns.TypeTXT)
	add("a.b.ent."+ex, "name below ENTs", dns.TypeA)
	add("x.a.b.ent."+ex, "NXDOMAIN below an existing leaf", dns.TypeA)
	add("c.b.ent."+ex, "NXDOMAIN beside a leaf", dns.TypeA)

	// Wildcards (RFC 4592).
	add("foo.wild."+ex, "wildcard match", dns.TypeA, dns.TypeTXT, dns.TypeMX, dns.TypeAAAA, dns.TypeANY)
	add("a.b.foo.wild."+ex, "wildcard match three labels down", dns.TypeA)
	add("*.wild."+ex, "the wildcard owner itself", dns.TypeA, dns.TypeAAAA)
	add("exists.wild."+ex, "explicit name under the wildcard", dns.TypeA, dns.TypeTXT)
	add("wild."+ex, "ENT parent of the wildcard", dns.TypeA)
	add("y.wild."+ex, "ENT blocks the wildcard", dns.TypeA, dns.TypeTXT)
	add("z.y.wild."+ex, "below the blocking ENT: NXDOMAIN", dns.TypeA)
	add("x.y.wild."+ex, "explicit name below the ENT", dns.TypeA)
	add("foo.wc."+ex, "wildcard CNAME", dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeTXT)
	add("foo.wcx."+ex, "wildcard CNAME to another zone", dns.TypeA)
	add("foo.w6."+ex, "wildcard with AAAA only", dns.TypeAAAA, dns.TypeA)

	// DNAME (RFC 6672).
	add("dn."+ex, "at the DNAME", dns.TypeDNAME, dns.TypeA, dns.TypeCNAME, dns.TypeANY)
	add("www.dn."+ex, "below the DNAME to another zone", dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeCNAME, dns.TypeDNAME)
	add("nx.dn."+ex, "DNAME target does not exist", dns.TypeA)
	add("a.b.dn."+ex, "DNAME two labels below", dns.TypeA)
	add("www.dnin."+ex, "DNAME inside the zone", dns.TypeA, dns.TypeAAAA)
	add("deep.www.dnin."+ex, "DNAME inside the zone, deeper", dns.TypeTXT)
	add("nx.dnin."+ex, "DNAME inside the zone, target missing", dns.TypeA)
	add("dnin."+ex, "at the in-zone DNAME", dns.TypeDNAME)
	add("www.dnout."+ex, "DNAME out of every zone", dns.TypeA)
	add("x.dnself."+ex, "DNAME onto its own subtree", dns.TypeA)
	add("www.dnnx."+ex, "DNAME to a missing name", dns.TypeA)
	add(longUnder("dnin."+ex), "DNAME result longer than 255 octets", dns.TypeA)
	// QTYPE CNAME below a DNAME: the synthesised CNAME is the answer (RFC 6672 §3.2), its target
	// is not looked up, whether it exists, is missing or lies outside every zone.
	add("www.dnin."+ex, "CNAME question below an in-zone DNAME, target exists", dns.TypeCNAME)
	add("nx.dnin."+ex, "CNAME question below an in-zone DNAME, target missing", dns.TypeCNAME)
	add("deep.www.dnin."+ex, "CNAME question two labels below an in-zone DNAME", dns.TypeCNAME)
	add("www.dnnx."+ex, "CNAME question below a DNAME to a missing name", dns.TypeCNAME)
	add("www.dnout."+ex, "CNAME question below a DNAME out of every zone", dns.TypeCNAME)
	add("x.dnself."+ex, "CNAME question below a DNAME onto its own subtree", dns.TypeCNAME)

	// Delegations: at the cut, below it, glue names, DS.
	add("sub."+ex, "delegation with glue", dns.TypeNS, dns.TypeA, dns.TypeSOA, dns.TypeDS, dns.TypeANY)
	add("host.sub."+ex, "below a cut", dns.TypeA, dns.TypeMX)
	add("deep.host.sub."+ex, "two below a cut", dns.TypeA)
	add("ns1.sub."+ex, "glue name", dns.TypeA, dns.TypeAAAA)
	add("ns2.sub."+ex, "glue name with A only", dns.TypeA, dns.TypeAAAA)
	add("ext."+ex, "delegation to out-of-zone NS", dns.TypeNS, dns.TypeA, dns.TypeDS)
	add("x.ext."+ex, "below a cut without glue", dns.TypeA)
	add("sib."+ex, "delegation to an in-zone sibling", dns.TypeNS, dns.TypeA)
	add("fatdeleg."+ex, "referral whose glue exceeds 512 bytes", dns.TypeNS, dns.TypeA)
	add("secure."+ex, "delegation with DS", dns.TypeDS, dns.TypeNS, dns.TypeA, dns.TypeANY)
	add("www.secure."+ex, "below a DS cut", dns.TypeA, dns.TypeDS)
	add("ns.secure."+ex, "glue below a DS cut", dns.TypeA)

	// The served child: DS from the parent, everything else from the child.
	add(child, "apex of the served child", dns.TypeDS, dns.TypeSOA, dns.TypeNS, dns.TypeA, dns.TypeDNSKEY, dns.TypeANY)
	add("ns1."+child, "child NS host (glue in the parent)", dns.TypeA, dns.TypeAAAA)
	add("www."+child, "child host", dns.TypeA, dns.TypeTXT)
	add("nx."+child, "NXDOMAIN in the child", dns.TypeA)
	add("grand."+child, "delegation in the child", dns.TypeNS, dns.TypeA, dns.TypeDS)
	add("x.grand."+child, "below the child's cut", dns.TypeA)
	add("ns.grand."+child, "glue in the child", dns.TypeA)

	// The other zone and the TLD-like zone above everything.
	add(other, "apex of other.test.", dns.TypeSOA, dns.TypeNS, dns.TypeDS, dns.TypeA)
	add("www."+other, "host in other.test.", dns.TypeA, dns.TypeAAAA)
	add("mail2."+other, "host in other.test.", dns.TypeA)
	add("nx."+other, "NXDOMAIN in other.test. (MINIMUM above SOA TTL)", dns.TypeA)
	add(tld, "apex of the TLD zone", dns.TypeSOA, dns.TypeNS, dns.TypeA, dns.TypeANY)
	add("nx."+tld, "NXDOMAIN in the TLD zone", dns.TypeA)
	add("ample."+tld, "NXDOMAIN, suffix of a zone name", dns.TypeA)
	add("unserved."+tld, "referral from the TLD", dns.TypeA, dns.TypeNS, dns.TypeDS)
	add("x.unserved."+tld, "below the TLD's cut", dns.TypeA)
	add("ns.nic."+tld, "TLD host", dns.TypeA)
	add("ns1.example."+tld, "name served by the lower zone, glue in the TLD", dns.TypeA)

	// Outside every zone: REFUSED.
	add("example.com.", "outside every zone", dns.TypeA, dns.TypeSOA)
	add("com.", "outside every zone", dns.TypeNS)
	add(".", "the root", dns.TypeSOA, dns.TypeNS)
	add("localhost.", "outside every zone", dns.TypeA)
	add("www.example.invalid.", "outside every zone", dns.TypeA)
	add("1.0.0.127.in-addr.arpa.", "outside every zone", dns.TypePTR)
	add("xtest.", "suffix of a zone name, not a label", dns.TypeA)
	add("a\\.b."+ex, "label with a dot in it", dns.TypeA)
	add(longUnder(ex), "name of 255 octets", dns.TypeA)

	// Every kind of query type at one name: data, NODATA, meta and unusual types.
	add("www."+ex, "type coverage", dns.TypeNS, dns.TypeSOA, dns.TypeMX, dns.TypeHINFO, dns.TypeSRV,
		dns.TypeNAPTR, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDNSKEY, dns.TypeNSEC3PARAM, dns.TypeTLSA,
		dns.TypeSVCB, dns.TypeHTTPS, dns.TypeCAA, dns.TypeNULL, dns.TypeMD, typePrivate, dns.TypeNone,
		dns.TypeOPT, typeTKEY, typeTSIG, typeMAILB, typeMAILA)
	return bs
}

// longUnder returns a name of exactly 255 octets in wire form ending in suffix.
func longUnder(suffix string) string {
	left := 255 - (len(suffix) + 1) // wire length of suffix: one length octet per label plus root
	var labels []string
	for left > 0 {
		n := min(63, left-1)
		if left-(n+1) == 1 { // a one-octet remainder cannot hold a label: shorten this one
			n--
		}
		labels = append(labels, strings.Repeat("l", n))
		left -= n + 1
	}
	return strings.Join(labels, ".") + "." + suffix
}

func classQueries() []Query {
	return []Query{
		{Name: "www." + ex, Type: dns.TypeA, Class: dns.ClassCHAOS, Note: "class CH for an IN zone"},
		{Name: "version.bind.", Type: dns.TypeTXT, Class: dns.ClassCHAOS, Note: "CH version.bind"},
		{Name: "version.server.", Type: dns.TypeTXT, Class: dns.ClassCHAOS, Note: "CH version.server"},
		{Name: "hostname.bind.", Type: dns.TypeTXT, Class: dns.ClassCHAOS, Note: "CH hostname.bind"},
		{Name: "id.server.", Type: dns.TypeTXT, Class: dns.ClassCHAOS, Note: "CH id.server"},
		{Name: "authors.bind.", Type: dns.TypeTXT, Class: dns.ClassCHAOS, Note: "CH authors.bind"},
		{Name: "www." + ex, Type: dns.TypeA, Class: dns.ClassANY, Note: "class ANY"},
		{Name: ex, Type: dns.TypeSOA, Class: dns.ClassANY, EDNS: true, Note: "class ANY"},
		{Name: "www." + ex, Type: dns.TypeA, Class: classNONE, Note: "class NONE"},
		{Name: "www." + ex, Type: dns.TypeA, Class: classHS, Note: "class HS"},
		{Name: "www." + ex, Type: dns.TypeA, Class: 1234, Note: "unassigned class"},
		{Name: "example.com.", Type: dns.TypeA, Class: dns.ClassCHAOS, Note: "class CH outside every zone"},
	}
}

func opcodeQueries() []Query {
	var qs []Query
	for _, op := range []uint8{1, 2, 3, 6, 7, 15} {
		qs = append(qs, Query{Name: ex, Type: dns.TypeSOA, Opcode: op, Note: "opcode answered NOTIMP"})
		qs = append(qs, Query{Name: "www." + ex, Type: dns.TypeA, Opcode: op, EDNS: true, Note: "opcode answered NOTIMP, EDNS"})
	}
	qs = append(qs,
		Query{Name: ex, Type: dns.TypeSOA, Opcode: dns.OpcodeNotify, Note: "NOTIFY to the primary"},
		Query{Name: ex, Type: dns.TypeSOA, Opcode: dns.OpcodeNotify, TCP: true, Note: "NOTIFY over TCP"},
		Query{Name: "example.com.", Type: dns.TypeSOA, Opcode: dns.OpcodeNotify, Note: "NOTIFY for an unserved zone"},
		Query{Name: ex, Type: dns.TypeSOA, Opcode: dns.OpcodeUpdate, Note: "UPDATE without ACL"},
		Query{Name: ex, Type: dns.TypeSOA, Opcode: dns.OpcodeUpdate, EDNS: true, TCP: true, Note: "UPDATE over TCP"},
		Query{Name: "example.com.", Type: dns.TypeSOA, Opcode: dns.OpcodeUpdate, Note: "UPDATE for an unserved zone"},
		Query{Name: "www." + ex, Type: dns.TypeA, Opcode: dns.OpcodeUpdate, Note: "UPDATE with a non-SOA zone section"},
		Query{Name: ex, Type: dns.TypeSOA, Opcode: dns.OpcodeIQuery, TCP: true, Note: "IQUERY over TCP"},
	)
	return qs
}

func ednsQueries() []Query {
	www := "www." + ex
	return []Query{
		{Name: www, Type: dns.TypeA, EDNS: true, Version: 1, Note: "EDNS version 1: BADVERS"},
		{Name: www, Type: dns.TypeA, EDNS: true, Version: 255, DO: true, Note: "EDNS version 255: BADVERS"},
		{Name: "nothere." + ex, Type: dns.TypeA, EDNS: true, Version: 1, Note: "BADVERS beats NXDOMAIN"},
		{Name: "example.com.", Type: dns.TypeA, EDNS: true, Version: 1, Note: "BADVERS beats REFUSED"},
		{Name: ex, Type: dns.TypeSOA, EDNS: true, Version: 1, Opcode: 2, Note: "BADVERS and NOTIMP"},
		{Name: www, Type: dns.TypeA, EDNS: true, Version: 1, TCP: true, Note: "BADVERS over TCP"},
		{Name: www, Type: dns.TypeA, EDNS: true, UDPSize: 0xFFFF, Note: "largest payload size"},
		{Name: www, Type: dns.TypeA, EDNS: true, UDPSize: 100, Note: "payload size below 512"},
		{Name: www, Type: dns.TypeA, EDNS: true, UDPSize: 512, DO: true, Note: "DO with 512"},
		{Name: "nothere." + ex, Type: dns.TypeA, EDNS: true, DO: true, Note: "DO on NXDOMAIN"},
		{Name: "sub." + ex, Type: dns.TypeA, EDNS: true, DO: true, Note: "DO on a referral"},
		{Name: "secure." + ex, Type: dns.TypeA, EDNS: true, DO: true, Note: "DO on a referral with DS"},
		{Name: "example.com.", Type: dns.TypeA, EDNS: true, DO: true, Note: "DO on REFUSED"},
		{Name: www, Type: dns.TypeA, RD: true, CD: true, EDNS: true, Note: "RD and CD copied"},
		{Name: www, Type: dns.TypeA, CD: true, Note: "CD without EDNS"},
	}
}

// sizeQueries exercise truncation: the 40-record TXT set is about 2.3 KB, the 12-record set about
// 700 bytes, and the reference's own payload limit is 1232.
func sizeQueries() []Query {
	big, medium := "big."+ex, "medium."+ex
	var qs []Query
	for _, size := range []uint16{0, 512, 1232, 1400, 4096} {
		edns := size != 0
		qs = append(qs,
			Query{Name: big, Type: dns.TypeTXT, EDNS: edns, UDPSize: size, Note: "truncation, 40 TXT"},
			Query{Name: medium, Type: dns.TypeTXT, EDNS: edns, UDPSize: size, Note: "truncation, 12 TXT"},
			Query{Name: big, Type: dns.TypeANY, EDNS: edns, UDPSize: size, Note: "truncation, ANY"},
		)
	}
	qs = append(qs,
		Query{Name: "mxfat." + ex, Type: dns.TypeMX, EDNS: true, UDPSize: 512, Note: "additional does not fit in 512"},
		Query{Name: "fatdeleg." + ex, Type: dns.TypeA, EDNS: true, UDPSize: 512, Note: "glue does not fit in 512"},
		Query{Name: "x.fatdeleg." + ex, Type: dns.TypeA, EDNS: true, UDPSize: 1232, Note: "glue fits in 1232"},
		Query{Name: ex, Type: dns.TypeNS, EDNS: true, UDPSize: 512, DO: true, Note: "apex NS in 512"},
		Query{Name: "BiG." + ex, Type: dns.TypeTXT, Note: "truncation, mixed case"},
	)
	return qs
}

func tcpQueries() []Query {
	var qs []Query
	for _, b := range []base{
		{"big." + ex, dns.TypeTXT, "40 TXT over TCP"},
		{"medium." + ex, dns.TypeTXT, "12 TXT over TCP"},
		{"big." + ex, dns.TypeANY, "ANY over TCP"},
		{ex, dns.TypeANY, "apex ANY over TCP"},
		{"www." + ex, dns.TypeANY, "ANY over TCP"},
		{"anyset." + ex, dns.TypeANY, "ANY over TCP, three RRsets"},
		{"foo.wild." + ex, dns.TypeANY, "wildcard ANY over TCP"},
		{"www." + ex, dns.TypeA, "plain over TCP"},
		{"nothere." + ex, dns.TypeA, "NXDOMAIN over TCP"},
		{"sub." + ex, dns.TypeA, "referral over TCP"},
		{"c1." + ex, dns.TypeA, "CNAME chain over TCP"},
		{"www.dn." + ex, dns.TypeA, "DNAME over TCP"},
		{"example.com.", dns.TypeA, "REFUSED over TCP"},
		{"manymx." + ex, dns.TypeMX, "MX additional over TCP"},
		{"mxfat." + ex, dns.TypeMX, "large MX additional over TCP"},
		{"fatdeleg." + ex, dns.TypeA, "large referral over TCP"},
	} {
		qs = append(qs, Query{Name: b.name, Type: b.qtype, TCP: true, Note: b.note})
		qs = append(qs, Query{Name: b.name, Type: b.qtype, TCP: true, EDNS: true, UDPSize: 512, Note: b.note + ", EDNS 512"})
	}
	return qs
}

func transferQueries() []Query {
	return []Query{
		{Name: ex, Type: dns.TypeAXFR, Note: "AXFR over UDP"},
		{Name: ex, Type: dns.TypeAXFR, EDNS: true, Note: "AXFR over UDP"},
		{Name: ex, Type: dns.TypeIXFR, Note: "IXFR over UDP without SOA"},
		{Name: ex, Type: dns.TypeAXFR, TCP: true, Note: "AXFR over TCP without ACL"},
		{Name: ex, Type: dns.TypeIXFR, TCP: true, Note: "IXFR over TCP without SOA"},
		{Name: "www." + ex, Type: dns.TypeAXFR, TCP: true, Note: "AXFR for a name that is not a zone"},
		{Name: "example.com.", Type: dns.TypeAXFR, TCP: true, Note: "AXFR for an unserved zone"},
		{Name: child, Type: dns.TypeAXFR, Note: "AXFR of the child over UDP"},
		{Raw: ixfrWire(0x1a01, ex, 2024010100), Note: "IXFR over UDP, older serial"},
		{Raw: ixfrWire(0x1a02, ex, 2024010101), Note: "IXFR over UDP, current serial"},
		{Raw: ixfrWire(0x1a03, ex, 2024010100), TCP: true, Note: "IXFR over TCP, older serial"},
		{Raw: ixfrWire(0x1a04, "www."+ex, 1), Note: "IXFR for a name that is not a zone"},
	}
}

// ixfrWire builds an IXFR query with the client's SOA in the authority section (RFC 1995 §3).
func ixfrWire(id uint16, zone string, serial uint32) []byte {
	w := NewWire(id, 0)
	_ = w.Question(zone, dns.TypeIXFR, dns.ClassINET)
	rdata, _ := packName("ns1." + zone)
	mbox, _ := packName("hostmaster." + zone)
	rdata = append(rdata, mbox...)
	for _, v := range []uint32{serial, 7200, 3600, 1209600, 300} {
		rdata = append(rdata, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	_ = w.RR(2, zone, dns.TypeSOA, dns.ClassINET, 0, rdata)
	return w.Bytes()
}

// malformedQueries are messages a well-behaved client never sends. The reference either answers
// (often FORMERR, echoing what it could parse) or drops them; Warden has to make the same choice.
func malformedQueries() []Query {
	www := "www." + ex
	var qs []Query
	raw := func(note string, tcp bool, b []byte) { qs = append(qs, Query{Raw: b, TCP: tcp, Note: note}) }
	msg := func(id, flags uint16, build func(w *Wire)) []byte {
		w := NewWire(id, flags)
		build(w)
		return w.Bytes()
	}
	question := func(w *Wire) { _ = w.Question(www, dns.TypeA, dns.ClassINET) }
	none := func(w *Wire) {}

	raw("empty datagram", false, []byte{})
	raw("one byte", false, []byte{0x12})
	raw("header cut at 11 bytes", false, []byte{0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0})
	raw("QDCOUNT=0", false, msg(0x2001, 0, none))
	raw("QDCOUNT=0 with RD", false, msg(0x2002, query.FlagRD, none))
	raw("QDCOUNT=0 with EDNS only", false, msg(0x2003, 0, func(w *Wire) { w.OPT(1232, 0, 0, false, nil) }))
	raw("QDCOUNT=0 over TCP", true, msg(0x2004, 0, none))
	raw("QDCOUNT=0 NOTIFY", false, msg(0x2005, dns.OpcodeNotify<<11, none))
	raw("QDCOUNT=2", false, msg(0x2006, 0, func(w *Wire) {
		question(w)
		_ = w.Question(www, dns.TypeAAAA, dns.ClassINET)
	}))
	raw("QDCOUNT=2 with EDNS", false, msg(0x2007, 0, func(w *Wire) {
		question(w)
		_ = w.Question(ex, dns.TypeSOA, dns.ClassINET)
		w.OPT(1232, 0, 0, false, nil)
	}))
	raw("QDCOUNT=2 over TCP", true, msg(0x2008, 0, func(w *Wire) {
		question(w)
		_ = w.Question(www, dns.TypeAAAA, dns.ClassINET)
	}))
	raw("QDCOUNT=1 but no question", false, msg(0x2009, 0, func(w *Wire) { w.SetCounts(1, 0, 0, 0) }))
	raw("question name cut short", false, msg(0x200a, 0, func(w *Wire) {
		w.Append(10, 'a', 'b', 'c')
		w.SetCounts(1, 0, 0, 0)
	}))
	raw("question without type and class", false, msg(0x200b, 0, func(w *Wire) {
		_ = w.Name(www)
		w.SetCounts(1, 0, 0, 0)
	}))
	raw("question without class", false, msg(0x200c, 0, func(w *Wire) {
		_ = w.Name(www)
		w.Append(0, 1)
		w.SetCounts(1, 0, 0, 0)
	}))
	raw("QR=1 (a response)", false, msg(0x200d, query.FlagQR, question))
	raw("QR=1 with AA", false, msg(0x200e, query.FlagQR|query.FlagAA, question))
	raw("QR=1 over TCP", true, msg(0x200f, query.FlagQR, question))
	raw("QR=1 and QDCOUNT=0", false, msg(0x2010, query.FlagQR, none))
	raw("answer record in a query", false, msg(0x2011, 0, func(w *Wire) {
		question(w)
		_ = w.RR(1, www, dns.TypeA, dns.ClassINET, 300, []byte{192, 0, 2, 1})
	}))
	raw("authority record in a query", false, msg(0x2012, 0, func(w *Wire) {
		question(w)
		_ = w.RR(2, www, dns.TypeA, dns.ClassINET, 300, []byte{192, 0, 2, 1})
	}))
	raw("additional A record in a query", false, msg(0x2013, 0, func(w *Wire) {
		question(w)
		_ = w.RR(3, www, dns.TypeA, dns.ClassINET, 300, []byte{192, 0, 2, 1})
	}))
	raw("trailing garbage", false, msg(0x2014, 0, func(w *Wire) {
		question(w)
		w.Append(0xde, 0xad, 0xbe)
	}))
	raw("ARCOUNT=1 but nothing follows", false, msg(0x2015, 0, func(w *Wire) {
		question(w)
		w.SetCounts(1, 0, 0, 1)
	}))
	raw("two OPT records", false, msg(0x2016, 0, func(w *Wire) {
		question(w)
		w.OPT(1232, 0, 0, false, nil)
		w.OPT(1232, 0, 0, false, nil)
	}))
	raw("OPT owner not the root", false, msg(0x2017, 0, func(w *Wire) {
		question(w)
		_ = w.RR(3, ex, dns.TypeOPT, 1232, 0, nil)
	}))
	raw("OPT in the answer section", false, msg(0x2018, 0, func(w *Wire) {
		question(w)
		_ = w.RR(1, ".", dns.TypeOPT, 1232, 0, nil)
	}))
	raw("OPT option longer than the record", false, msg(0x2019, 0, func(w *Wire) {
		question(w)
		w.OPT(1232, 0, 0, false, []byte{0xfd, 0xe9, 0, 20, 1, 2})
	}))
	raw("OPT with an unknown option", false, msg(0x201a, 0, func(w *Wire) {
		question(w)
		w.OPT(1232, 0, 0, false, []byte{0xfd, 0xe9, 0, 2, 0xab, 0xcd})
	}))
	raw("OPT with an NSID request", false, msg(0x201b, 0, func(w *Wire) {
		question(w)
		w.OPT(1232, 0, 0, false, []byte{0, 3, 0, 0})
	}))
	raw("OPT with a client cookie", false, msg(0x201c, 0, func(w *Wire) {
		question(w)
		w.OPT(1232, 0, 0, false, []byte{0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8})
	}))
	raw("OPT with a cookie of bad length", false, msg(0x201d, 0, func(w *Wire) {
		question(w)
		w.OPT(1232, 0, 0, false, []byte{0, 10, 0, 5, 1, 2, 3, 4, 5})
	}))
	raw("OPT with a padding option", false, msg(0x201e, 0, func(w *Wire) {
		question(w)
		w.OPT(1232, 0, 0, false, []byte{0, 12, 0, 4, 0, 0, 0, 0})
	}))
	raw("OPT with extended rcode bits set", false, msg(0x201f, 0, func(w *Wire) {
		question(w)
		w.OPT(1232, 1, 0, false, nil)
	}))
	raw("OPT with unknown flag bits", false, msg(0x2020, 0, func(w *Wire) {
		question(w)
		_ = w.RR(3, ".", dns.TypeOPT, 1232, 1<<15|0x4000, nil)
	}))
	raw("reserved label type 0x40", false, msg(0x2021, 0, func(w *Wire) {
		w.Append(0x41, 'a', 0, 0, 1, 0, 1)
		w.SetCounts(1, 0, 0, 0)
	}))
	raw("compression pointer in the question pointing at itself", false, msg(0x2022, 0, func(w *Wire) {
		w.Append(0xc0, 12, 0, 1, 0, 1)
		w.SetCounts(1, 0, 0, 0)
	}))
	raw("compression pointer past the end", false, msg(0x2023, 0, func(w *Wire) {
		w.Append(3, 'w', 'w', 'w', 0xc0, 0xff, 0, 1, 0, 1)
		w.SetCounts(1, 0, 0, 0)
	}))
	raw("compression pointer into the header", false, msg(0x2024, 0, func(w *Wire) {
		w.Append(3, 'w', 'w', 'w', 0xc0, 2, 0, 1, 0, 1)
		w.SetCounts(1, 0, 0, 0)
	}))
	raw("name longer than 255 octets", false, msg(0x2025, 0, func(w *Wire) {
		for range 5 {
			w.Append(63)
			w.Append([]byte(strings.Repeat("x", 63))...)
		}
		w.Append(0, 0, 1, 0, 1)
		w.SetCounts(1, 0, 0, 0)
	}))
	raw("TC set in a query", false, msg(0x2026, query.FlagTC, question))
	raw("Z set in a query", false, msg(0x2027, query.FlagZ, question))
	raw("AD set in a query", false, msg(0x2028, query.FlagAD, question))
	raw("RA set in a query", false, msg(0x2029, query.FlagRA, question))
	raw("AA set in a query", false, msg(0x202a, query.FlagAA, question))
	raw("rcode set in a query", false, msg(0x202b, 5, question))
	raw("garbage", false, []byte("this is not a DNS message at all, only text"))
	raw("garbage over TCP", true, []byte("this is not a DNS message"))
	raw("header only, opcode STATUS", false, msg(0x202c, 2<<11, none))
	raw("OPT with DO and NSID over TCP", true, msg(0x202d, 0, func(w *Wire) {
		question(w)
		w.OPT(4096, 0, 0, true, []byte{0, 3, 0, 0})
	}))
	return qs
}
