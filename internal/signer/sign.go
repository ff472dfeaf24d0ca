package signer

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"codeberg.org/miekg/dns"
	"codeberg.org/miekg/dns/rdata"

	"warden/internal/zone"
)

// Signed is one signed version of a zone, with what signing the next version needs.
type Signed struct {
	Zone     *zone.Zone // the signed zone: what is served and transferred
	Unsigned *zone.Zone // the version it was signed from
	Keys     *KeySet
	Policy   Policy
	// Expires is when the first of its signatures expires.
	Expires time.Time
	// RefreshAt is when signatures must be replaced: the refresh window before Expires.
	RefreshAt time.Time
	chain     chain
	maxTTL    uint32 // the largest TTL in Zone, which the refresh window counts in
}

// job is one signing run: the keys and times every signature of it shares.
type job struct {
	origin string
	policy Policy
	keys   *KeySet
	now    time.Time
	incept uint32
	expire uint32
	zsks   []signingKey // sign the zone's RRsets
	ksks   []signingKey // sign the apex key sets
	// signerWire is the origin in canonical wire form, the signer's name in every signature.
	signerWire []byte
	nsecTTL    uint32
	dnskeyTL   uint32
}

// minTime refuses to sign with a clock before this: a clock that far off (an unset real-time
// clock reads 1970) would make signatures that no validator accepts.
var minTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func newJob(u *zone.Zone, keys *KeySet, p Policy, now time.Time) (*job, error) {
	if now.Before(minTime) {
		return nil, fmt.Errorf("zone %s: the clock reads %s, before %s: not signing with a clock that far off", u.Origin, now.UTC().Format(time.RFC3339), minTime.Format("2006"))
	}
	for _, k := range keys.Keys {
		if k.Timing.Created.Sub(now) > 24*time.Hour {
			return nil, fmt.Errorf("zone %s: key %d was created %s, more than a day after the clock's %s: not signing with a clock that far off", u.Origin, k.Tag(), k.Timing.Created.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	j := &job{origin: u.Origin, policy: p, keys: keys, now: now,
		incept: uint32(now.Add(-InceptionOffset).Unix()), expire: uint32(now.Add(p.RRSIGLifetime).Unix()),
		zsks: signingKeys(keys.signers(now, false)), ksks: signingKeys(keys.signers(now, true)),
		nsecTTL: u.NegativeTTL(), dnskeyTL: p.DNSKEYTTL}
	var err error
	if j.signerWire, err = appendLowerName(nil, u.Origin); err != nil {
		return nil, fmt.Errorf("zone %s: %w", u.Origin, err)
	}
	if j.dnskeyTL == 0 {
		j.dnskeyTL = u.SOA.Hdr.TTL
	}
	if len(j.zsks) == 0 || len(j.ksks) == 0 {
		return nil, fmt.Errorf("zone %s: no active key to sign with (keys: %s)", u.Origin, keyList(keys))
	}
	return j, nil
}

func keyList(s *KeySet) string {
	var b strings.Builder
	for i, k := range s.Keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", k.Tag(), k.Role)
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// task is one RRset to sign; keySets says it is an apex key set (signed by the KSKs).
type task struct {
	rrs     []dns.RR
	keySets bool
}

func taskFor(rrs []dns.RR) task {
	switch dns.RRToType(rrs[0]) {
	case dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY:
		return task{rrs: rrs, keySets: true}
	}
	return task{rrs: rrs}
}

// run signs every task and returns the signatures. The tasks are shared out in blocks taken
// in turn by one worker per core, each with its own buffers, so that the cores stay busy to the
// end even when RRsets differ in size.
func (j *job) run(tasks []task) ([]dns.RR, error) {
	const block = 64
	workers := min(runtime.GOMAXPROCS(0), (len(tasks)+block-1)/block)
	if workers <= 1 {
		return j.runOne(newRRsetSigner(j), tasks, nil)
	}
	var next atomic.Int64
	results := make([][]dns.RR, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newRRsetSigner(j)
			out := make([]dns.RR, 0, len(tasks)/workers*len(j.zsks)+block)
			for {
				start := int(next.Add(block)) - block
				if start >= len(tasks) {
					break
				}
				var err error
				if out, err = j.runOne(s, tasks[start:min(start+block, len(tasks))], out); err != nil {
					errs[w] = err
					next.Store(int64(len(tasks))) // the others stop at their next block
					return
				}
			}
			results[w] = out
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	total := 0
	for _, r := range results {
		total += len(r)
	}
	out := make([]dns.RR, 0, total)
	for _, r := range results {
		out = append(out, r...)
	}
	return out, nil
}

// runOne signs tasks with one worker's signer, appending the signatures to out.
func (j *job) runOne(s *rrsetSigner, tasks []task, out []dns.RR) ([]dns.RR, error) {
	for _, t := range tasks {
		keys := j.zsks
		if t.keySets {
			keys = j.ksks
		}
		var err error
		if out, err = s.sign(out, t.rrs, keys); err != nil {
			h := t.rrs[0].Header()
			return out, fmt.Errorf("zone %s: sign %s %s: %w", j.origin, h.Name, dns.TypeToString[dns.RRToType(t.rrs[0])], err)
		}
	}
	return out, nil
}

// apexKeySets are the DNSKEY, CDS and CDNSKEY RRsets the keys make.
func (j *job) apexKeySets() [][]dns.RR {
	var dnskeys, cds, cdnskeys []dns.RR
	for _, k := range j.keys.Published(j.now) {
		key := k.DNSKEY.Clone().(*dns.DNSKEY)
		key.Hdr = dns.Header{Name: j.origin, Class: dns.ClassINET, TTL: j.dnskeyTL}
		dnskeys = append(dnskeys, key)
		if !k.SyncPublished(j.now) {
			continue
		}
		ds := key.ToDS(dns.SHA256).ToCDS()
		ds.Hdr = key.Hdr
		cdnskey := key.ToCDNSKEY()
		cds, cdnskeys = append(cds, ds), append(cdnskeys, cdnskey)
	}
	out := [][]dns.RR{dnskeys}
	if len(cds) > 0 {
		out = append(out, cds, cdnskeys)
	}
	return out
}

func (j *job) nsec3param() *dns.NSEC3PARAM {
	p := &dns.NSEC3PARAM{Hdr: dns.Header{Name: j.origin, Class: dns.ClassINET, TTL: 0}}
	p.Hash = dns.SHA1
	return p
}

// bitmap is the type bitmap of n's NSEC or NSEC3 record (RFC 4034 §4.1.2, RFC 5155 §3.2.1),
// appended to *arena (when not nil) and cut from it, so that many bitmaps share one array.
func (j *job) bitmap(arena *[]uint16, n *zone.Node) []uint16 {
	if n.Empty() {
		return nil
	}
	if arena == nil {
		arena = new([]uint16)
	}
	dst := *arena
	start := len(dst)
	signed := false
	for _, s := range n.Sets {
		if stripped(s.Type, n.IsApex()) {
			continue
		}
		dst = append(dst, s.Type)
		signed = signed || signable(n, s.Type)
	}
	if n.IsApex() {
		dst = append(dst, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY)
		if j.policy.Denial == NSEC3 {
			dst = append(dst, dns.TypeNSEC3PARAM)
		}
	}
	if j.policy.Denial == NSEC {
		dst = append(dst, dns.TypeNSEC)
		signed = true // the NSEC record itself
	}
	if signed {
		dst = append(dst, dns.TypeRRSIG)
	}
	*arena = dst
	types := dst[start:len(dst):len(dst)]
	slices.Sort(types)
	return types
}

// denial makes the denial record of link i of c, for node n.
func (j *job) denial(c chain, i int, n *zone.Node) dns.RR {
	if j.policy.Denial == NSEC3 {
		r := &dns.NSEC3{}
		j.fillNSEC3(r, c, i, n, nil)
		return r
	}
	r := &dns.NSEC{}
	j.fillNSEC(r, c, i, n, nil)
	return r
}

func (j *job) fillNSEC3(r *dns.NSEC3, c chain, i int, n *zone.Node, arena *[]uint16) {
	r.Hdr = dns.Header{Name: hashOwner(c[i].key, j.origin), Class: dns.ClassINET, TTL: j.nsecTTL}
	r.NSEC3 = rdata.NSEC3{Hash: dns.SHA1, HashLength: 20, NextDomain: b32.EncodeToString([]byte(c.next(i).key)), TypeBitMap: j.bitmap(arena, n)}
}

func (j *job) fillNSEC(r *dns.NSEC, c chain, i int, n *zone.Node, arena *[]uint16) {
	r.Hdr = dns.Header{Name: n.Name, Class: dns.ClassINET, TTL: j.nsecTTL}
	r.NSEC = rdata.NSEC{NextDomain: c.next(i).name, TypeBitMap: j.bitmap(arena, n)}
}

// denials makes the denial records of the whole chain c of u. The records and their bitmaps
// come in blocks: a million names are a million records, and as many allocations saved.
func (j *job) denials(c chain, u *zone.Zone) []dns.RR {
	out := make([]dns.RR, len(c))
	types := make([]uint16, 0, 4*len(c))
	if j.policy.Denial == NSEC3 {
		recs := make([]dns.NSEC3, len(c))
		for i := range c {
			j.fillNSEC3(&recs[i], c, i, u.Node(c[i].node), &types)
			out[i] = &recs[i]
		}
		return out
	}
	recs := make([]dns.NSEC, len(c))
	for i := range c {
		j.fillNSEC(&recs[i], c, i, u.Node(c[i].node), &types)
		out[i] = &recs[i]
	}
	return out
}

// Sign signs u whole with keys, as policy p says, at now; the signed SOA has serial.
func Sign(u *zone.Zone, keys *KeySet, p Policy, now time.Time, serial uint32) (*Signed, error) {
	j, err := newJob(u, keys, p, now)
	if err != nil {
		return nil, err
	}
	// kept are the unsigned zone's records, which the signed zone shares; made are the records
	// signing adds, which it owns.
	kept := make([]dns.RR, 0, u.Records)
	made := make([]dns.RR, 0, u.Records+2*u.NodeCount())
	tasks := make([]task, 0, u.Records)
	c := make(chain, 0, u.NodeCount())
	for n := range u.Nodes() {
		for _, set := range n.Sets {
			if stripped(set.Type, n.IsApex()) {
				continue
			}
			rrs := set.RRs
			if set.Type == dns.TypeSOA {
				rrs = []dns.RR{soaWithSerial(u.SOA, serial)}
				made = append(made, rrs...)
			} else {
				kept = append(kept, rrs...)
			}
			if signable(n, set.Type) {
				tasks = append(tasks, taskFor(rrs))
			}
		}
		if member(n, p.Denial) {
			c = append(c, linkOf(n, p.Denial))
		}
	}
	for _, set := range j.apexKeySets() {
		made = append(made, set...)
		tasks = append(tasks, taskFor(set))
	}
	if p.Denial == NSEC3 {
		param := j.nsec3param()
		made = append(made, param)
		tasks = append(tasks, taskFor([]dns.RR{param}))
	}
	c.sort(p.Denial)
	denials := j.denials(c, u)
	made = append(made, denials...)
	for i := range denials {
		tasks = append(tasks, taskFor(denials[i:i+1]))
	}
	sigs, err := j.run(tasks)
	if err != nil {
		return nil, err
	}
	made = append(made, sigs...)
	z, _, err := zone.BuildOn(u.Origin, u.File, kept, made)
	if err != nil {
		return nil, fmt.Errorf("zone %s: the signed zone does not build: %w", u.Origin, err)
	}
	return finish(z, u, keys, p, c), nil
}

func finish(z, u *zone.Zone, keys *KeySet, p Policy, c chain) *Signed {
	var earliest uint32
	found := false
	maxTTL := uint32(0)
	for n := range z.Nodes() {
		for _, set := range n.Sets {
			maxTTL = max(maxTTL, set.RRs[0].Header().TTL)
			if set.Type != dns.TypeRRSIG {
				continue
			}
			for _, rr := range set.RRs {
				e := rr.(*dns.RRSIG).Expiration
				if !found || dns.CompareSerial(e, earliest) < 0 {
					earliest, found = e, true
				}
			}
		}
	}
	return signedAt(z, u, keys, p, c, earliest, maxTTL)
}

// finishChange is finish for prev changed by d, without a walk over the whole zone (on a zone of
// a million names that walk cost more than signing a small change): the earliest expiry and the
// largest TTL are prev's, moved by what d adds. What d removes is not looked at, so the refresh
// may come earlier than it must, never later; the refresh then works them out afresh.
func finishChange(prev *Signed, z, u *zone.Zone, keys *KeySet, p Policy, c chain, d zone.Diff) *Signed {
	earliest, maxTTL := uint32(prev.Expires.Unix()), prev.maxTTL
	for _, rr := range d.Added {
		maxTTL = max(maxTTL, rr.Header().TTL)
		if sig, ok := rr.(*dns.RRSIG); ok && dns.CompareSerial(sig.Expiration, earliest) < 0 {
			earliest = sig.Expiration
		}
	}
	return signedAt(z, u, keys, p, c, earliest, max(maxTTL, d.To.Hdr.TTL))
}

func signedAt(z, u *zone.Zone, keys *KeySet, p Policy, c chain, earliest, maxTTL uint32) *Signed {
	s := &Signed{Zone: z, Unsigned: u, Keys: keys, Policy: p, chain: c, maxTTL: maxTTL}
	s.Expires = time.Unix(int64(earliest), 0).UTC()
	s.RefreshAt = s.Expires.Add(-p.refresh(maxTTL))
	return s
}

// nodeKey is the index key of the node called name in z.
func nodeKey(z *zone.Zone, name string) string {
	var b []byte
	for label := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		if label == "" {
			continue
		}
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	return string(append(b, 0))
}

func soaWithSerial(soa *dns.SOA, serial uint32) *dns.SOA {
	s := soa.Clone().(*dns.SOA)
	s.Serial = serial
	return s
}
