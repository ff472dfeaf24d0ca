package lab

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/dnsutil"

	"warden/internal/peers"
)

// Bed is the signed bed, built: its servers (as Start takes them) and the files a validating
// resolver needs.
type Bed struct {
	Servers []Server
	// TrustAnchor is the file holding the DS record of the root's key-signing key, in
	// master-file form, as Unbound's trust-anchor-file and Warden's --trust-anchor read it.
	TrustAnchor string
	// Hints is the bed's root hints file.
	Hints string
	dir   string
}

// bedKeyTTL is the TTL of the bed's DNSKEY and DS records.
const bedKeyTTL = 3600

// BuildBed signs the bed's zones as of now, writing keys, signed zones, the trust anchor and the
// root hints into dir (which must exist). Zones are signed by BIND's dnssec-signzone
// (bind9-utils), except the NSEC3 zone whose iteration count dnssec-signzone refuses, which is
// signed here; the zones are rebuilt every time, so signatures are always fresh (or stale by as
// much as the branch wants).
func BuildBed(dir string, now time.Time) (*Bed, error) {
	b := &bedBuilder{dir: dir, now: now, delegations: map[string][]string{}}
	for _, tool := range []string{"dnssec-keygen", "dnssec-signzone"} {
		p, err := peers.Bin(tool)
		if err != nil {
			return nil, fmt.Errorf("signed lab: %w (package bind9-utils)", err)
		}
		b.tools = append(b.tools, p)
	}
	zones := slices.Clone(bedZones)
	// Children first, so that each parent is signed with its children's DS records.
	slices.SortStableFunc(zones, func(x, y bedZone) int { return dnsutil.Labels(y.origin) - dnsutil.Labels(x.origin) })
	texts := map[string]string{}
	var anchor []string
	for _, z := range zones {
		text, ds, err := b.zone(z)
		if err != nil {
			return nil, fmt.Errorf("signed lab: zone %s: %w", z.origin, err)
		}
		texts[z.origin] = text
		if z.origin == "." {
			anchor = ds
			continue
		}
		parent := bedParent(z.origin)
		lines := []string{z.origin + " 3600 IN NS " + bedNSName(z.origin), bedNSName(z.origin) + " 3600 IN A " + z.ip}
		if z.ds != dsNone {
			lines = append(lines, ds...)
		}
		b.delegations[parent] = append(b.delegations[parent], lines...)
	}
	bed := &Bed{dir: dir, TrustAnchor: filepath.Join(dir, "trust-anchor.ds"), Hints: filepath.Join(dir, "root.hints")}
	if err := os.WriteFile(bed.TrustAnchor, []byte(strings.Join(anchor, "\n")+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("signed lab: %w", err)
	}
	hints := fmt.Sprintf(".\t3600000\tIN\tNS\t%s\n%s\t3600000\tIN\tA\t%s\n", bedRootNS, bedRootNS, bedRootIP)
	if err := os.WriteFile(bed.Hints, []byte(hints), 0o644); err != nil {
		return nil, fmt.Errorf("signed lab: %w", err)
	}
	for _, s := range bedServers {
		srv := Server{IP: s.ip, Software: s.software}
		for _, z := range bedZones {
			if z.ip == s.ip {
				srv.Zones = append(srv.Zones, Zone{Origin: z.origin, Text: texts[z.origin]})
			}
		}
		// A server shared by several zones has a name in each; the first stands for it.
		srv.Name = bedNSName(srv.Zones[0].Origin)
		bed.Servers = append(bed.Servers, srv)
	}
	return bed, nil
}

// Origins lists the bed's zones, root first.
func (b *Bed) Origins() []string {
	var out []string
	for _, z := range bedZones {
		out = append(out, z.origin)
	}
	return out
}

// ServerOf returns the address of the server of the zone origin, "" when the bed has no such zone.
func (b *Bed) ServerOf(origin string) string {
	for _, z := range bedZones {
		if z.origin == origin {
			return z.ip
		}
	}
	return ""
}

// UnboundStubs is unbound.conf text that sends each zone's questions to its server on port:
// root hints name no port, so a bed served on another port than 53 is reached through a stub
// zone per zone. Unbound still takes each DS from the parent's side (it looks for the
// delegation point of a DS question above the name), so the chain of trust is walked as in
// the real hierarchy.
func (b *Bed) UnboundStubs(port int) string {
	var s strings.Builder
	for _, z := range bedZones {
		fmt.Fprintf(&s, "stub-zone:\n    name: %q\n    stub-addr: %s@%d\n", z.origin, z.ip, port)
	}
	return s.String()
}

// bedNSName is the name of a zone's name server, inside the zone so that it has glue.
func bedNSName(origin string) string {
	if origin == "." {
		return bedRootNS
	}
	return "ns." + origin
}

// bedParent returns the closest bed zone above origin.
func bedParent(origin string) string {
	best := "."
	for _, z := range bedZones {
		if z.origin != origin && z.origin != "." && strings.HasSuffix(origin, "."+z.origin) && len(z.origin) > len(best) {
			best = z.origin
		}
	}
	return best
}

// bedBuilder signs the bed's zones one by one.
type bedBuilder struct {
	dir   string
	now   time.Time
	tools []string // dnssec-keygen, dnssec-signzone
	// delegations holds, per parent origin, the NS, glue and DS records of its children.
	delegations map[string][]string
}

// unsignedText is the zone's master file before signing: apex, own records, delegations.
func (b *bedBuilder) unsignedText(z bedZone) string {
	ns := bedNSName(z.origin)
	var t strings.Builder
	fmt.Fprintf(&t, "$ORIGIN %s\n$TTL 3600\n", z.origin)
	fmt.Fprintf(&t, "@ SOA %s hostmaster.%s 1 3600 600 86400 300\n", ns, strings.TrimPrefix(z.origin, "."))
	fmt.Fprintf(&t, "@ NS %s\n%s A %s\n", ns, ns, z.ip)
	t.WriteString(strings.TrimSpace(z.records))
	t.WriteString("\n")
	for _, l := range b.delegations[z.origin] {
		t.WriteString(l + "\n")
	}
	return t.String()
}

// zone returns z's served text and the DS records its parent may publish for it.
func (b *bedBuilder) zone(z bedZone) (text string, ds []string, err error) {
	unsigned := b.unsignedText(z)
	switch z.denial {
	case unsignedZone:
		return unsigned, nil, nil
	case unknownAlgorithm:
		return unknownAlgorithmZone(z.origin, unsigned)
	case signNSEC3Iterations:
		from, until := b.window(z)
		signed, ksk, err := signIterated(z.origin, unsigned, from, until, bedIterations)
		if err != nil {
			return "", nil, err
		}
		return signed, []string{ksk.ToDS(dns.SHA256).String()}, nil
	}
	ksk, kskKey, err := b.keygen(z, true)
	if err != nil {
		return "", nil, err
	}
	zsk, zskKey, err := b.keygen(z, false)
	if err != nil {
		return "", nil, err
	}
	in := filepath.Join(b.dir, zoneFileName(0, z.origin)+".unsigned")
	out := filepath.Join(b.dir, zoneFileName(0, z.origin)+".signed")
	if err := os.WriteFile(in, []byte(unsigned+kskKey.String()+"\n"+zskKey.String()+"\n"), 0o644); err != nil {
		return "", nil, err
	}
	from, until := b.window(z)
	// -P: no verification after signing, which would refuse the expired and future branches.
	args := []string{"-P", "-q", "-K", b.dir, "-o", z.origin, "-f", out,
		"-s", from.UTC().Format("20060102150405"), "-e", until.UTC().Format("20060102150405")}
	switch z.denial {
	case signNSEC3:
		args = append(args, "-3", "-", "-H", "0")
	case signNSEC3OptOut:
		args = append(args, "-3", "-", "-H", "0", "-A")
	}
	args = append(args, in, ksk, zsk)
	if _, err := b.run(b.tools[1], args...); err != nil {
		return "", nil, err
	}
	signed, err := os.ReadFile(out)
	if err != nil {
		return "", nil, err
	}
	text, err = rewrite(z.origin, string(signed), z.cutNSEC)
	if err != nil {
		return "", nil, err
	}
	dsKey := kskKey
	if z.ds == dsOtherKey {
		if _, dsKey, err = b.keygen(z, true); err != nil {
			return "", nil, err
		}
	}
	return text, []string{dsKey.ToDS(dns.SHA256).String()}, nil
}

// window is z's signature validity, as absolute times.
func (b *bedBuilder) window(z bedZone) (from, until time.Time) {
	if z.from == 0 && z.until == 0 {
		return b.now.Add(-time.Hour), b.now.Add(30 * day)
	}
	return b.now.Add(z.from), b.now.Add(z.until)
}

// keygen makes a key of z's algorithm in b.dir and returns its base name and DNSKEY.
func (b *bedBuilder) keygen(z bedZone, ksk bool) (string, *dns.DNSKEY, error) {
	origin, alg := z.origin, z.keyAlgorithm
	if alg == "" {
		alg = "ECDSAP256SHA256"
	}
	args := []string{"-q", "-K", b.dir, "-a", alg, "-L", fmt.Sprint(bedKeyTTL)}
	if ksk {
		args = append(args, "-f", "KSK")
	}
	base, err := b.run(b.tools[0], append(args, origin)...)
	if err != nil {
		return "", nil, err
	}
	data, err := os.ReadFile(filepath.Join(b.dir, base+".key"))
	if err != nil {
		return "", nil, err
	}
	zp := dns.NewZoneParser(strings.NewReader(string(data)), origin, base+".key")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if k, isKey := rr.(*dns.DNSKEY); isKey {
			return base, k, nil
		}
	}
	if err := zp.Err(); err != nil {
		return "", nil, err
	}
	return "", nil, fmt.Errorf("%s.key holds no DNSKEY", base)
}

