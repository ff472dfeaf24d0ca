package lab

import (
	"time"

	"codeberg.org/miekg/dns"
)

// The signed bed is a second mini internet, apart from Hierarchy's: its own root, two top-level
// zones (nsec., signed with NSEC, and nsec3., signed with NSEC3) and leaf zones below them, each
// signed when the bed is built (BuildBed) and each broken in one known way, so that a validating
// resolver can be checked branch by branch: every Case says which outcome the branch was built
// for. Its servers live on 127.0.5.11 to 127.0.5.16, away from Hierarchy's addresses.

// Outcome is what a validating resolver must make of an answer.
type Outcome uint8

const (
	// Secure answers validate from the trust anchor down: AD=1 to a client that sets DO or AD.
	Secure Outcome = iota
	// Insecure answers are provably outside signed data (no DS, an unsupported algorithm,
	// opt-out, NSEC3 iterations above the limit): given as they are, AD=0.
	Insecure
	// Bogus answers fail validation: SERVFAIL, unless the client sets CD.
	Bogus
)

func (o Outcome) String() string {
	switch o {
	case Secure:
		return "secure"
	case Insecure:
		return "insecure"
	case Bogus:
		return "bogus"
	}
	return "outcome?"
}

// Case is one question to the bed and what a validating resolver must answer.
type Case struct {
	Branch  string // the zone whose breakage (or soundness) the case shows
	Name    string
	Type    uint16
	Rcode   int // the rcode when validated (Bogus: the rcode the data has, seen with CD=1)
	Outcome Outcome
}

// denial is how a bed zone is signed, if at all.
type denial uint8

const (
	unsignedZone denial = iota
	signNSEC
	signNSEC3
	signNSEC3OptOut
	// signNSEC3Iterations signs with NSEC3 and more iterations than validators accept
	// (Unbound's val-nsec3-keysize-iterations: 150 at most; RFC 9276 §3.2 lets them treat more
	// as insecure).
	signNSEC3Iterations
	// unknownAlgorithm publishes a DNSKEY of an algorithm no validator implements, and the
	// parent's DS for it; nothing is signed.
	unknownAlgorithm
)

// parentDS is what the parent publishes for a bed zone.
type parentDS uint8

const (
	dsOwn      parentDS = iota // the DS of the zone's KSK
	dsNone                     // no DS: an insecure delegation
	dsOtherKey                 // the DS of a key the zone does not hold
)

// bedZone is one zone of the bed before signing: its own records only; the apex SOA and NS,
// the delegations to its children with their glue and DS are added by BuildBed.
type bedZone struct {
	origin string
	ip     string
	denial denial
	ds     parentDS
	// from and until place the signatures' validity window around the time of building; both
	// zero means from an hour ago for 30 days.
	from, until time.Duration
	// cutNSEC names the owner whose NSEC record (and its signature) is removed after signing.
	cutNSEC string
	// keyAlgorithm is the algorithm of the zone's keys, as dnssec-keygen names it; empty means
	// ECDSAP256SHA256.
	keyAlgorithm string
	records      string
}

// bedIterations is the NSEC3 iteration count of the iterations branch, above Unbound's 150.
const bedIterations = 200

// The bed's servers. The root's name server is named in nsec., which has its address.
const (
	bedRootIP  = "127.0.5.11"
	bedNSECIP  = "127.0.5.12"
	bedNSEC3IP = "127.0.5.13"
	bedLeafIP  = "127.0.5.14" // Warden: the leaves under nsec.
	bedNSDIP   = "127.0.5.15" // NSD: good.nsec3., optout.nsec3., cutnsec.nsec.
	bedMoreIP  = "127.0.5.16" // Warden: the iterations zone and the child below opt-out
	bedRootNS  = "a.root.nsec."
)

// bedServers says which software serves each address of the bed.
var bedServers = []struct {
	ip       string
	software Software
}{
	{bedRootIP, Warden}, {bedNSECIP, Warden}, {bedNSEC3IP, Knot},
	{bedLeafIP, Warden}, {bedNSDIP, NSD}, {bedMoreIP, Warden},
}

const day = 24 * time.Hour

