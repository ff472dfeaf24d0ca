package daemon

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/peers"
	"warden/internal/query"
)

// signedBed is a small signed hierarchy on 127.0.34.x, port 53, served by knotd: the root and
// the TLD sec. signed with NSEC, and under sec. one leaf for each outcome a validator gives.
type signedBed struct {
	hints  string // root hints file
	anchor string // the root's KSK, a DNSKEY record
	leaves *peers.Proc
}

// Addresses of the bed: one server per level, as a resolver has to walk the delegations.
const (
	bedRoot   = "127.0.34.11"
	bedTLD    = "127.0.34.12"
	bedLeaves = "127.0.34.13"
)

// signZone signs text as origin with a new ECDSA P-256 KSK and ZSK (dnssec-keygen,
// dnssec-signzone), its signatures valid from start to end (dnssec-signzone's -s and -e
// syntax, "now-3600"), with NSEC3 (no salt, no iterations) when nsec3. It returns the signed
// file and the DS record of the KSK.
func signZone(t *testing.T, dir, origin, text string, nsec3 bool, start, end string) (string, string) {
	t.Helper()
	keygen, err := peers.Bin("dnssec-keygen")
	if err != nil {
		t.Skip(err)
	}
	signer, err := peers.Bin("dnssec-signzone")
	if err != nil {
		t.Skip(err)
	}
	zdir, err := os.MkdirTemp(dir, "zone")
	if err != nil {
		t.Fatal(err)
	}
	run := func(bin string, args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Dir = zdir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
		}
		return strings.TrimSpace(string(out))
	}
	ksk := run(keygen, "-q", "-K", zdir, "-a", "ECDSAP256SHA256", "-f", "KSK", origin)
	zsk := run(keygen, "-q", "-K", zdir, "-a", "ECDSAP256SHA256", origin)
	var in strings.Builder
	in.WriteString(text)
	for _, k := range []string{ksk, zsk} {
		key, err := os.ReadFile(filepath.Join(zdir, k+".key"))
		if err != nil {
			t.Fatal(err)
		}
		in.Write(key)
	}
	unsigned := filepath.Join(zdir, "unsigned.zone")
	if err := os.WriteFile(unsigned, []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(zdir, "signed.zone")
	// -P: the expired zone must be signed as it is, without the signer's own check refusing it.
	args := []string{"-q", "-P", "-K", zdir, "-o", origin, "-f", signed, "-s", start, "-e", end}
	if nsec3 {
		args = append(args, "-3", "-", "-H", "0")
	}
	run(signer, append(args, unsigned, ksk, zsk)...)
	kskText, err := os.ReadFile(filepath.Join(zdir, ksk+".key"))
	if err != nil {
		t.Fatal(err)
	}
	var key *dns.DNSKEY
	for _, line := range strings.Split(string(kskText), "\n") {
		if r, err := dns.New(line); err == nil {
			if k, ok := r.(*dns.DNSKEY); ok {
				key = k
			}
		}
	}
	if key == nil {
		t.Fatalf("no DNSKEY in %s.key", ksk)
	}
	return signed, key.ToDS(dns.SHA256).String()
}

func zoneHead(origin, ns, ip string) string {
	return fmt.Sprintf("$TTL 300\n%s SOA %s host.invalid. 1 3600 600 86400 300\n%s NS %s\n%s A %s\n", origin, ns, origin, ns, ns, ip)
}

func leafText(origin string) string {
	return zoneHead(origin, "ns."+origin, bedLeaves) +
		"www." + origin + " A 192.0.2.10\n" +
		"*.wild." + origin + " TXT \"wild\"\n" +
		"alias." + origin + " CNAME www." + origin + "\n"
}

