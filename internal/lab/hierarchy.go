// Package lab is a whole DNS hierarchy on loopback addresses: a root, top-level and leaf zones, each
// served on its own 127.0.x.y address, with the awkward cases a resolver must handle (CNAME and
// DNAME chains across zones, name servers named outside their zone, a lame delegation, a server
// that never answers, a slow one, one that truncates every UDP answer and one that forges
// records). Most servers are Warden authorities inside the process; some are real Knot DNS and
// NSD processes, so that resolvers meet other implementations' answers too (Warden stands in for
// them where they are not installed). Tests resolve through it instead of the real root, and
// `warden lab` offers it to people so that resolution can be tried offline.
package lab

import "time"

// Behaviour is how a server departs from a correct one.
type Behaviour uint8

const (
	Normal Behaviour = iota
	// Silent reads queries and never answers.
	Silent
	// Slow answers correctly after SlowDelay.
	Slow
	// Truncating answers every UDP query with TC=1 and nothing else; TCP works.
	Truncating
	// Lame answers REFUSED to everything, as a server that was delegated to but does not serve
	// the zone does.
	Lame
	// Poisoning answers correctly but adds records it has no authority for: an address for
	// www.bank.example. in every section, and a delegation of bank.example. to its own server,
	// as an off-path attacker's forged reply or a malicious server would.
	Poisoning
)

// SlowDelay is how long a Slow server waits before answering.
const SlowDelay = 400 * time.Millisecond

// Server is one authoritative server of the hierarchy.
type Server struct {
	Name      string // host name, as the zones name it
	IP        string // 127.0.x.y
	Zones     []Zone
	Behaviour Behaviour // only Warden misbehaves
	Software  Software  // what serves it; Warden by default
}

// Zone is a zone's origin and master-file text.
type Zone struct {
	Origin string
	Text   string
}

// Hierarchy returns the built-in mini internet. Addresses: the root on 127.0.1.1, top-level zones
// on 127.0.2.x, leaf zones on 127.0.3.x, misbehaving servers on 127.0.4.x. Knot DNS serves org.
// and shop.example., NSD serves wild.org. and moved.example., Warden the rest.
func Hierarchy() []Server {
	return []Server{
		{Name: "a.root.lab.", IP: "127.0.1.1", Zones: []Zone{{".", rootZone}}},
		{Name: "ns1.nic.lab.", IP: "127.0.2.1", Zones: []Zone{{"lab.", labZone}}},
		{Name: "ns1.nic.example.", IP: "127.0.2.2", Zones: []Zone{{"example.", exampleTLD}}},
		{Name: "ns1.nic.org.", IP: "127.0.2.3", Zones: []Zone{{"org.", orgTLD}}, Software: Knot},
		{Name: "ns1.shop.example.", IP: "127.0.3.1", Zones: []Zone{{"shop.example.", shopZone}}, Software: Knot},
		{Name: "ns.hosting.org.", IP: "127.0.3.2", Zones: []Zone{{"hosting.org.", hostingZone}, {"blog.example.", blogZone}}},
		{Name: "ns1.wild.org.", IP: "127.0.3.3", Zones: []Zone{{"wild.org.", wildZone}}, Software: NSD},
		{Name: "ns1.moved.example.", IP: "127.0.3.4", Zones: []Zone{{"moved.example.", movedZone}}, Software: NSD},
		{Name: "lame.hosting.org.", IP: "127.0.4.1", Behaviour: Lame},
		{Name: "silent.hosting.org.", IP: "127.0.4.2", Zones: []Zone{{"flaky.example.", flakyZone}}, Behaviour: Silent},
		{Name: "ns2.flaky.example.", IP: "127.0.4.3", Zones: []Zone{{"flaky.example.", flakyZone}}},
		{Name: "slow.hosting.org.", IP: "127.0.4.4", Zones: []Zone{{"slow.example.", slowZone}}, Behaviour: Slow},
		{Name: "tc.hosting.org.", IP: "127.0.4.5", Zones: []Zone{{"big.example.", bigZone}}, Behaviour: Truncating},
		{Name: "ns1.evil.example.", IP: "127.0.4.6", Zones: []Zone{{"evil.example.", evilZone}}, Behaviour: Poisoning},
		{Name: "ns1.bank.example.", IP: "127.0.3.5", Zones: []Zone{{"bank.example.", bankZone}}},
	}
}

const rootZone = `$TTL 86400
@ IN SOA a.root.lab. hostmaster.lab. 1 3600 600 86400 300
@ NS a.root.lab.
lab. NS ns1.nic.lab.
ns1.nic.lab. A 127.0.2.1
a.root.lab. A 127.0.1.1
example. NS ns1.nic.example.
ns1.nic.example. A 127.0.2.2
org. NS ns1.nic.org.
ns1.nic.org. A 127.0.2.3
`

const labZone = `$ORIGIN lab.
$TTL 3600
@ SOA ns1.nic hostmaster 1 3600 600 86400 300
@ NS ns1.nic
ns1.nic A 127.0.2.1
a.root A 127.0.1.1
www A 127.0.9.1
`

