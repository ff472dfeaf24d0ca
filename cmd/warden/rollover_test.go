package main

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
)

// Zones signed online by `warden serve`, checked by a real validator: Unbound, trusting only the
// DS that `warden ctl zone ds` prints and asking only Warden, must find every kind of answer
// secure, and must go on finding the zone secure through its ZSK and KSK rollovers.

// onlineZone has one name for each kind of answer a validator proves differently.
const onlineZone = `$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
@ MX 10 mail
ns A 192.0.2.1
mail A 192.0.2.2
mail AAAA 2001:db8::2
www A 192.0.2.3
multi A 192.0.2.4
multi A 192.0.2.5
txt TXT "hello"
_sip._udp SRV 0 0 5060 www
v6only AAAA 2001:db8::6
a.ent A 192.0.2.7
*.wild TXT "wild"
*.w6 AAAA 2001:db8::9
c1 CNAME c2
c2 CNAME www
*.wc CNAME www
tonx CNAME nothere
sub NS ns.sub
ns.sub A 192.0.2.10
`

// signedServer is a `warden serve` of a configuration written for the test.
type signedServer struct {
	dir, addr, socket string
	cfg, cfgText      string // the configuration file and what it holds
	stop              func()
}

// startSigned runs warden on ip with the zones of the config lines zones (a YAML list) and the
// zone files in files, and waits until origin answers.
func startSigned(t *testing.T, ip, zones string, files map[string]string, origin string) *signedServer {
	t.Helper()
	s := &signedServer{dir: t.TempDir()}
	for name, text := range files {
		writeFile(t, filepath.Join(s.dir, name), text)
	}
	port, err := dnstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s.addr = net.JoinHostPort(ip, strconv.Itoa(port))
	s.socket = filepath.Join(s.dir, "control.sock")
	s.cfg = filepath.Join(s.dir, "warden.yaml")
	zones = strings.ReplaceAll(zones, "{ADDR}", s.addr) // the server's own address, known only now
	s.cfgText = fmt.Sprintf("listen: [%q]\nstorage: storage\nzones:\n%scontrol:\n  socket: %s\n", s.addr, zones, s.socket)
	writeFile(t, s.cfg, s.cfgText)
	_, s.stop = runServerUntilStopped(t, s.cfg)
	s.waitSigned(t, origin)
	return s
}

// waitSigned waits until the server answers origin's DNSKEY query.
func (s *signedServer) waitSigned(t *testing.T, origin string) {
	t.Helper()
	waitForIn(t, 10*time.Second, origin+" served signed", func() bool {
		m, err := dnstest.Exchange(s.addr, dnstest.Query{Name: origin, Type: dns.TypeDNSKEY, EDNS: true, DO: true, ID: 1})
		return err == nil && m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0
	})
}

// setParentDS puts the DS that `zone ds` prints for child into parent.zone (rollParent, with
// serial), reloads, and waits until the server gives it; it returns the DS's key tags.
func (s *signedServer) setParentDS(t *testing.T, child string, serial int) string {
	t.Helper()
	ds := ctlOut(t, s.socket, "zone", "ds", child)
	text := strings.Replace(rollParent, " 1 3600", fmt.Sprintf(" %d 3600", serial), 1) + ds
	writeFile(t, filepath.Join(s.dir, "parent.zone"), text)
	ctlOut(t, s.socket, "reload")
	want := dsTagsIn(ds)
	waitForIn(t, 5*time.Second, "the parent serving the child's DS "+want, func() bool {
		m, err := dnstest.Exchange(s.addr, dnstest.Query{Name: child, Type: dns.TypeDS, EDNS: true, DO: true, ID: 2})
		return err == nil && answerTags(m, dns.TypeDS) == want
	})
	return want
}

// trustAnchor writes the DS records `zone ds` prints for origin into a file for Unbound.
func (s *signedServer) trustAnchor(t *testing.T, origin string) string {
	t.Helper()
	ds := ctlOut(t, s.socket, "zone", "ds", origin)
	if !strings.Contains(ds, "\tDS\t") && !strings.Contains(ds, " DS ") {
		t.Fatalf("zone ds %s printed no DS:\n%s", origin, ds)
	}
	path := filepath.Join(s.dir, "anchor-"+origin)
	writeFile(t, path, ds)
	return path
}