func startBed(t *testing.T) signedBed {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the bed's servers listen on port 53: run as root")
	}
	for _, ip := range []string{bedRoot, bedTLD, bedLeaves} {
		if err := peers.CheckFree(ip + ":53"); err != nil {
			t.Skip(err)
		}
	}
	dir := t.TempDir()
	now, past := "now-3600", "now+2592000"
	secure, secureDS := signZone(t, dir, "secure.sec.", leafText("secure.sec.")+
		"*.wc.secure.sec. CNAME www.nsec3.sec.\ntoinsecure.secure.sec. CNAME www.insecure.sec.\nzero.secure.sec. 0 A 192.0.2.99\n", false, now, past)
	nsec3, nsec3DS := signZone(t, dir, "nsec3.sec.", leafText("nsec3.sec."), true, now, past)
	expired, expiredDS := signZone(t, dir, "expired.sec.", leafText("expired.sec."), false, "now-2592000", "now-864000")
	wrong, _ := signZone(t, dir, "wrongds.sec.", leafText("wrongds.sec."), false, now, past)
	_, otherDS := signZone(t, dir, "wrongds.sec.", leafText("wrongds.sec."), false, now, past)
	insecure := filepath.Join(dir, "insecure.zone")
	if err := os.WriteFile(insecure, []byte(leafText("insecure.sec.")), 0o644); err != nil {
		t.Fatal(err)
	}
	tld := zoneHead("sec.", "ns.sec.", bedTLD)
	for _, leaf := range []string{"secure", "nsec3", "expired", "wrongds", "insecure"} {
		tld += fmt.Sprintf("%s.sec. NS ns.%s.sec.\nns.%s.sec. A %s\n", leaf, leaf, leaf, bedLeaves)
	}
	tld += secureDS + "\n" + nsec3DS + "\n" + expiredDS + "\n" + otherDS + "\n"
	tldFile, tldDS := signZone(t, dir, "sec.", tld, false, now, past)
	root := zoneHead(".", "a.root.sec.", bedRoot) + "sec. NS ns.sec.\nns.sec. A " + bedTLD + "\n" + tldDS + "\n"
	rootFile, _ := signZone(t, dir, ".", root, false, now, past)

	serve := func(ip string, zones ...peers.Zone) *peers.Proc {
		p, err := peers.StartKnot(peers.Knot{IP: ip, Port: 53, Dir: filepath.Join(dir, "knot-"+ip), Zones: zones})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Stop() })
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := p.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		return p
	}
	serve(bedRoot, peers.Zone{Origin: ".", File: rootFile})
	serve(bedTLD, peers.Zone{Origin: "sec.", File: tldFile})
	leaves := serve(bedLeaves, peers.Zone{Origin: "secure.sec.", File: secure}, peers.Zone{Origin: "nsec3.sec.", File: nsec3},
		peers.Zone{Origin: "expired.sec.", File: expired}, peers.Zone{Origin: "wrongds.sec.", File: wrong},
		peers.Zone{Origin: "insecure.sec.", File: insecure})

	hints := filepath.Join(dir, "root.hints")
	if err := os.WriteFile(hints, []byte(". 3600000 IN NS a.root.sec.\na.root.sec. 3600000 IN A "+bedRoot+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The anchor is the root's DNSKEY set as served, KSK only: a file as an operator writes it.
	rootKeys := askServer(t, bedRoot+":53", ".", dns.TypeDNSKEY, false)
	var anchor strings.Builder
	anchor.WriteString("; the lab root's key-signing key\n")
	for _, r := range rootKeys.Answer {
		if k, ok := r.(*dns.DNSKEY); ok && k.Flags&dns.FlagSEP != 0 {
			anchor.WriteString(k.String() + "\n")
		}
	}
	anchorFile := filepath.Join(dir, "root.anchor")
	if err := os.WriteFile(anchorFile, []byte(anchor.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return signedBed{hints: hints, anchor: anchorFile, leaves: leaves}
}

func askServer(t *testing.T, addr, name string, qtype uint16, rd bool) *dns.Msg {
	t.Helper()
	m := dns.NewMsg(name, qtype)
	m.RecursionDesired = rd
	m.UDPSize = 1232
	m.Security = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := dns.Exchange(ctx, m, "udp", addr)
	if err == nil && r.Truncated {
		r, err = dns.Exchange(ctx, m, "tcp", addr)
	}
	if err != nil {
		t.Fatalf("%s %s at %s: %v", name, dns.TypeToString[qtype], addr, err)
	}
	return r
}

// bedAnswer is what a validating resolver says about one question.
type bedAnswer struct {
	rcode uint16
	ad    bool
	ede   int // -1: none
}

func edeOf(m *dns.Msg) int {
	for _, o := range m.Pseudo {
		if e, ok := o.(*dns.EDE); ok {
			return int(e.InfoCode)
		}
	}
	return -1
}

// TestValidatingResolverOnSignedBed resolves names of the bed through the resolution stage built
// from a configuration with root hints and a trust anchor, and through a validating Unbound with
// the same hints and anchor: the same rcode and AD bit for every question, AD only on signed
// data, SERVFAIL with the Extended DNS Error naming the failure on bogus data, the data itself
// with CD=1.
func TestValidatingResolverOnSignedBed(t *testing.T) {
	bed := startBed(t)
	var logs bytes.Buffer
	rec, err := NewRecursor(parseConfig(t, "resolver:\n  root_hints: "+bed.hints+"\n  trust_anchor: "+bed.anchor+"\n  timeout: 10s\n"), logTo(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "DNSSEC validation on") {
		t.Errorf("no log line saying validation is on:\n%s", logs.String())
	}
	unbound := startValidatingUnbound(t, bed)

	cases := []struct {
		name  string
		qtype uint16
		want  bedAnswer
	}{
		{"www.secure.sec.", dns.TypeA, bedAnswer{dns.RcodeSuccess, true, -1}},
		{"alias.secure.sec.", dns.TypeA, bedAnswer{dns.RcodeSuccess, true, -1}},
		{"x.wc.secure.sec.", dns.TypeA, bedAnswer{dns.RcodeSuccess, true, -1}}, // a wildcard CNAME into another zone
		{"zero.secure.sec.", dns.TypeA, bedAnswer{dns.RcodeSuccess, true, -1}}, // TTL 0: never cached
		{"toinsecure.secure.sec.", dns.TypeA, bedAnswer{dns.RcodeSuccess, false, -1}},
		{"secure.sec.", dns.TypeDNSKEY, bedAnswer{dns.RcodeSuccess, true, -1}},
		{"secure.sec.", dns.TypeDS, bedAnswer{dns.RcodeSuccess, true, -1}},
		{"insecure.sec.", dns.TypeDS, bedAnswer{dns.RcodeSuccess, true, -1}},
		{"nope.secure.sec.", dns.TypeA, bedAnswer{dns.RcodeNameError, true, -1}},
		// In the span the last NSEC proved: answered from it (RFC 8198), as secure.
		{"nopf.secure.sec.", dns.TypeA, bedAnswer{dns.RcodeNameError, true, -1}},
		{"nopf.secure.sec.", dns.TypeAAAA, bedAnswer{dns.RcodeNameError, true, -1}},
		{"www.secure.sec.", dns.TypeTXT, bedAnswer{dns.RcodeSuccess, true, -1}},
		{"x.wild.secure.sec.", dns.TypeTXT, bedAnswer{dns.RcodeSuccess, true, -1}},
		{"www.nsec3.sec.", dns.TypeA, bedAnswer{dns.RcodeSuccess, true, -1}},
		{"nope.nsec3.sec.", dns.TypeA, bedAnswer{dns.RcodeNameError, true, -1}},
		{"www.nsec3.sec.", dns.TypeMX, bedAnswer{dns.RcodeSuccess, true, -1}},
		{"x.wild.nsec3.sec.", dns.TypeTXT, bedAnswer{dns.RcodeSuccess, true, -1}},
		{"nope.sec.", dns.TypeA, bedAnswer{dns.RcodeNameError, true, -1}},
		{"www.insecure.sec.", dns.TypeA, bedAnswer{dns.RcodeSuccess, false, -1}},
		{"nope.insecure.sec.", dns.TypeA, bedAnswer{dns.RcodeNameError, false, -1}},
		{"www.expired.sec.", dns.TypeA, bedAnswer{dns.RcodeServerFailure, false, 7}},
		{"www.wrongds.sec.", dns.TypeA, bedAnswer{dns.RcodeServerFailure, false, 9}},
	}
	for _, c := range cases {
		t.Run(c.name+dns.TypeToString[c.qtype], func(t *testing.T) {
			got := serveRecursive(t, rec, c.name, c.qtype, true, false)
			if g := (bedAnswer{got.Rcode, got.AuthenticatedData, edeOf(got)}); g != c.want {
				t.Errorf("warden: %+v, want %+v\n%s", g, c.want, got)
			}
			ub := askServer(t, unbound, c.name, c.qtype, true)
			if ub.Rcode != got.Rcode || ub.AuthenticatedData != got.AuthenticatedData {
				t.Errorf("warden rcode %d AD %t, unbound rcode %d AD %t\nunbound:\n%s", got.Rcode, got.AuthenticatedData, ub.Rcode, ub.AuthenticatedData, ub)
			}
			// Asked again, the answer comes from the cache (secure data) or the memory of
			// bogus questions, the same.
			again := serveRecursive(t, rec, c.name, c.qtype, true, false)
			if again.Rcode != got.Rcode || again.AuthenticatedData != got.AuthenticatedData || edeOf(again) != edeOf(got) {
				t.Errorf("asked again: rcode %d AD %t EDE %d, first %d %t %d", again.Rcode, again.AuthenticatedData, edeOf(again), got.Rcode, got.AuthenticatedData, edeOf(got))
			}
			if c.want.ad {
				// Without DO, AD is given only to a client that sets AD itself.
				plain := serveRecursive(t, rec, c.name, c.qtype, false, false)
				if plain.AuthenticatedData {
					t.Errorf("AD=1 to a client that set neither DO nor AD")
				}
				for _, r := range plain.Answer {
					if _, ok := r.(*dns.RRSIG); ok {
						t.Errorf("RRSIG to a client without DO: %v", r)
					}
				}
			}
		})
	}
	// CD=1 gets the bogus data, unchecked.
	cd := serveRecursive(t, rec, "www.expired.sec.", dns.TypeA, true, true)
	if cd.Rcode != dns.RcodeSuccess || len(cd.Answer) == 0 || cd.AuthenticatedData {
		t.Errorf("CD=1 for bogus data: rcode %d, AD %t, answer %v; want the data without AD", cd.Rcode, cd.AuthenticatedData, cd.Answer)
	}

	// Forwarded to Unbound, the same answers are checked here: the forwarder is asked with CD=1,
	// so its own verdict does not count.
	fwd, err := NewRecursor(parseConfig(t, "resolver:\n  trust_anchor: "+bed.anchor+"\n  timeout: 10s\n  forward:\n    - zone: \".\"\n      upstreams: [\""+unbound+"\"]\n"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		got := serveRecursive(t, fwd, c.name, c.qtype, true, false)
		if g := (bedAnswer{got.Rcode, got.AuthenticatedData, edeOf(got)}); g != c.want {
			t.Errorf("forwarded %s %s: %+v, want %+v\n%s", c.name, dns.TypeToString[c.qtype], g, c.want, got)
		}
	}
	// A negative trust anchor in the configuration makes the broken zone resolve, insecure,
	// and leaves the rest validated.
	expiry := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	ntaRec, err := NewRecursor(parseConfig(t, "resolver:\n  root_hints: "+bed.hints+"\n  trust_anchor: "+bed.anchor+
		"\n  timeout: 10s\n  negative_trust_anchors:\n    - domain: expired.sec.\n      expiry: \""+expiry+"\"\n"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if got := serveRecursive(t, ntaRec, "www.expired.sec.", dns.TypeA, true, false); got.Rcode != dns.RcodeSuccess || got.AuthenticatedData || len(got.Answer) == 0 {
		t.Errorf("under a negative trust anchor: rcode %d AD %t answer %v; want the data, insecure", got.Rcode, got.AuthenticatedData, got.Answer)
	}
	if got := serveRecursive(t, ntaRec, "www.wrongds.sec.", dns.TypeA, true, false); got.Rcode != dns.RcodeServerFailure {
		t.Errorf("beside the negative trust anchor: rcode %d, want SERVFAIL", got.Rcode)
	}

	// Without an anchor, the validating forwarder's AD bit is not passed on: nothing here
	// checked the data.
	plain, err := NewRecursor(parseConfig(t, "resolver:\n  timeout: 10s\n  forward:\n    - zone: \".\"\n      upstreams: [\""+unbound+"\"]\n"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if ub := askServer(t, unbound, "www.secure.sec.", dns.TypeA, true); !ub.AuthenticatedData {
		t.Fatalf("unbound gives no AD for www.secure.sec.:\n%s", ub)
	}
	if got := serveRecursive(t, plain, "www.secure.sec.", dns.TypeA, true, false); got.AuthenticatedData || got.Rcode != dns.RcodeSuccess {
		t.Errorf("forwarded without an anchor: rcode %d AD %t, want NOERROR without AD", got.Rcode, got.AuthenticatedData)
	}
}

// TestNoAnchorNoValidation: with a root hints file and no trust anchor, the same signed bed
// resolves without validation: the expired zone answers, nothing has AD, and the log says so.
func TestNoAnchorNoValidation(t *testing.T) {
	bed := startBed(t)
	var logs bytes.Buffer
	rec, err := NewRecursor(parseConfig(t, "resolver:\n  root_hints: "+bed.hints+"\n  timeout: 10s\n"), logTo(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "DNSSEC validation off"); n != 1 {
		t.Errorf("%d log lines saying validation is off, want 1:\n%s", n, logs.String())
	}
	for _, name := range []string{"www.secure.sec.", "www.expired.sec."} {
		got := serveRecursive(t, rec, name, dns.TypeA, true, false)
		if got.Rcode != dns.RcodeSuccess || got.AuthenticatedData || len(got.Answer) == 0 {
			t.Errorf("%s: rcode %d AD %t answer %v; want the data, insecure", name, got.Rcode, got.AuthenticatedData, got.Answer)
		}
	}
}

// startValidatingUnbound runs unbound on 127.0.34.14 resolving from the bed's root hints and
// validating from its anchor.
func startValidatingUnbound(t *testing.T, bed signedBed) string {
	t.Helper()
	addr, _ := startValidatingUnboundDir(t, bed)
	return addr
}

// startValidatingUnboundDir is startValidatingUnbound that also returns unbound's directory.
func startValidatingUnboundDir(t *testing.T, bed signedBed) (string, string) {
	t.Helper()
	dnstest.UnboundBin(t)
	port, err := peers.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, err := peers.StartUnbound(peers.Unbound{IP: "127.0.34.14", Port: port, Dir: dir, RootHints: bed.hints,
		Server: "    module-config: \"validator iterator\"\n    trust-anchor-file: \"" + bed.anchor + "\"\n    val-log-level: 2\n"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return p.Addr(), dir
}

// serveRecursive asks the resolution stage over TCP (answered synchronously) and unpacks the
// answer.
func serveRecursive(t *testing.T, rec interface {
	Serve(*query.Request, []byte) []byte
}, name string, qtype uint16, do, cd bool) *dns.Msg {
	t.Helper()
	m := dns.NewMsg(name, qtype)
	m.RecursionDesired = true
	m.CheckingDisabled = cd
	m.UDPSize = 1232
	m.Security = do
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	req := &query.Request{Wire: m.Data, Transport: query.TCP}
	req.Client = netip.MustParseAddrPort("127.0.0.1:5353")
	if v := req.Parse(); v != query.Accept {
		t.Fatalf("parse: %v", v)
	}
	out := rec.Serve(req, make([]byte, 0, 65535))
	r := &dns.Msg{Data: out}
	if err := r.Unpack(); err != nil {
		t.Fatalf("%s: unpack the answer: %v", name, err)
	}
	return r
}

// TestAggressiveNSECOnBed: once an NXDOMAIN from secure.sec. was validated, other names its NSEC
// records cover are answered NXDOMAIN, secure, with the zone's servers gone (RFC 8198); a
// question they do not answer is asked, and fails. The same holds for the NSEC3 zone nsec3.sec.:
// a name below one proved absent, and another type of a name proved to lack one.
func TestAggressiveNSECOnBed(t *testing.T) {
	bed := startBed(t)
	rec, err := NewRecursor(parseConfig(t, "resolver:\n  root_hints: "+bed.hints+"\n  trust_anchor: "+bed.anchor+"\n  timeout: 3s\n  stale_ttl: 0s\n"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if got := serveRecursive(t, rec, "nope.secure.sec.", dns.TypeA, true, false); got.Rcode != dns.RcodeNameError || !got.AuthenticatedData {
		t.Fatalf("nope.secure.sec.: rcode %d AD %t", got.Rcode, got.AuthenticatedData)
	}
	if got := serveRecursive(t, rec, "nope.nsec3.sec.", dns.TypeA, true, false); got.Rcode != dns.RcodeNameError || !got.AuthenticatedData {
		t.Fatalf("nope.nsec3.sec.: rcode %d AD %t", got.Rcode, got.AuthenticatedData)
	}
	if got := serveRecursive(t, rec, "www.nsec3.sec.", dns.TypeMX, true, false); got.Rcode != dns.RcodeSuccess || len(got.Answer) != 0 || !got.AuthenticatedData {
		t.Fatalf("www.nsec3.sec. MX: rcode %d, %d answers, AD %t", got.Rcode, len(got.Answer), got.AuthenticatedData)
	}
	if err := bed.leaves.Stop(); err != nil {
		t.Fatal(err)
	}
	got := serveRecursive(t, rec, "nopf.secure.sec.", dns.TypeA, true, false)
	if got.Rcode != dns.RcodeNameError || !got.AuthenticatedData {
		t.Errorf("nopf.secure.sec. with the servers gone: rcode %d AD %t, want NXDOMAIN, secure\n%s", got.Rcode, got.AuthenticatedData, got)
	}
	nsec := 0
	for _, r := range got.Ns {
		if _, ok := r.(*dns.NSEC); ok {
			nsec++
		}
	}
	if nsec == 0 {
		t.Errorf("the synthesised NXDOMAIN carries no NSEC for a DO=1 client:\n%s", got)
	}
	if got := serveRecursive(t, rec, "www.secure.sec.", dns.TypeMX, true, false); got.Rcode != dns.RcodeServerFailure {
		t.Errorf("www.secure.sec. MX with the servers gone: rcode %d, want SERVFAIL (nothing proves it)", got.Rcode)
	}
	// The next closer name of x.nope.nsec3.sec. is nope.nsec3.sec., whose span was seen; its
	// closest encloser is the apex, as for nope.
	for _, q := range []struct {
		name  string
		qtype uint16
		rcode uint16
	}{
		{"x.nope.nsec3.sec.", dns.TypeA, dns.RcodeNameError},
		{"www.nsec3.sec.", dns.TypeTXT, dns.RcodeSuccess},
	} {
		got := serveRecursive(t, rec, q.name, q.qtype, true, false)
		if got.Rcode != q.rcode || len(got.Answer) != 0 || !got.AuthenticatedData {
			t.Errorf("%s %s with the servers gone: rcode %d, %d answers, AD %t, want %d, none, secure\n%s",
				q.name, dns.TypeToString[q.qtype], got.Rcode, len(got.Answer), got.AuthenticatedData, q.rcode, got)
		}
		nsec3, sigs := 0, 0
		for _, r := range got.Ns {
			switch x := r.(type) {
			case *dns.NSEC3:
				nsec3++
			case *dns.RRSIG:
				if x.TypeCovered == dns.TypeNSEC3 {
					sigs++
				}
			}
		}
		if nsec3 == 0 || sigs < nsec3 {
			t.Errorf("%s: %d NSEC3 with %d signatures for a DO=1 client:\n%s", q.name, nsec3, sigs, got)
		}
	}
}
