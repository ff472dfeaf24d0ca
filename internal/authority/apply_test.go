package authority

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"codeberg.org/miekg/dns"

	"warden/internal/dnstest"
	"warden/internal/query"
	"warden/internal/wire"
	"warden/internal/zone"
)

// applyZone has what a change can disturb: delegations with glue below them and beside them, a
// wildcard, empty non-terminals, a CNAME chain and records that draw in additional addresses.
const applyZone = `$ORIGIN apply.test.
$TTL 300
@        SOA   ns1 hostmaster 1 7200 3600 1209600 300
@        NS    ns1
@        NS    ns2.other.test.
@        MX    10 mail
ns1      A     192.0.2.53
mail     A     192.0.2.25
mail     AAAA  2001:db8::25
www      CNAME web
web      A     192.0.2.80
*.wild   A     192.0.2.99
*.wild   TXT   "wild"
a.b.ent  A     192.0.2.7
c.b.ent  TXT   "deep"
sub      NS    ns.sub
sub      NS    ns.other.test.
ns.sub   A     192.0.2.54
x.y.sub  A     192.0.2.55
side     NS    ns1
h1       A     192.0.2.1
h2       A     192.0.2.2
h2       AAAA  2001:db8::2
h3       MX    10 h1
`

// applyPool is what the random edits add, besides records they removed before.
var applyPool = []string{
	"h1 A 192.0.2.11", "h4 A 192.0.2.4", "h4 TXT \"four\"", "n.e.w A 192.0.2.40",
	"q.b.ent A 192.0.2.41", "*.wild AAAA 2001:db8::99", "*.h2 A 192.0.2.42", "*.e.w TXT \"w\"",
	"d2 NS ns.d2", "ns.d2 A 192.0.2.43", "d2 NS ns1", "b.ent NS ns1", "ns.sub AAAA 2001:db8::54",
	"z.x.y.sub A 192.0.2.44", "sub NS ns1", "web A 192.0.2.81", "www2 CNAME www", "mail MX 5 h2",
	"h3 NS ns.h3", "ns.h3 A 192.0.2.45", "@ NS ns.d2", "deep.er.and.deeper A 192.0.2.46",
	"h1 CNAME web", "side TXT \"x\"", "wild A 192.0.2.47", "@ TXT \"apex\"",
}

func mustRR(t *testing.T, text string) dns.RR {
	t.Helper()
	rr, err := dns.New("$ORIGIN apply.test.\n$TTL 300\n" + text)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return rr
}

// TestApplyAnswersAsBuild: for random changes to unsigned and signed zones (NSEC, NSEC3,
// NSEC3 with opt-out), the version Apply makes answers every question, with and without DO,
// exactly as a zone built whole from the same records; and the version it came from, asked
// before and after (so that its nodes hold answers when they are shared), answers as it did.
func TestApplyAnswersAsBuild(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "apply.test.zone")
	// Filler names spread the zone over several shards of its index, so that a change copies
	// some and shares the others.
	var filler strings.Builder
	for i := range fillers {
		fmt.Fprintf(&filler, "f%d A 198.51.100.%d\n", i, i%250)
	}
	if err := os.WriteFile(file, []byte(applyZone+filler.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	kinds := []struct {
		name   string
		file   string
		signed bool
	}{{"unsigned", file, false}}
	for _, d := range []dnstest.Denial{dnstest.DenialNSEC, dnstest.DenialNSEC3, dnstest.DenialOptOut} {
		s := dnstest.SignZone(t, dnstest.Zone{Origin: "apply.test.", File: file}, d)
		kinds = append(kinds, struct {
			name   string
			file   string
			signed bool
		}{d.String(), s.File, true})
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			start, _, err := zone.LoadFile("apply.test.", k.file)
			if err != nil {
				t.Fatal(err)
			}
			if start.Signed() != k.signed {
				t.Fatalf("signed %t, want %t", start.Signed(), k.signed)
			}
			shared := 0
			for seed := range uint64(6) {
				shared += applySteps(t, start, rand.New(rand.NewPCG(seed, 16)))
			}
			if shared == 0 {
				t.Fatal("no version shared a node with the one before: Apply never patched")
			}
		})
	}
}