var bedZones = []bedZone{
	{origin: ".", ip: bedRootIP, denial: signNSEC},
	{origin: "nsec.", ip: bedNSECIP, denial: signNSEC, records: `
a.root A 127.0.5.11
www A 127.0.8.1
`},
	{origin: "nsec3.", ip: bedNSEC3IP, denial: signNSEC3, records: `
www A 127.0.8.2
`},
	{origin: "good.nsec.", ip: bedLeafIP, denial: signNSEC, records: `
www A 127.0.8.10
www AAAA 2001:db8::8:10
txt TXT "good nsec"
mail MX 10 www
*.wild A 127.0.8.11
to3 CNAME www.good.nsec3.
toinsecure CNAME www.unsigned.nsec.
tobogus CNAME www.expired.nsec.
dangling CNAME nothere.good.nsec3.
`},
	{origin: "good.nsec3.", ip: bedNSDIP, denial: signNSEC3, records: `
www A 127.0.8.20
www AAAA 2001:db8::8:20
txt TXT "good nsec3"
*.wild TXT "nsec3 wildcard"
to1 CNAME www.good.nsec.
sub.deep A 127.0.8.21
`},
	{origin: "expired.nsec.", ip: bedLeafIP, denial: signNSEC, from: -30 * day, until: -10 * day, records: `
www A 127.0.8.30
`},
	{origin: "future.nsec.", ip: bedLeafIP, denial: signNSEC, from: 10 * day, until: 40 * day, records: `
www A 127.0.8.31
`},
	{origin: "wrongds.nsec.", ip: bedLeafIP, denial: signNSEC, ds: dsOtherKey, records: `
www A 127.0.8.32
`},
	{origin: "nods.nsec.", ip: bedLeafIP, denial: signNSEC, ds: dsNone, records: `
www A 127.0.8.33
`},
	{origin: "unsigned.nsec.", ip: bedLeafIP, denial: unsignedZone, ds: dsNone, records: `
www A 127.0.8.34
`},
	{origin: "ed448.nsec.", ip: bedLeafIP, denial: signNSEC, keyAlgorithm: "ED448", records: `
www A 127.0.8.36
mail MX 10 www
*.wild A 127.0.8.37
`},
	{origin: "unknownalg.nsec.", ip: bedLeafIP, denial: unknownAlgorithm, records: `
www A 127.0.8.35
`},
	{origin: "cutnsec.nsec.", ip: bedNSDIP, denial: signNSEC, cutNSEC: "a.cutnsec.nsec.", records: `
a TXT "a"
m TXT "m"
z TXT "z"
`},
	{origin: "optout.nsec3.", ip: bedNSDIP, denial: signNSEC3OptOut, records: `
www A 127.0.8.40
`},
	{origin: "child.optout.nsec3.", ip: bedMoreIP, denial: unsignedZone, ds: dsNone, records: `
www A 127.0.8.41
`},
	{origin: "iter.nsec3.", ip: bedMoreIP, denial: signNSEC3Iterations, records: `
www A 127.0.8.50
txt TXT "many iterations"
`},
}