const exampleTLD = `$ORIGIN example.
$TTL 3600
@ SOA ns1.nic hostmaster.lab. 1 3600 600 86400 300
@ NS ns1.nic
ns1.nic A 127.0.2.2
; in-bailiwick delegation with glue
shop NS ns1.shop
shop DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns1.shop A 127.0.3.1
; delegation to a name server named in another TLD (no glue possible)
blog NS ns.hosting.org.
; a lame server first, a working one second
moved NS lame.hosting.org.
moved NS ns1.moved
ns1.moved A 127.0.3.4
; one server never answers, the other does
flaky NS silent.hosting.org.
flaky NS ns2.flaky
ns2.flaky A 127.0.4.3
slow NS slow.hosting.org.
big NS tc.hosting.org.
; a zone whose server lies about others, and the zone it lies about
evil NS ns1.evil
ns1.evil A 127.0.4.6
bank NS ns1.bank
ns1.bank A 127.0.3.5
`

const orgTLD = `$ORIGIN org.
$TTL 3600
@ SOA ns1.nic hostmaster.lab. 1 3600 600 86400 300
@ NS ns1.nic
ns1.nic A 127.0.2.3
hosting NS ns.hosting
ns.hosting A 127.0.3.2
wild NS ns1.wild
ns1.wild A 127.0.3.3
`

const shopZone = `$ORIGIN shop.example.
$TTL 600
@ SOA ns1 hostmaster.lab. 1 3600 600 86400 300
@ NS ns1
@ A 127.0.9.10
@ MX 10 mail
ns1 A 127.0.3.1
www A 127.0.9.11
www AAAA 2001:db8::11
mail A 127.0.9.12
; a chain that leaves the zone twice
cdn CNAME edge.blog.example.
alias CNAME www
; DNAME into another zone
legacy DNAME hosting.org.
txt TXT "shop text"
`

const hostingZone = `$ORIGIN hosting.org.
$TTL 600
@ SOA ns hostmaster.lab. 1 3600 600 86400 300
@ NS ns
ns A 127.0.3.2
lame A 127.0.4.1
silent A 127.0.4.2
slow A 127.0.4.4
tc A 127.0.4.5
www A 127.0.9.20
app CNAME www.shop.example.
`

const blogZone = `$ORIGIN blog.example.
$TTL 600
@ SOA ns.hosting.org. hostmaster.lab. 1 3600 600 86400 300
@ NS ns.hosting.org.
@ A 127.0.9.30
edge CNAME www.wild.org.
post TXT "hello"
`

const wildZone = `$ORIGIN wild.org.
$TTL 600
@ SOA ns1 hostmaster.lab. 1 3600 600 86400 300
@ NS ns1
ns1 A 127.0.3.3
* A 127.0.9.40
*.deep TXT "deep wildcard"
www A 127.0.9.41
`

const movedZone = `$ORIGIN moved.example.
$TTL 600
@ SOA ns1 hostmaster.lab. 1 3600 600 86400 300
@ NS lame.hosting.org.
@ NS ns1
ns1 A 127.0.3.4
www A 127.0.9.50
`

const flakyZone = `$ORIGIN flaky.example.
$TTL 600
@ SOA ns2 hostmaster.lab. 1 3600 600 86400 300
@ NS silent.hosting.org.
@ NS ns2
ns2 A 127.0.4.3
www A 127.0.9.60
`

const slowZone = `$ORIGIN slow.example.
$TTL 600
@ SOA slow.hosting.org. hostmaster.lab. 1 3600 600 86400 300
@ NS slow.hosting.org.
www A 127.0.9.70
`

const bigZone = `$ORIGIN big.example.
$TTL 600
@ SOA tc.hosting.org. hostmaster.lab. 1 3600 600 86400 300
@ NS tc.hosting.org.
www A 127.0.9.80
txt TXT "a fairly long text record, one of many, that makes this RRset need TCP 01"
txt TXT "a fairly long text record, one of many, that makes this RRset need TCP 02"
txt TXT "a fairly long text record, one of many, that makes this RRset need TCP 03"
txt TXT "a fairly long text record, one of many, that makes this RRset need TCP 04"
txt TXT "a fairly long text record, one of many, that makes this RRset need TCP 05"
txt TXT "a fairly long text record, one of many, that makes this RRset need TCP 06"
txt TXT "a fairly long text record, one of many, that makes this RRset need TCP 07"
txt TXT "a fairly long text record, one of many, that makes this RRset need TCP 08"
`

const evilZone = `$ORIGIN evil.example.
$TTL 600
@ SOA ns1 hostmaster.lab. 1 3600 600 86400 300
@ NS ns1
ns1 A 127.0.4.6
www A 127.0.9.66
`

const bankZone = `$ORIGIN bank.example.
$TTL 600
@ SOA ns1 hostmaster.lab. 1 3600 600 86400 300
@ NS ns1
ns1 A 127.0.3.5
www A 127.0.9.90
`

// PoisonAddr is the address the Poisoning server claims for www.bank.example.
const PoisonAddr = "127.0.6.6"