// applySteps applies a few random diffs in turn, checking each version, and returns how many
// versions shared nodes with the one before.
func applySteps(t *testing.T, z *zone.Zone, rng *rand.Rand) int {
	t.Helper()
	var gone []dns.RR // records removed earlier, which later edits may put back
	shared := 0
	for step := range 4 {
		var kept []dns.RR
		for rr := range z.All() {
			if dns.RRToType(rr) != dns.TypeSOA {
				kept = append(kept, rr)
			}
		}
		d := zone.Diff{From: z.SOA}
		to := *z.SOA
		to.Serial++
		d.To = &to
		for range 1 + rng.IntN(6) {
			i := rng.IntN(len(kept))
			d.Removed = append(d.Removed, kept[i])
			gone = append(gone, kept[i])
			kept = slices.Delete(kept, i, i+1)
		}
		for range 1 + rng.IntN(6) {
			var rr dns.RR
			if len(gone) > len(d.Removed) && rng.IntN(3) == 0 {
				rr = gone[rng.IntN(len(gone)-len(d.Removed))]
			} else {
				rr = mustRR(t, applyPool[rng.IntN(len(applyPool))])
			}
			if slices.ContainsFunc(kept, func(o dns.RR) bool { return sameRR(o, rr) }) ||
				slices.ContainsFunc(d.Added, func(o dns.RR) bool { return sameRR(o, rr) }) {
				continue
			}
			d.Added = append(d.Added, rr)
		}
		want, _, wantErr := zone.Build("apply.test.", "ref", append(append([]dns.RR{d.To}, kept...), d.Added...))
		old := questions(t, z, nil)
		next, err := z.Apply(d)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("step %d: Apply: %v; Build: %v\ndiff: -%v +%v", step, err, wantErr, d.Removed, d.Added)
		}
		if again := questions(t, z, nil); !slices.EqualFunc(old, again, bytes.Equal) {
			t.Fatalf("step %d: the version Apply came from answers differently after it", step)
		}
		if err != nil {
			continue
		}
		for n := range next.Nodes() {
			if z.Node(n.Key) == n {
				shared++
				break
			}
		}
		if next.Signed() != want.Signed() || next.Records != want.Records || next.NodeCount() != want.NodeCount() {
			t.Fatalf("step %d: Apply made %d records, %d names, signed %t; Build %d, %d, %t", step,
				next.Records, next.NodeCount(), next.Signed(), want.Records, want.NodeCount(), want.Signed())
		}
		questions(t, next, want)
		z = next
	}
	return shared
}

// fillers is how many filler names TestApplyAnswersAsBuild adds; only every 100th is asked about.
const fillers = 1500

func isFiller(name string) bool {
	var i int
	_, err := fmt.Sscanf(name, "f%d.apply.test.", &i)
	return err == nil && strings.HasPrefix(name, "f") && i%100 != 0
}

// sameRR says whether a and b are the same record (owner, type, class, TTL, rdata).
func sameRR(a, b dns.RR) bool {
	return strings.EqualFold(a.Header().Name, b.Header().Name) && dns.RRToType(a) == dns.RRToType(b) &&
		a.Header().TTL == b.Header().TTL && zone.SameRdata(a, b)
}

var applyTypes = []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeNS, dns.TypeDS, dns.TypeMX, dns.TypeTXT,
	dns.TypeCNAME, dns.TypeANY, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeSOA}

// questions asks z every question about the names of z (and of ref when set), the names below
// them that do not exist, and a few more, and returns the answers' bytes. With ref set it also
// asks ref and fails the test at the first answer that differs.
func questions(t *testing.T, z, ref *zone.Zone) [][]byte {
	t.Helper()
	set, err := New([]*zone.Zone{z})
	if err != nil {
		t.Fatal(err)
	}
	var refSet *Set
	names := map[string]bool{"nx.apply.test.": true, "apply.test.": true, "a.b.c.d2.apply.test.": true}
	for _, src := range []*zone.Zone{z, ref} {
		if src == nil {
			continue
		}
		hashed := 0
		for n := range src.Nodes() {
			if n.Hashed {
				hashed++ // NSEC3 owners, one for each filler name: a few are enough
			}
			if isFiller(n.Name) || (n.Hashed && hashed%100 != 0) {
				continue
			}
			names[n.Name] = true
			names["nx."+n.Name] = true
		}
	}
	if ref != nil {
		if refSet, err = New([]*zone.Zone{ref}); err != nil {
			t.Fatal(err)
		}
	}
	list := make([]string, 0, len(names))
	for n := range names {
		list = append(list, n)
	}
	slices.Sort(list)
	lim := wire.Limits{UDPPayload: 4096}
	var out [][]byte
	for _, name := range list {
		for _, qt := range applyTypes {
			for _, do := range []bool{false, true} {
				got := render(t, set, lim, name, qt, do)
				if refSet != nil {
					if want := render(t, refSet, lim, name, qt, do); !bytes.Equal(got, want) {
						t.Fatalf("%s %s DO=%t: the applied version answers\n%v\nthe built one\n%v",
							name, dns.TypeToString[qt], do, unpacked(got), unpacked(want))
					}
				}
				out = append(out, got)
			}
		}
	}
	return out
}