func TestUnboundValidatesOnlineSigned(t *testing.T) {
	cases := []struct {
		name  string
		qtype uint16
		rcode uint16
		note  string
	}{
		{"www", dns.TypeA, dns.RcodeSuccess, "A"},
		{"multi", dns.TypeA, dns.RcodeSuccess, "several records"},
		{"mail", dns.TypeAAAA, dns.RcodeSuccess, "AAAA"},
		{"txt", dns.TypeTXT, dns.RcodeSuccess, "TXT"},
		{"", dns.TypeMX, dns.RcodeSuccess, "MX with additional records"},
		{"_sip._udp", dns.TypeSRV, dns.RcodeSuccess, "SRV"},
		{"", dns.TypeSOA, dns.RcodeSuccess, "apex SOA"},
		{"", dns.TypeNS, dns.RcodeSuccess, "apex NS"},
		{"", dns.TypeDNSKEY, dns.RcodeSuccess, "DNSKEY"},
		{"", dns.TypeCDS, dns.RcodeSuccess, "CDS"},
		{"", dns.TypeCDNSKEY, dns.RcodeSuccess, "CDNSKEY"},
		{"nothere", dns.TypeA, dns.RcodeNameError, "NXDOMAIN"},
		{"deep.nx", dns.TypeTXT, dns.RcodeNameError, "NXDOMAIN two labels down"},
		{"v6only", dns.TypeA, dns.RcodeSuccess, "NODATA"},
		{"ent", dns.TypeA, dns.RcodeSuccess, "NODATA at an empty non-terminal"},
		{"sub", dns.TypeDS, dns.RcodeSuccess, "no DS at an unsigned delegation"},
		{"foo.wild", dns.TypeTXT, dns.RcodeSuccess, "wildcard"},
		{"a.b.wild", dns.TypeTXT, dns.RcodeSuccess, "wildcard two labels down"},
		{"foo.w6", dns.TypeA, dns.RcodeSuccess, "wildcard NODATA"},
		{"c1", dns.TypeA, dns.RcodeSuccess, "CNAME chain"},
		{"foo.wc", dns.TypeA, dns.RcodeSuccess, "wildcard CNAME"},
		{"tonx", dns.TypeA, dns.RcodeNameError, "CNAME to a name that does not exist"},
	}
	for i, denial := range []string{"nsec", "nsec3"} {
		t.Run(denial, func(t *testing.T) {
			ip := fmt.Sprintf("127.0.7.%d", 10+i)
			origin := "online.test."
			s := startSigned(t, ip, fmt.Sprintf("  - origin: %s\n    file: online.zone\n    dnssec:\n      sign: true\n      denial: %s\n", origin, denial),
				map[string]string{"online.zone": onlineZone}, origin)
			unbound := dnstest.StartValidatingUnbound(t, ip, origin, s.trustAnchor(t, origin), s.addr)
			for j, c := range cases {
				name := origin
				if c.name != "" {
					name = c.name + "." + origin
				}
				q := dnstest.Query{Name: name, Type: c.qtype, RD: true, EDNS: true, DO: true, ID: uint16(100 + j)}
				m, err := dnstest.Exchange(unbound, q)
				if err != nil {
					t.Errorf("%s (%s): %v", q, c.note, err)
					continue
				}
				if m.Rcode != c.rcode || !m.AuthenticatedData {
					t.Errorf("%s (%s): rcode %s AD=%t, want %s AD=true\n%s", q, c.note, dns.RcodeToString[m.Rcode],
						m.AuthenticatedData, dns.RcodeToString[c.rcode], strings.TrimSpace(dnstest.Format(m)))
				}
			}
		})
	}
}