func (b *bedBuilder) run(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = b.dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return "", fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(string(stderr)))
	}
	return strings.TrimSpace(string(out)), nil
}

// rewrite puts a signed zone one record a line and cuts the NSEC chain at cut: its NSEC record
// and the signature over it go, so that the names it covered cannot be proved absent.
func rewrite(origin, signed, cut string) (string, error) {
	var t strings.Builder
	zp := dns.NewZoneParser(strings.NewReader(signed), origin, origin)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if cut != "" && strings.EqualFold(rr.Header().Name, cut) {
			if dns.RRToType(rr) == dns.TypeNSEC {
				continue
			}
			if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered == dns.TypeNSEC {
				continue
			}
		}
		t.WriteString(rr.String())
		t.WriteString("\n")
	}
	if err := zp.Err(); err != nil {
		return "", err
	}
	return t.String(), nil
}

// unassignedAlgorithm is an algorithm number no validator implements: unassigned in the IANA
// registry, so RFC 8624's table has no entry for it.
const unassignedAlgorithm = 100

// unknownAlgorithmZone publishes a DNSKEY of an unassigned algorithm in an otherwise unsigned
// zone, and returns the DS for it: a validator that implements no algorithm of the DS set must
// treat the zone as insecure (RFC 4035 §5.2, RFC 6840 §5.2), so it never needs the signatures.
func unknownAlgorithmZone(origin, unsigned string) (string, []string, error) {
	pub := make([]byte, 64)
	if _, err := rand.Read(pub); err != nil {
		return "", nil, err
	}
	rr, err := dns.New(fmt.Sprintf("%s %d IN DNSKEY 257 3 %d %s", origin, bedKeyTTL, unassignedAlgorithm, base64.StdEncoding.EncodeToString(pub)))
	if err != nil {
		return "", nil, err
	}
	key := rr.(*dns.DNSKEY)
	ds := key.ToDS(dns.SHA256)
	if ds == nil {
		return "", nil, fmt.Errorf("no DS for %s", key)
	}
	return unsigned + key.String() + "\n", []string{ds.String()}, nil
}