func render(t *testing.T, s *Set, lim wire.Limits, name string, qtype uint16, do bool) []byte {
	t.Helper()
	q := dns.NewMsg(name, qtype)
	q.ID = 7
	q.UDPSize = 4096
	q.Security = do
	if err := q.Pack(); err != nil {
		t.Fatal(err)
	}
	req := &query.Request{Wire: q.Data, Transport: query.UDP}
	if v := req.Parse(); v != query.Accept {
		t.Fatalf("%s: parse verdict %d", name, v)
	}
	tmpl := s.Answer(req)
	if tmpl == nil {
		return nil
	}
	return lim.Render(nil, req, tmpl)
}

func unpacked(b []byte) string {
	if b == nil {
		return "(no answer)"
	}
	m := &dns.Msg{Data: b}
	if err := m.Unpack(); err != nil {
		return fmt.Sprintf("(unpack: %v)", err)
	}
	return m.String()
}

// TestApplyConcurrentReaders: readers of several versions that share nodes, asking at the same
// time (so that each stores its answers on the shared nodes while the others read them), each get
// the answers of their own version, those of a zone built whole from its records.
func TestApplyConcurrentReaders(t *testing.T) {
	z, _, err := zone.Load("apply.test.", "apply", []byte(applyZone))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"h1.apply.test.", "h2.apply.test.", "www.apply.test.", "a.wild.apply.test.",
		"nx.apply.test.", "x.y.sub.apply.test.", "b.ent.apply.test.", "apply.test."}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeNS, dns.TypeSOA}
	lim := wire.Limits{UDPPayload: 4096}
	var sets []*Set
	var want [][]byte // want[v*len(names)*len(types)+q]
	for v := range 5 {
		if v > 0 {
			to := *z.SOA
			to.Serial++
			old := z.Node(nodeKeyOf(t, "h1.apply.test.")).RRset(dns.TypeA)
			d := zone.Diff{From: z.SOA, To: &to, Removed: old, Added: []dns.RR{mustRR(t, fmt.Sprintf("h1 A 192.0.2.%d", 100+v))}}
			if z, err = z.Apply(d); err != nil {
				t.Fatal(err)
			}
		}
		s, err := New([]*zone.Zone{z})
		if err != nil {
			t.Fatal(err)
		}
		sets = append(sets, s)
		built, _, err := zone.Build("apply.test.", "ref", slices.Collect(z.All()))
		if err != nil {
			t.Fatal(err)
		}
		ref, err := New([]*zone.Zone{built})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			for _, qt := range types {
				want = append(want, render(t, ref, lim, name, qt, false))
			}
		}
	}
	// Requests are made here: render would call t.Fatal from the readers' goroutines.
	reqs := make([]*query.Request, 0, len(names)*len(types))
	for _, name := range names {
		for _, qt := range types {
			q := dns.NewMsg(name, qt)
			q.ID = 7
			q.UDPSize = 4096
			if err := q.Pack(); err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, &query.Request{Wire: q.Data, Transport: query.UDP})
		}
	}
	done := make(chan error, 4)
	for g := range 4 {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			out := make([]byte, 0, 4096)
			for range 3000 {
				v, q := rng.IntN(len(sets)), rng.IntN(len(reqs))
				req := &query.Request{Wire: reqs[q].Wire, Transport: query.UDP}
				req.Parse()
				got := lim.Render(out[:0], req, sets[v].Answer(req))
				if w := want[v*len(reqs)+q]; !bytes.Equal(got, w) {
					done <- fmt.Errorf("version %d, question %d: the answer of another version\n%v\nwant\n%v", v, q, unpacked(got), unpacked(w))
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func nodeKeyOf(t *testing.T, name string) string {
	t.Helper()
	key, err := wire.AppendName(nil, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(key)
}