// The rollover test's zones: a parent, signed once for all, that holds the child's DS, and the
// child, whose keys live seconds. Every TTL is a second, so that Unbound fetches the DNSKEY,
// DS and data again for nearly every query and sees each state of the rollover.
const (
	rollParent = `$TTL 1
@ SOA ns hostmaster 1 3600 600 86400 1
@ NS ns
ns A 127.0.7.20
child NS ns.child
ns.child A 127.0.7.20
`
	rollChild = `$TTL 1
@ SOA ns hostmaster 1 3600 600 86400 1
@ NS ns
ns A 127.0.7.20
www A 192.0.2.1
*.wild TXT "wild"
`
)

// TestRolloverValidatesInUnbound runs a child zone through a full ZSK rollover and a full KSK
// rollover with lifetimes of seconds. The trust anchor is the parent's key; the parent, served
// by the same Warden, holds the child's DS, which the test changes when `zone ds` says so (as a
// parent's operator taking the CDS would) and then confirms with `zone ds-seen`. Unbound must
// answer every query with AD=1 all along, while the DNSKEY set grows and shrinks, the keys go
// through their states, and the CDS moves from the old KSK to the new.
func TestRolloverValidatesInUnbound(t *testing.T) {
	const ip, parent, child = "127.0.7.20", "parent.test.", "child.parent.test."
	zones := fmt.Sprintf(`  - origin: %s
    file: parent.zone
    dnssec:
      sign: true
  - origin: %s
    file: child.zone
    dnssec:
      sign: true
      denial: nsec3
      dnskey_ttl: 1
      propagation_delay: 1s
      parent_ds_ttl: 1s
      zsk_lifetime: 8s
      ksk_lifetime: 14s
`, parent, child)
	s := startSigned(t, ip, zones, map[string]string{"parent.zone": rollParent, "child.zone": rollChild}, child)
	start := time.Now()

	// The parent takes the child's first DS before the resolver starts.
	setParentDS := func(serial int) string { return s.setParentDS(t, child, serial) }
	parentDS := setParentDS(2)
	// A validator that wants a signature of every algorithm the DS names: the strictest reading
	// of an algorithm rollover's middle (RFC 4035 §2.2, RFC 6840 §5.11).
	unbound := dnstest.StartValidatingUnboundWith(t, ip, parent, s.trustAnchor(t, parent), s.addr, "    harden-algo-downgrade: yes\n")

	queries := []struct {
		name  string
		qtype uint16
		rcode uint16
	}{
		{"www." + child, dns.TypeA, dns.RcodeSuccess},
		{"nothere." + child, dns.TypeA, dns.RcodeNameError},
		{"www." + child, dns.TypeTXT, dns.RcodeSuccess},
		{"x.wild." + child, dns.TypeTXT, dns.RcodeSuccess},
		{child, dns.TypeDNSKEY, dns.RcodeSuccess},
	}
	first := keyStates(t, s.socket, child)
	seen := map[string]bool{}        // role+state seen in `zone keys`
	var dnskeySets, cdsSets []string // as they changed
	serial, asked := 2, 0
	deadline := start.Add(55 * time.Second)
	// until queries Unbound, follows the zone and plays the parent until over says the phase is.
	until := func(phase string, over func(keys []keyState, dnskeys *dns.Msg) bool) {
		t.Helper()
		for {
			if time.Now().After(deadline) {
				t.Fatalf("after %.0f s, %s is not over: key states seen %v, DNSKEY sets %v, CDS %v\nkeys now:\n%s", time.Since(start).Seconds(), phase,
					slices.Sorted(maps.Keys(seen)), dnskeySets, cdsSets, ctlOut(t, s.socket, "zone", "keys", child))
			}
			for i, q := range queries {
				m, err := dnstest.Exchange(unbound, dnstest.Query{Name: q.name, Type: q.qtype, RD: true, EDNS: true, DO: true, ID: uint16(10 + i)})
				asked++
				if err != nil || m.Rcode != q.rcode || !m.AuthenticatedData {
					t.Fatalf("%.1f s in, %s: %s %s: %v, want %s with AD=1\n%s\nkeys:\n%s\nDNSKEY sets %v, CDS %v", time.Since(start).Seconds(), phase, q.name, dns.TypeToString[q.qtype],
						err, dns.RcodeToString[q.rcode], strings.TrimSpace(dnstest.Format(m)), ctlOut(t, s.socket, "zone", "keys", child), dnskeySets, cdsSets)
				}
			}
			for _, k := range keyStates(t, s.socket, child) {
				seen[k.role+" "+k.state] = true
			}
			dnskeys, err := dnstest.Exchange(s.addr, dnstest.Query{Name: child, Type: dns.TypeDNSKEY, EDNS: true, DO: true, ID: 3})
			if err != nil {
				t.Fatal(err)
			}
			if d := answerTags(dnskeys, dns.TypeDNSKEY); len(dnskeySets) == 0 || dnskeySets[len(dnskeySets)-1] != d {
				dnskeySets = append(dnskeySets, d)
			}
			m, err := dnstest.Exchange(s.addr, dnstest.Query{Name: child, Type: dns.TypeCDS, EDNS: true, DO: true, ID: 4})
			if err != nil {
				t.Fatal(err)
			}
			c := answerTags(m, dns.TypeCDS)
			if len(cdsSets) == 0 || cdsSets[len(cdsSets)-1] != c {
				cdsSets = append(cdsSets, c)
			}
			// The CDS names a new KSK: the parent takes its DS, then says so.
			if c != parentDS {
				serial++
				parentDS = setParentDS(serial)
				if out := ctlOut(t, s.socket, "zone", "ds-seen", child); !strings.Contains(out, "is removed at") {
					t.Fatalf("zone ds-seen: %s", out)
				}
			}
			if over(keyStates(t, s.socket, child), dnskeys) {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	// A ZSK and a KSK rollover: over once neither first key is left and two keys are.
	until("the ZSK and KSK rollovers", func(keys []keyState, dnskeys *dns.Msg) bool {
		return len(keys) == 2 && len(strings.Split(answerTags(dnskeys, dns.TypeDNSKEY), ",")) == 2 && !slices.ContainsFunc(keys, func(k keyState) bool {
			return slices.ContainsFunc(first, func(f keyState) bool { return f.tag == k.tag })
		})
	})
	rolled := time.Since(start)

	// An algorithm rollover, from a changed configuration: over once every key, DNSKEY and
	// signature is Ed25519.
	writeFile(t, s.cfg, strings.Replace(s.cfgText, "      denial: nsec3\n", "      denial: nsec3\n      algorithm: ed25519\n", 1))
	ctlOut(t, s.socket, "reload")
	until("the algorithm rollover", func(keys []keyState, dnskeys *dns.Msg) bool {
		algs := map[uint8]bool{}
		for _, rr := range dnskeys.Answer {
			switch r := rr.(type) {
			case *dns.DNSKEY:
				algs[r.Algorithm] = true
			case *dns.RRSIG:
				algs[r.Algorithm] = true
			}
		}
		return len(algs) == 1 && algs[dns.ED25519] && !slices.ContainsFunc(keys, func(k keyState) bool { return k.alg != "15" })
	})
	t.Logf("ZSK and KSK rollovers over in %.1f s, the algorithm rollover %.1f s later", rolled.Seconds(), (time.Since(start) - rolled).Seconds())
	t.Logf("%d queries in %.1f s, all secure; DNSKEY sets %v; CDS %v; states %v", asked, time.Since(start).Seconds(), dnskeySets, cdsSets, slices.Sorted(maps.Keys(seen)))
	for _, want := range []string{"ZSK published", "ZSK active", "ZSK retired", "KSK published", "KSK ready", "KSK active", "KSK retiring", "KSK signing", "ZSK signing", "ZSK unpublished"} {
		if !seen[want] {
			t.Errorf("`zone keys` never showed a %s; it showed %v", want, slices.Sorted(maps.Keys(seen)))
		}
	}
	if len(cdsSets) < 2 || slices.ContainsFunc(cdsSets, func(c string) bool { return c == "" || strings.Contains(c, ",") }) {
		t.Errorf("CDS sets %v: want one key at a time, the old KSK's then the new one's", cdsSets)
	}
	if slices.IndexFunc(dnskeySets, func(d string) bool { return len(strings.Split(d, ",")) == 3 }) < 0 {
		t.Errorf("the DNSKEY set never held a new key beside the old ones: %v", dnskeySets)
	}
	// The schedule is in the key files, as BIND writes it.
	files, _ := filepath.Glob(filepath.Join(s.dir, "keys", "K"+child+"*.private"))
	var fields []string
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, name := range []string{"Inactive", "Delete", "SyncPublish", "SyncDelete", "DSPublish"} {
			if strings.Contains(string(data), "\n"+name+": ") && !slices.Contains(fields, name) {
				fields = append(fields, name)
			}
		}
	}
	if len(fields) != 5 {
		t.Errorf("the key files hold the timing fields %v; want Inactive, Delete, SyncPublish, SyncDelete and DSPublish", fields)
	}
}

type keyState struct{ tag, alg, role, state string }

// keyStates reads `warden ctl zone keys`.
func keyStates(t *testing.T, socket, origin string) []keyState {
	t.Helper()
	var out []keyState
	for _, m := range regexp.MustCompile(`(?m)^(\d+)\s+(\d+)\s+([KZC]SK)\s+(\S+)`).FindAllStringSubmatch(ctlOut(t, socket, "zone", "keys", origin), -1) {
		if m[4] != "removed" {
			out = append(out, keyState{m[1], m[2], m[3], m[4]})
		}
	}
	return out
}

// answerTags are the key tags of the answer's records of type t, sorted, comma-separated.
func answerTags(m *dns.Msg, t uint16) string {
	var tags []string
	for _, rr := range m.Answer {
		switch r := rr.(type) {
		case *dns.DNSKEY:
			if t == dns.TypeDNSKEY {
				tags = append(tags, strconv.Itoa(int(r.KeyTag())))
			}
		case *dns.DS:
			if t == dns.TypeDS {
				tags = append(tags, strconv.Itoa(int(r.KeyTag)))
			}
		case *dns.CDS:
			if t == dns.TypeCDS {
				tags = append(tags, strconv.Itoa(int(r.KeyTag)))
			}
		}
	}
	slices.Sort(tags)
	return strings.Join(tags, ",")
}

// dsTagsIn are the key tags of DS records in zone-file text.
func dsTagsIn(text string) string {
	var tags []string
	for line := range strings.SplitSeq(text, "\n") {
		if f := strings.Fields(line); len(f) >= 5 && f[3] == "DS" {
			tags = append(tags, f[4])
		}
	}
	slices.Sort(tags)
	return strings.Join(tags, ",")
}

// A rollover under way survives a restart: the schedule is in the key files, so the restarted
// server shows the same keys in the same states with the same next events, makes no new key,
// and carries the rollover through to its end.
func TestRolloverSurvivesRestart(t *testing.T) {
	const origin = "resume.test."
	zones := fmt.Sprintf(`  - origin: %s
    file: resume.zone
    dnssec:
      sign: true
      dnskey_ttl: 1
      propagation_delay: 3s
      zsk_lifetime: 9s
`, origin)
	s := startSigned(t, "127.0.7.30", zones, map[string]string{"resume.zone": rollChild}, origin)
	// The first KSK's DS may be confirmed once; a second time nothing waits, which is refused.
	if out := ctlOut(t, s.socket, "zone", "ds-seen", origin); !strings.Contains(out, "the parent holds the DS of key") {
		t.Errorf("zone ds-seen for the first KSK: %s", out)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"ctl", "zone", "ds-seen", origin, "--control", s.socket}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "waits for its DS") {
		t.Errorf("zone ds-seen with nothing waiting: exit %d, %s%s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"ctl", "zone", "ds-seen", "nosuch.test.", "--control", s.socket}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no such zone") {
		t.Errorf("zone ds-seen for a zone not served: exit %d, %s", code, errb.String())
	}
	var before string
	var published keyState
	// The new ZSK is published 4 s before it signs (3 s of propagation delay and a DNSKEY TTL
	// of 1 s): the restart falls in between.
	waitForIn(t, 15*time.Second, "a ZSK published ahead of its use", func() bool {
		before = ctlOut(t, s.socket, "zone", "keys", origin)
		i := slices.IndexFunc(keyStates(t, s.socket, origin), func(k keyState) bool { return k.role == "ZSK" && k.state == "published" })
		if i < 0 {
			return false
		}
		published = keyStates(t, s.socket, origin)[i]
		return true
	})
	s.stop()
	_, s.stop = runServerUntilStopped(t, s.cfg)
	s.waitSigned(t, origin)
	after := ctlOut(t, s.socket, "zone", "keys", origin)
	if schedule(after) != schedule(before) {
		t.Fatalf("after the restart the keys are\n%s\nbefore they were\n%s", after, before)
	}
	t.Logf("keys before the restart:\n%s\nafter:\n%s", before, after)
	// The rollover ends: the published key signs, and the one it replaces goes.
	waitForIn(t, 20*time.Second, "the new ZSK alone", func() bool {
		keys := keyStates(t, s.socket, origin)
		return slices.ContainsFunc(keys, func(k keyState) bool { return k.tag == published.tag && k.state == "active" }) &&
			len(keys) == 2
	})
	m, err := dnstest.Exchange(s.addr, dnstest.Query{Name: "www." + origin, Type: dns.TypeA, EDNS: true, DO: true, ID: 5})
	if err != nil {
		t.Fatal(err)
	}
	var signers []string
	for _, rr := range m.Answer {
		if sig, ok := rr.(*dns.RRSIG); ok {
			signers = append(signers, strconv.Itoa(int(sig.KeyTag)))
		}
	}
	if !slices.Equal(signers, []string{published.tag}) {
		t.Errorf("www is signed by %v, want by the new ZSK %s alone", signers, published.tag)
	}
}

// schedule is `zone keys` output without its relative times ("in 3s"), which move.
func schedule(keys string) string {
	return regexp.MustCompile(`\((in )?[0-9a-z.]+( ago)?\)`).ReplaceAllString(keys, "")
}

// With parent_ds_check, a KSK rollover needs no ds-seen: the server asks the parent's server for
// the DS while the new KSK waits, and goes on once the parent holds it, as Knot's ksk-submission
// does. Here the parent is a zone of the same server, changed by the test when the CDS changes.
func TestKSKRolloverChecksParentDS(t *testing.T) {
	const parent, child = "parent.test.", "child.parent.test."
	zones := fmt.Sprintf(`  - origin: %s
    file: parent.zone
    dnssec:
      sign: true
  - origin: %s
    file: child.zone
    dnssec:
      sign: true
      dnskey_ttl: 1
      propagation_delay: 1s
      parent_ds_ttl: 1s
      ksk_lifetime: 6s
      parent_ds_check: ["{ADDR}"]
      parent_ds_check_interval: 1s
`, parent, child)
	s := startSigned(t, "127.0.7.40", zones, map[string]string{"parent.zone": rollParent, "child.zone": rollChild}, child)
	serial := 2
	parentDS := s.setParentDS(t, child, serial)
	firstKSK := parentDS
	waitForIn(t, 30*time.Second, "the first KSK replaced without ds-seen", func() bool {
		m, err := dnstest.Exchange(s.addr, dnstest.Query{Name: child, Type: dns.TypeCDS, EDNS: true, ID: 4})
		if err != nil {
			t.Fatal(err)
		}
		if c := answerTags(m, dns.TypeCDS); c != parentDS && c != "" {
			serial++
			parentDS = s.setParentDS(t, child, serial)
		}
		keys := keyStates(t, s.socket, child)
		return parentDS != firstKSK && !slices.ContainsFunc(keys, func(k keyState) bool { return k.tag == firstKSK }) &&
			slices.ContainsFunc(keys, func(k keyState) bool { return k.tag == parentDS && k.state == "active" })
	})
}