// BedCases are the questions the bed was built to answer, one or more per branch.
func BedCases() []Case {
	const (
		ok = dns.RcodeSuccess
		nx = dns.RcodeNameError
	)
	return []Case{
		{".", ".", dns.TypeSOA, ok, Secure},
		{".", ".", dns.TypeDNSKEY, ok, Secure},
		{".", "nothere.", dns.TypeA, nx, Secure},
		{"nsec.", "www.nsec.", dns.TypeA, ok, Secure},
		{"nsec.", "nothere.nsec.", dns.TypeA, nx, Secure},
		{"nsec.", "www.nsec.", dns.TypeTXT, ok, Secure},
		{"nsec3.", "www.nsec3.", dns.TypeA, ok, Secure},
		{"nsec3.", "nothere.nsec3.", dns.TypeA, nx, Secure},
		{"nsec3.", "www.nsec3.", dns.TypeAAAA, ok, Secure},

		{"good.nsec.", "www.good.nsec.", dns.TypeA, ok, Secure},
		{"good.nsec.", "www.good.nsec.", dns.TypeAAAA, ok, Secure},
		{"good.nsec.", "txt.good.nsec.", dns.TypeTXT, ok, Secure},
		{"good.nsec.", "mail.good.nsec.", dns.TypeMX, ok, Secure},
		{"good.nsec.", "good.nsec.", dns.TypeDNSKEY, ok, Secure},
		{"good.nsec.", "good.nsec.", dns.TypeDS, ok, Secure},
		{"good.nsec.", "www.good.nsec.", dns.TypeTXT, ok, Secure},        // NODATA
		{"good.nsec.", "nothere.good.nsec.", dns.TypeA, nx, Secure},      // NXDOMAIN
		{"good.nsec.", "any.wild.good.nsec.", dns.TypeA, ok, Secure},     // wildcard
		{"good.nsec.", "a.b.wild.good.nsec.", dns.TypeA, ok, Secure},     // wildcard, deeper
		{"good.nsec.", "any.wild.good.nsec.", dns.TypeTXT, ok, Secure},   // wildcard NODATA
		{"good.nsec.", "to3.good.nsec.", dns.TypeA, ok, Secure},          // CNAME to NSEC3 zone
		{"good.nsec.", "toinsecure.good.nsec.", dns.TypeA, ok, Insecure}, // CNAME to unsigned zone
		{"good.nsec.", "tobogus.good.nsec.", dns.TypeA, ok, Bogus},       // CNAME to expired zone
		{"good.nsec.", "dangling.good.nsec.", dns.TypeA, nx, Secure},     // CNAME to NXDOMAIN

		{"good.nsec3.", "www.good.nsec3.", dns.TypeA, ok, Secure},
		{"good.nsec3.", "www.good.nsec3.", dns.TypeAAAA, ok, Secure},
		{"good.nsec3.", "txt.good.nsec3.", dns.TypeTXT, ok, Secure},
		{"good.nsec3.", "www.good.nsec3.", dns.TypeMX, ok, Secure},       // NODATA
		{"good.nsec3.", "nothere.good.nsec3.", dns.TypeA, nx, Secure},    // NXDOMAIN
		{"good.nsec3.", "any.wild.good.nsec3.", dns.TypeTXT, ok, Secure}, // wildcard
		{"good.nsec3.", "any.wild.good.nsec3.", dns.TypeA, ok, Secure},   // wildcard NODATA
		{"good.nsec3.", "deep.good.nsec3.", dns.TypeA, ok, Secure},       // empty non-terminal
		{"good.nsec3.", "sub.deep.good.nsec3.", dns.TypeA, ok, Secure},
		{"good.nsec3.", "to1.good.nsec3.", dns.TypeA, ok, Secure}, // CNAME to NSEC zone
		{"good.nsec3.", "good.nsec3.", dns.TypeDS, ok, Secure},

		{"expired.nsec.", "www.expired.nsec.", dns.TypeA, ok, Bogus},
		{"expired.nsec.", "nothere.expired.nsec.", dns.TypeA, nx, Bogus},
		{"future.nsec.", "www.future.nsec.", dns.TypeA, ok, Bogus},
		{"future.nsec.", "future.nsec.", dns.TypeSOA, ok, Bogus},
		{"wrongds.nsec.", "www.wrongds.nsec.", dns.TypeA, ok, Bogus},
		{"wrongds.nsec.", "wrongds.nsec.", dns.TypeDNSKEY, ok, Bogus},

		{"nods.nsec.", "www.nods.nsec.", dns.TypeA, ok, Insecure},
		{"nods.nsec.", "nods.nsec.", dns.TypeDS, ok, Secure}, // the parent proves there is none
		{"unsigned.nsec.", "www.unsigned.nsec.", dns.TypeA, ok, Insecure},
		{"unsigned.nsec.", "nothere.unsigned.nsec.", dns.TypeA, nx, Insecure},
		{"ed448.nsec.", "www.ed448.nsec.", dns.TypeA, ok, Secure},
		{"ed448.nsec.", "mail.ed448.nsec.", dns.TypeMX, ok, Secure},
		{"ed448.nsec.", "ed448.nsec.", dns.TypeDNSKEY, ok, Secure},
		{"ed448.nsec.", "ed448.nsec.", dns.TypeDS, ok, Secure},
		{"ed448.nsec.", "www.ed448.nsec.", dns.TypeTXT, ok, Secure},    // NODATA
		{"ed448.nsec.", "nothere.ed448.nsec.", dns.TypeA, nx, Secure},  // NXDOMAIN
		{"ed448.nsec.", "any.wild.ed448.nsec.", dns.TypeA, ok, Secure}, // wildcard
		{"unknownalg.nsec.", "www.unknownalg.nsec.", dns.TypeA, ok, Insecure},
		{"unknownalg.nsec.", "nothere.unknownalg.nsec.", dns.TypeA, nx, Insecure},

		{"cutnsec.nsec.", "a.cutnsec.nsec.", dns.TypeTXT, ok, Secure},
		{"cutnsec.nsec.", "z.cutnsec.nsec.", dns.TypeTXT, ok, Secure},
		{"cutnsec.nsec.", "b.cutnsec.nsec.", dns.TypeTXT, nx, Bogus}, // its NSEC is gone
		{"cutnsec.nsec.", "a.cutnsec.nsec.", dns.TypeA, ok, Bogus},   // NODATA without its NSEC

		{"optout.nsec3.", "www.optout.nsec3.", dns.TypeA, ok, Secure},
		{"optout.nsec3.", "www.child.optout.nsec3.", dns.TypeA, ok, Insecure},
		{"optout.nsec3.", "child.optout.nsec3.", dns.TypeDS, ok, Insecure}, // opt-out covers it
		{"child.optout.nsec3.", "nothere.child.optout.nsec3.", dns.TypeA, nx, Insecure},
		{"child.optout.nsec3.", "child.optout.nsec3.", dns.TypeSOA, ok, Insecure},

		{"iter.nsec3.", "www.iter.nsec3.", dns.TypeA, ok, Secure}, // signatures still validate
		{"iter.nsec3.", "txt.iter.nsec3.", dns.TypeTXT, ok, Secure},
		{"iter.nsec3.", "nothere.iter.nsec3.", dns.TypeA, nx, Insecure}, // proof not checked
		{"iter.nsec3.", "www.iter.nsec3.", dns.TypeTXT, ok, Insecure},   // NODATA, the same
	}
}
